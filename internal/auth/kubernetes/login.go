package kubernetes

import (
	"context"
	"maps"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// loginInput is the body of login.
type loginInput struct {
	Role string `json:"role"`
	JWT  string `json:"jwt"`
}

// login checks a service account token: first its claims against the
// role, without any network call, then with the cluster's TokenReview API.
func (b *backend) login(ctx context.Context, req *logical.Request, _ *framework.Match, in *loginInput) (*logical.Response, error) {
	switch {
	case in.Role == "":
		return nil, logical.InvalidRequest("missing role")
	case in.JWT == "":
		return nil, logical.InvalidRequest("missing jwt")
	case len(in.JWT) > maxJWTBytes:
		return nil, logical.InvalidRequest("jwt is longer than %d bytes", maxJWTBytes)
	}
	name, err := framework.Name("role", in.Role)
	if err != nil {
		return nil, err
	}
	c, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, logical.InvalidRequest("the Kubernetes auth method is not configured: write its config first")
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("invalid role name %q: no such role", name)
	}
	if !framework.CIDRsAllow(r.Token.BoundCIDRs, req.Connection.RemoteIP()) {
		return nil, denied("permission denied: the client address is not in the role's token_bound_cidrs")
	}

	sa, err := parseUnverified(in.JWT)
	if err != nil {
		return nil, err
	}
	if !c.DisableIssValidation {
		want := c.Issuer
		if want == "" {
			want = defaultIssuer
		}
		if sa.Issuer != want {
			return nil, denied("invalid issuer (iss) claim: it does not match the configured issuer")
		}
	}
	if r.Audience != "" && !slices.Contains(sa.Audiences, r.Audience) {
		return nil, denied("invalid audience (aud) claim: audience claim does not match any expected audience (the role's audience)")
	}
	if !anyGlob(r.BoundNames, sa.Name) {
		return nil, denied("service account name not authorized by the role's bound_service_account_names")
	}
	if !anyGlob(r.BoundNamespaces, sa.Namespace) {
		return nil, denied("namespace not authorized by the role's bound_service_account_namespaces")
	}

	caPEM, bearer, err := b.caAndReviewer(c)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "the local service account CA certificate or token could not be read", Err: err}
	}
	if bearer == "" {
		bearer = in.JWT
	}
	client, err := b.httpClient(caPEM)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "the Kubernetes CA certificate is not usable", Err: err}
	}
	uid, err := review(ctx, client, c.Host, bearer, in.JWT, r.Audience, sa)
	if err != nil {
		return nil, err
	}
	if sa.UID == "" {
		sa.UID = uid
	}

	alias := sa.UID
	if r.AliasNameSource == aliasFromName {
		alias = sa.Namespace + "/" + sa.Name
	}
	if alias == "" {
		return nil, denied("permission denied: neither the token nor the Kubernetes API gives the service account's UID, which the role's alias_name_source needs")
	}
	aliasMeta := map[string]string{
		"service_account_name":        sa.Name,
		"service_account_namespace":   sa.Namespace,
		"service_account_uid":         sa.UID,
		"service_account_secret_name": sa.SecretName,
	}
	meta := map[string]string{"role": name}
	maps.Copy(meta, aliasMeta)
	auth := &logical.Auth{
		DisplayName: sa.Namespace + "-" + sa.Name,
		Metadata:    meta,
		Alias:       &logical.Alias{Name: alias, Metadata: aliasMeta},
	}
	r.Token.PopulateAuth(auth)
	return &logical.Response{Auth: auth}, nil
}
