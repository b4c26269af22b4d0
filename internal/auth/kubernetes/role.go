package kubernetes

import (
	"context"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// The sources of a login's alias name.
const (
	aliasFromUID  = "serviceaccount_uid"
	aliasFromName = "serviceaccount_name"
)

// role is one stored role.
type role struct {
	BoundNames      []string              `json:"bound_service_account_names"`
	BoundNamespaces []string              `json:"bound_service_account_namespaces"`
	Audience        string                `json:"audience,omitempty"`
	AliasNameSource string                `json:"alias_name_source"`
	Token           framework.TokenParams `json:"token"`
}

// roleInput is the body of a role write: a new role gets defaults for what
// is absent; for an existing role only the fields present change.
type roleInput struct {
	BoundNames      *framework.CommaStrings `json:"bound_service_account_names"`
	BoundNamespaces *framework.CommaStrings `json:"bound_service_account_namespaces"`
	Audience        *string                 `json:"audience"`
	AliasNameSource *string                 `json:"alias_name_source"`
	framework.TokenParamsUpdate
}

// roleResponse is the data of a role read.
type roleResponse struct {
	BoundNames      []string `json:"bound_service_account_names"`
	BoundNamespaces []string `json:"bound_service_account_namespaces"`
	Audience        string   `json:"audience"`
	AliasNameSource string   `json:"alias_name_source"`
	framework.TokenParamsResponse
}

// response is the data of a read of r.
func (r *role) response() any {
	return &roleResponse{
		BoundNames:          slices.Clone(r.BoundNames),
		BoundNamespaces:     slices.Clone(r.BoundNamespaces),
		Audience:            r.Audience,
		AliasNameSource:     r.AliasNameSource,
		TokenParamsResponse: r.Token.Response(),
	}
}

// writeRole creates a role or changes the given fields of an existing one.
func (b *backend) writeRole(ctx context.Context, _ *logical.Request, m *framework.Match, in *roleInput) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	defer b.roles.Hold(name)()
	old, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	r := role{AliasNameSource: aliasFromUID}
	if old != nil {
		r = *old
	}
	if in.BoundNames != nil {
		r.BoundNames = trimmed(*in.BoundNames)
	}
	if in.BoundNamespaces != nil {
		r.BoundNamespaces = trimmed(*in.BoundNamespaces)
	}
	if in.Audience != nil {
		r.Audience = strings.TrimSpace(*in.Audience)
	}
	if in.AliasNameSource != nil {
		switch s := strings.TrimSpace(*in.AliasNameSource); s {
		case aliasFromUID, aliasFromName:
			r.AliasNameSource = s
		case "":
			r.AliasNameSource = aliasFromUID
		default:
			return nil, logical.InvalidRequest("invalid value for \"alias_name_source\": want %q or %q", aliasFromUID, aliasFromName)
		}
	}
	if r.Token, err = in.Apply(r.Token); err != nil {
		return nil, err
	}
	switch {
	case len(r.BoundNames) == 0:
		return nil, logical.InvalidRequest("\"bound_service_account_names\" must name at least one service account (\"*\" for any)")
	case len(r.BoundNamespaces) == 0:
		return nil, logical.InvalidRequest("\"bound_service_account_namespaces\" must name at least one namespace (\"*\" for any)")
	case slices.Equal(r.BoundNames, []string{"*"}) && slices.Equal(r.BoundNamespaces, []string{"*"}):
		return nil, logical.InvalidRequest("\"bound_service_account_names\" and \"bound_service_account_namespaces\" cannot both be \"*\"")
	}
	return nil, b.roles.Put(ctx, name, &r)
}
