package access

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/policy"
)

func mustParse(tb testing.TB, name, src string) *policy.Policy {
	tb.Helper()
	p, err := policy.Parse(name, src)
	if err != nil {
		tb.Fatalf("Parse(%s): %v", name, err)
	}
	return p
}

func names(gs []Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s:%s", g.Policy, g.Rule.Path))
	}
	return out
}

func TestWho(t *testing.T) {
	x := NewIndex([]*policy.Policy{
		mustParse(t, "readers", `path "secret/data/*" { capabilities = ["read", "list"] }`),
		mustParse(t, "payments", `
path "secret/data/payments/*" {
  capabilities     = ["read"]
  max_wrapping_ttl = "5m"
}
path "secret/data/payments/*" { capabilities = ["update"] }`),
		mustParse(t, "team", `path "secret/data/+/db" {
  capabilities        = ["read", "update"]
  required_parameters = ["reason"]
}`),
		mustParse(t, "lister", `path "secret/data/payments/d*" { capabilities = ["list"] }`),
		mustParse(t, "exact", `path "secret/data/payments/db" { capabilities = ["read"] }`),
		mustParse(t, "blocked", `path "secret/data/payments/*" { capabilities = ["deny"] }`),
		mustParse(t, "other", `path "kv/*" { capabilities = ["read"] }`),
		{Name: "tmpl", Rules: []policy.Rule{{Path: "secret/data/{{identity.entity.id}}/*", Capabilities: policy.CapRead}}},
		{Name: policy.RootPolicyName},
		// A second policy of an existing name is not indexed.
		{Name: "readers", Rules: []policy.Rule{{Path: "secret/data/payments/db", Capabilities: policy.CapDeny}}},
	})
	a := x.Who("/secret/data/payments/db", policy.CapRead)
	for _, tc := range []struct {
		name      string
		got, want []string
	}{
		{"grants", names(a.Grants), []string{"exact:secret/data/payments/db", "payments:secret/data/payments/*", "team:secret/data/+/db", "readers:secret/data/*"}},
		{"denies", names(a.Denies), []string{"blocked:secret/data/payments/*"}},
		{"shadows", names(a.Shadows), []string{"lister:secret/data/payments/d*"}},
		{"root", a.Root, []string{"root"}},
		{"templated", a.Templated, []string{"tmpl"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("Who %s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if a.Path != "secret/data/payments/db" {
		t.Errorf("Who Path = %q", a.Path)
	}
	if g := a.Denies; len(g) != 1 || g[0].Rule.Capabilities != policy.CapDeny || g[0].Rank != a.Grants[1].Rank {
		t.Errorf("Who Denies = %+v, want blocked with the rank of payments", g)
	}
	if c := a.Grants[2].Rule.RequiredParameters; !slices.Equal(c, []string{"reason"}) {
		t.Errorf("team's conditions = %q, want [reason]", c)
	}

	w := x.Who("secret/data/payments/card", policy.CapUpdate)
	if got := names(w.Grants); !slices.Equal(got, []string{"payments:secret/data/payments/*"}) {
		t.Errorf("Who update card grants = %q", got)
	}
	if r := w.Grants[0].Rule; r.Capabilities != policy.CapRead|policy.CapUpdate || r.MaxWrappingTTL != 5*time.Minute {
		t.Errorf("payments merged rule = %+v, want read+update with max_wrapping_ttl 5m", r)
	}

	for _, tc := range []struct {
		name     string
		policies []string
		allowed  bool
		by       []string
	}{
		{"nothing", nil, false, nil},
		{"unrelated", []string{"other"}, false, nil},
		{"glob", []string{"readers", "other"}, true, []string{"readers"}},
		{"more specific plus wins", []string{"readers", "team"}, true, []string{"team"}},
		{"more specific list shadows read", []string{"readers", "lister"}, false, []string{"lister"}},
		{"deny overrides less specific", []string{"team", "blocked"}, false, []string{"blocked"}},
		{"deny does not reach more specific", []string{"exact", "blocked"}, true, []string{"exact"}},
		{"same rule merged with deny", []string{"payments", "blocked"}, false, []string{"blocked", "payments"}},
		{"root", []string{"root", "blocked"}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := a.For(tc.policies)
			if d.Allowed != tc.allowed || !slices.Equal(d.Policies, tc.by) {
				t.Errorf("For(%q) = allowed %v by %q, want %v by %q", tc.policies, d.Allowed, d.Policies, tc.allowed, tc.by)
			}
		})
	}
	if d := a.For([]string{"tmpl", "readers"}); !d.DependsOnEntity || !d.Allowed {
		t.Errorf("For(tmpl, readers) = %+v, want allowed and depending on the entity", d)
	}
}

func TestWhoListTrailingSlash(t *testing.T) {
	x := NewIndex([]*policy.Policy{
		mustParse(t, "dir", `path "secret/metadata/app" { capabilities = ["list"] }`),
		mustParse(t, "glob", `path "secret/metadata/app/*" { capabilities = ["list"] }`),
	})
	a := x.Who("secret/metadata/app/", policy.CapList)
	if got := names(a.Grants); !slices.Equal(got, []string{"dir:secret/metadata/app", "glob:secret/metadata/app/*"}) {
		t.Errorf("Who list = %q", got)
	}
	if r := x.Who("secret/metadata/app/", policy.CapRead); len(r.Grants) != 0 || len(r.Shadows) != 1 {
		t.Errorf("Who read = %+v, want one shadow (glob) and no grant", r)
	}
}

// TestForAgreesWithACL is the property test: for random policy sets,
// paths and capabilities, Who then For on every subset must decide as the
// ACL built from that subset.
func TestForAgreesWithACL(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2026))
	ops := []string{"create", "read", "update", "patch", "delete", "list"}
	var allowed, refused, denied int
	for iter := range 150 {
		ps := randomPolicies(rng, 6)
		x := NewIndex(ps)
		for range 15 {
			path := randomPath(rng)
			for _, op := range ops {
				c := policy.OperationCapability(op)
				a := x.Who(path, c)
				sudo := x.Who(path, policy.CapSudo)
				for mask := range 1 << len(ps) {
					var subset []*policy.Policy
					var subNames []string
					for i, p := range ps {
						if mask&(1<<i) != 0 {
							subset = append(subset, p)
							subNames = append(subNames, p.Name)
						}
					}
					got := a.For(subNames)
					want := policy.NewACL(subset).Check(policy.Request{Path: path, Operation: op})
					// Check has no parameters to offer, so a rule requiring
					// one refuses writes; For reports that as a condition.
					needsParams := c&(policy.CapCreate|policy.CapUpdate|policy.CapPatch) != 0 && len(got.Rule.RequiredParameters) > 0
					if (got.Allowed && !needsParams) != want.Allowed || got.Rule.Capabilities != want.Capabilities ||
						got.Rule.MinWrappingTTL != want.MinWrappingTTL || got.Rule.MaxWrappingTTL != want.MaxWrappingTTL {
						t.Fatalf("iteration %d: %s %q with %q: For = %+v, ACL.Check = %+v\npolicies: %s",
							iter, op, path, subNames, got, want, dump(ps))
					}
					switch {
					case want.Allowed:
						allowed++
					case want.Capabilities == policy.CapDeny:
						denied++
					default:
						refused++
					}
					if s := sudo.For(subNames).Rule.Capabilities&policy.CapSudo != 0; c != policy.CapList && s != want.Sudo {
						t.Fatalf("iteration %d: sudo on %q with %q: For = %v, ACL.Check = %v\npolicies: %s", iter, path, subNames, s, want.Sudo, dump(ps))
					}
				}
			}
		}
	}
	if allowed < 1000 || refused < 1000 || denied < 1000 {
		t.Fatalf("generator too narrow: %d allowed, %d refused, %d denied decisions", allowed, refused, denied)
	}
	t.Logf("%d allowed, %d refused, %d denied decisions agree", allowed, refused, denied)
}

