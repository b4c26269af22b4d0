package tokenapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/token"
)

// role is a stored token role. Its JSON form is what storage holds: do
// not rename members.
type role struct {
	Name                 string                `json:"name"`
	AllowedPolicies      []string              `json:"allowed_policies"`
	DisallowedPolicies   []string              `json:"disallowed_policies"`
	AllowedEntityAliases []string              `json:"allowed_entity_aliases"`
	Orphan               bool                  `json:"orphan"`
	Renewable            bool                  `json:"renewable"`
	PathSuffix           string                `json:"path_suffix"`
	Params               framework.TokenParams `json:"params"`
}

// rules returns the role as the creation rules take it.
func (r *role) rules() *token.Role {
	p := r.Params
	return &token.Role{
		Name:               r.Name,
		AllowedPolicies:    r.AllowedPolicies,
		DisallowedPolicies: r.DisallowedPolicies,
		Orphan:             r.Orphan,
		Renewable:          r.Renewable,
		PathSuffix:         r.PathSuffix,
		TTL:                time.Duration(p.TTL),
		MaxTTL:             time.Duration(p.MaxTTL),
		ExplicitMaxTTL:     time.Duration(p.ExplicitMaxTTL),
		Period:             time.Duration(p.Period),
		NumUses:            int(p.NumUses),
		Type:               p.Type,
		BoundCIDRs:         p.BoundCIDRs,
		NoDefaultPolicy:    bool(p.NoDefaultPolicy),
	}
}

// roleInput is the body of auth/token/roles/:name.
type roleInput struct {
	AllowedPolicies      *framework.CommaStrings `json:"allowed_policies"`
	DisallowedPolicies   *framework.CommaStrings `json:"disallowed_policies"`
	AllowedEntityAliases *framework.CommaStrings `json:"allowed_entity_aliases"`
	Orphan               *framework.Bool         `json:"orphan"`
	Renewable            *framework.Bool         `json:"renewable"`
	PathSuffix           *string                 `json:"path_suffix"`
	// Vault's older names for token_period, token_explicit_max_ttl and
	// token_bound_cidrs.
	Period         *framework.Duration     `json:"period"`
	ExplicitMaxTTL *framework.Duration     `json:"explicit_max_ttl"`
	BoundCIDRs     *framework.CommaStrings `json:"bound_cidrs"`
	// DisallowedPoliciesGlob is not implemented; ignoring it would let
	// the role grant policies the caller meant to forbid.
	DisallowedPoliciesGlob framework.Unsupported `json:"disallowed_policies_glob"`
	framework.TokenParamsUpdate
}

// validRoleName refuses names that cannot be a storage key segment.
func validRoleName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 128 || strings.ContainsAny(name, "/ \x00") {
		return logical.InvalidRequest("invalid role name")
	}
	return nil
}

// loadRole reads the role name; nil when there is none.
func (b *backend) loadRole(ctx context.Context, name string) (*role, error) {
	if err := validRoleName(name); err != nil {
		return nil, err
	}
	e, err := b.roles.Get(ctx, strings.ToLower(name))
	if err != nil || e == nil {
		return nil, err
	}
	r := new(role)
	if err := json.Unmarshal(e.Value, r); err != nil {
		return nil, fmt.Errorf("decode token role: %w", err)
	}
	return r, nil
}

func (b *backend) roleExists(ctx context.Context, req *logical.Request, m *framework.Match) (bool, error) {
	r, err := b.loadRole(ctx, m.Get("role"))
	return r != nil, err
}

// lowerAll returns the non-empty names of in, trimmed and lowercased.
func lowerAll(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (b *backend) roleWrite(ctx context.Context, req *logical.Request, m *framework.Match, in *roleInput) (*logical.Response, error) {
	name := strings.ToLower(m.Get("role"))
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &role{Name: name, Renewable: true}
	}
	if in.AllowedPolicies != nil {
		r.AllowedPolicies = lowerAll(*in.AllowedPolicies)
	}
	if in.DisallowedPolicies != nil {
		r.DisallowedPolicies = lowerAll(*in.DisallowedPolicies)
	}
	if in.AllowedEntityAliases != nil {
		r.AllowedEntityAliases = []string(*in.AllowedEntityAliases)
	}
	if in.Orphan != nil {
		r.Orphan = bool(*in.Orphan)
	}
	if in.Renewable != nil {
		r.Renewable = bool(*in.Renewable)
	}
	if in.PathSuffix != nil {
		if strings.Contains(*in.PathSuffix, "..") {
			return nil, logical.InvalidRequest("path_suffix must not contain \"..\"")
		}
		r.PathSuffix = *in.PathSuffix
	}
	upd := in.TokenParamsUpdate
	if upd.TokenPeriod == nil && in.Period != nil {
		upd.TokenPeriod = in.Period
	}
	if upd.TokenExplicitMaxTTL == nil && in.ExplicitMaxTTL != nil {
		upd.TokenExplicitMaxTTL = in.ExplicitMaxTTL
	}
	if upd.TokenBoundCIDRs == nil && in.BoundCIDRs != nil {
		upd.TokenBoundCIDRs = in.BoundCIDRs
	}
	params, err := upd.Apply(r.Params)
	if err != nil {
		return nil, err
	}
	r.Params = params
	if slices.Contains(r.AllowedPolicies, "root") {
		return nil, logical.InvalidRequest("a token role cannot allow the root policy")
	}
	buf, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return nil, b.roles.Put(ctx, &logical.StorageEntry{Key: name, Value: buf})
}

// roleOutput is a token role as reads report it.
type roleOutput struct {
	Name                 string   `json:"name"`
	AllowedPolicies      []string `json:"allowed_policies"`
	DisallowedPolicies   []string `json:"disallowed_policies"`
	AllowedEntityAliases []string `json:"allowed_entity_aliases"`
	Orphan               bool     `json:"orphan"`
	Renewable            bool     `json:"renewable"`
	PathSuffix           string   `json:"path_suffix"`
	Period               int64    `json:"period"`
	ExplicitMaxTTL       int64    `json:"explicit_max_ttl"`
	framework.TokenParamsResponse
}

func (b *backend) roleRead(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	r, err := b.loadRole(ctx, m.Get("role"))
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: roleOutput{
		Name:                 r.Name,
		AllowedPolicies:      nonNil(r.AllowedPolicies),
		DisallowedPolicies:   nonNil(r.DisallowedPolicies),
		AllowedEntityAliases: nonNil(r.AllowedEntityAliases),
		Orphan:               r.Orphan,
		Renewable:            r.Renewable,
		PathSuffix:           r.PathSuffix,
		Period:               framework.Seconds(time.Duration(r.Params.Period)),
		ExplicitMaxTTL:       framework.Seconds(time.Duration(r.Params.ExplicitMaxTTL)),
		TokenParamsResponse:  r.Params.Response(),
	}}, nil
}

// nonNil returns s, or an empty slice when s is nil, so that it
// marshals as [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (b *backend) roleDelete(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := strings.ToLower(m.Get("role"))
	if err := validRoleName(name); err != nil {
		return nil, err
	}
	return nil, b.roles.Delete(ctx, name)
}

func (b *backend) roleList(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := b.roles.List(ctx, "")
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}
