package framework

import (
	"slices"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Principal returns the principal of an auth method whose logins get the
// token parameters p: its policies are p's, plus "default" unless
// token_no_default_policy is set (as the tokens its logins get), sorted
// and without duplicates; its bindings are the token-side limits p sets
// (token_bound_cidrs, token_type, token TTLs, period and use limit), to
// which the method adds its own. The caller sets Unbound.
func (p *TokenParams) Principal(kind, name string) logical.Principal {
	pols := append([]string{}, p.Policies...)
	if !bool(p.NoDefaultPolicy) && !slices.Contains(pols, "root") {
		pols = append(pols, "default")
	}
	slices.Sort(pols)
	pols = slices.Compact(pols)
	b := map[string]any{}
	if len(p.BoundCIDRs) > 0 {
		b["token_bound_cidrs"] = slices.Clone([]string(p.BoundCIDRs))
	}
	if p.Type != "" && p.Type != TokenTypeDefault {
		b["token_type"] = p.Type
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"token_ttl", p.TTL}, {"token_max_ttl", p.MaxTTL}, {"token_explicit_max_ttl", p.ExplicitMaxTTL}, {"token_period", p.Period}} {
		if d.v > 0 {
			b[d.name] = Seconds(time.Duration(d.v))
		}
	}
	if p.NumUses > 0 {
		b["token_num_uses"] = int(p.NumUses)
	}
	return logical.Principal{Kind: kind, Name: name, Policies: pols, Bindings: b}
}