// The generator must produce every kind of outcome for the test to mean
// something; see TestForAgreesWithACL.
var segs = []string{"a", "b", "ab", "+"}

func randomRulePath(rng *rand.Rand) string {
	n := 1 + rng.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = segs[rng.IntN(len(segs))]
	}
	p := strings.Join(parts, "/")
	switch rng.IntN(4) {
	case 0:
		p += "/*"
	case 1:
		if !strings.HasSuffix(p, "+") {
			p += "*"
		}
	case 2:
		p += "/"
	}
	return p
}

func randomPath(rng *rand.Rand) string {
	n := 1 + rng.IntN(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = []string{"a", "b", "ab", "abc", "x"}[rng.IntN(5)]
	}
	p := strings.Join(parts, "/")
	if rng.IntN(3) == 0 {
		p += "/"
	}
	return p
}

func randomPolicies(rng *rand.Rand, n int) []*policy.Policy {
	caps := []policy.Capability{policy.CapCreate, policy.CapRead, policy.CapUpdate, policy.CapPatch, policy.CapDelete, policy.CapList, policy.CapSudo}
	ttls := []time.Duration{0, 0, time.Minute, time.Hour}
	ps := make([]*policy.Policy, n)
	for i := range ps {
		p := &policy.Policy{Name: fmt.Sprintf("p%d", i)}
		for range 1 + rng.IntN(4) {
			r := policy.Rule{Path: randomRulePath(rng)}
			if rng.IntN(6) == 0 {
				r.Capabilities = policy.CapDeny
			} else {
				for _, c := range caps {
					if rng.IntN(3) == 0 {
						r.Capabilities |= c
					}
				}
				r.MinWrappingTTL, r.MaxWrappingTTL = ttls[rng.IntN(len(ttls))], ttls[rng.IntN(len(ttls))]
				if r.MinWrappingTTL > r.MaxWrappingTTL && r.MaxWrappingTTL > 0 {
					r.MinWrappingTTL, r.MaxWrappingTTL = r.MaxWrappingTTL, r.MinWrappingTTL
				}
				if rng.IntN(4) == 0 {
					r.RequiredParameters = []string{"reason"}
				}
				if rng.IntN(4) == 0 {
					r.AllowedParameters = map[string][]any{"ttl": {}}
				}
			}
			p.Rules = append(p.Rules, r)
		}
		ps[i] = p
	}
	return ps
}

func dump(ps []*policy.Policy) string {
	var b strings.Builder
	for _, p := range ps {
		for _, r := range p.Rules {
			fmt.Fprintf(&b, "\n  %s %q %v min=%v max=%v req=%q", p.Name, r.Path, r.Capabilities, r.MinWrappingTTL, r.MaxWrappingTTL, r.RequiredParameters)
		}
	}
	return b.String()
}
