package jwt

import (
	"context"
	"encoding/json"
	"maps"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Principals implements [logical.PrincipalLister]: one principal a role,
// with its bound audiences, subject and claims, its claim mappings, user
// and groups claims. A role with no bound audience, subject or claim is
// Unbound: every token the mount's issuer (or keys) signed logs in as it,
// from wherever its token_bound_cidrs allow.
func (b *backend) Principals(ctx context.Context) ([]logical.Principal, error) {
	var out []logical.Principal
	err := b.roles.Each(ctx, func(name string, r *role) error {
		p := r.Token.Principal("role", name)
		p.Bindings["role_type"] = r.RoleType
		p.Bindings["user_claim"] = r.UserClaim
		if len(r.BoundAudiences) > 0 {
			p.Bindings["bound_audiences"] = slices.Clone(r.BoundAudiences)
		}
		if r.BoundSubject != "" {
			p.Bindings["bound_subject"] = r.BoundSubject
		}
		if len(r.BoundClaims) > 0 {
			claims := make(map[string]any, len(r.BoundClaims))
			for k, raw := range r.BoundClaims {
				var v any
				if err := json.Unmarshal(raw, &v); err != nil {
					v = string(raw)
				}
				claims[k] = v
			}
			p.Bindings["bound_claims"] = claims
			p.Bindings["bound_claims_type"] = r.BoundClaimsType
		}
		if len(r.ClaimMappings) > 0 {
			p.Bindings["claim_mappings"] = maps.Clone(r.ClaimMappings)
		}
		if r.GroupsClaim != "" {
			p.Bindings["groups_claim"] = r.GroupsClaim
		}
		p.Unbound = len(r.BoundAudiences) == 0 && r.BoundSubject == "" && len(r.BoundClaims) == 0
		out = append(out, p)
		return nil
	})
	return out, err
}
