package jwt

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// loginInput is the body of login.
type loginInput struct {
	Role string `json:"role"`
	JWT  string `json:"jwt"`
}

// login verifies a JWT against the config and a role and returns the Auth
// for core to turn into a token.
func (b *backend) login(ctx context.Context, req *logical.Request, _ *framework.Match, in *loginInput) (*logical.Response, error) {
	if in.JWT == "" {
		return nil, logical.InvalidRequest("missing jwt")
	}
	c, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, logical.InvalidRequest("the JWT auth method is not configured: write its config first")
	}
	roleName := in.Role
	if roleName == "" {
		roleName = c.DefaultRole
	}
	if roleName == "" {
		return nil, logical.InvalidRequest("missing role, and no default_role is configured")
	}
	name, err := framework.Name("role", roleName)
	if err != nil {
		return nil, err
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("role %q could not be found", name)
	}
	if r.RoleType != roleTypeJWT {
		return nil, logical.InvalidRequest("role %q is not a jwt role", name)
	}
	ip := req.Connection.RemoteIP()
	if !framework.CIDRsAllow(r.Token.BoundCIDRs, ip) {
		return nil, denied("client address is not in the role's token_bound_cidrs")
	}
	src, err := b.source(c)
	if err != nil {
		return nil, err
	}
	v, err := verifyToken(ctx, in.JWT, c, src)
	if err != nil {
		return nil, err
	}
	if err := checkClaims(v, c, r, b.clock.Now()); err != nil {
		return nil, err
	}
	auth, err := r.auth(name, v.claims)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Auth: auth}, nil
}

// auth builds the login result from verified claims: the user claim names
// the alias, claim_mappings fill the metadata, and the groups claim's
// values are the group aliases (core maps them to external groups).
func (r *role) auth(name string, claims map[string]any) (*logical.Auth, error) {
	userRaw, found := lookupClaim(claims, r.UserClaim, r.UserClaimJSONPointer)
	if !found {
		return nil, invalid("claim " + quote(r.UserClaim) + " not found in token (the role's user_claim)")
	}
	user, ok := scalarString(userRaw)
	if !ok || user == "" {
		return nil, invalid("claim " + quote(r.UserClaim) + " could not be converted to string (the role's user_claim must be a non-empty string or number)")
	}
	meta := map[string]string{metaRole: name}
	for _, claim := range slices.Sorted(maps.Keys(r.ClaimMappings)) {
		v, found := lookupClaim(claims, claim, true)
		if !found {
			continue
		}
		values, ok := claimStrings(v)
		if !ok {
			return nil, invalid("error converting claim " + quote(claim) + " to string (the role's claim_mappings take a string, number, boolean or a list of them)")
		}
		meta[r.ClaimMappings[claim]] = strings.Join(values, ",")
	}
	aliasMeta := maps.Clone(meta)
	var groupAliases []string
	if r.GroupsClaim != "" {
		v, found := lookupClaim(claims, r.GroupsClaim, true)
		if !found {
			return nil, invalid("claim " + quote(r.GroupsClaim) + " not found in token (the role's groups_claim)")
		}
		groups, ok := claimStrings(v)
		if !ok {
			return nil, invalid("claim " + quote(r.GroupsClaim) + " could not be converted to string list (the role's groups_claim)")
		}
		groupAliases = groups
	}
	auth := &logical.Auth{
		DisplayName:  user,
		Metadata:     meta,
		Alias:        &logical.Alias{Name: user, Metadata: aliasMeta},
		GroupAliases: groupAliases,
	}
	r.Token.PopulateAuth(auth)
	return auth, nil
}
