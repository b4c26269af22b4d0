package accessapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// benchSetup is a large installation: n policies (each with exact, glob
// and "+" rules; every tenth also reads a shared tree), roles auth roles
// over three methods with two app policies each, 1,000 entities in 100
// nested groups, and tokens live tokens made by those roles.
func benchSetup(tb testing.TB, n, roles, toks int) (*access.Index, *access.Directory) {
	tb.Helper()
	ps := make([]*policy.Policy, 0, n)
	for i := range n {
		src := fmt.Sprintf(`
path "secret/data/app-%[1]d/config" { capabilities = ["read", "update"] }
path "secret/data/app-%[1]d/*" { capabilities = ["read", "list"] }
path "kv/+/app-%[1]d/*" { capabilities = ["read", "list"] }
path "transit/+/key-%[1]d" {
  capabilities       = ["update"]
  allowed_parameters = { "plaintext" = [] }
}
`, i)
		if i%10 == 0 {
			src += `path "secret/data/shared/*" { capabilities = ["read"] }`
		}
		if i%100 == 1 {
			src += `path "secret/data/shared/root" { capabilities = ["deny"] }`
		}
		ps = append(ps, mustParse(tb, fmt.Sprintf("app-%d", i), src))
	}
	dir := &access.Directory{}
	for mi, typ := range []string{"approle", "kubernetes", "jwt"} {
		m := access.AuthMount{Path: "auth/" + typ + "/", Type: typ, Accessor: fmt.Sprintf("auth_%s_%d", typ, mi)}
		for r := mi; r < roles; r += 3 {
			m.Principals = append(m.Principals, logical.Principal{
				Kind: "role", Name: fmt.Sprintf("svc-%d", r),
				Policies: []string{"default", fmt.Sprintf("app-%d", r*7%n), fmt.Sprintf("app-%d", r*13%n)},
			})
		}
		dir.Mounts = append(dir.Mounts, m)
	}
	for g := range 100 {
		grp := access.Group{ID: fmt.Sprintf("g-%d", g), Name: fmt.Sprintf("team-%d", g), Type: "internal", Policies: []string{fmt.Sprintf("app-%d", g*10)}}
		if g > 0 {
			grp.ParentGroupIDs = []string{fmt.Sprintf("g-%d", g/2)}
		}
		dir.Groups = append(dir.Groups, grp)
	}
	for e := range 1000 {
		dir.Entities = append(dir.Entities, access.Entity{
			ID: fmt.Sprintf("e-%d", e), Name: fmt.Sprintf("user-%d", e), GroupIDs: []string{fmt.Sprintf("g-%d", e%100)},
			IdentityPolicies: []string{fmt.Sprintf("app-%d", e), fmt.Sprintf("app-%d", e%100*10)},
		})
	}
	ts := make(tokens, toks)
	now := time.Now()
	for i := range ts {
		p := dir.Mounts[i%3].Principals[i/3%len(dir.Mounts[i%3].Principals)]
		ts[i] = access.Token{
			Accessor: fmt.Sprintf("acc-%08d", i), DisplayName: p.Name, Policies: p.Policies, Path: dir.Mounts[i%3].Path + "login",
			CreationTime: now, ExpireTime: now.Add(time.Hour), Type: "service",
		}
		if i%10 == 0 {
			ts[i].EntityID = fmt.Sprintf("e-%d", i%1000)
		}
	}
	dir.Tokens = ts
	return access.NewIndex(ps), dir
}

// BenchmarkWho answers who for one path over 10,000 policies, 1,000 roles
// and 100,000 live tokens (docs/performance.md records the figures).
func BenchmarkWho(b *testing.B) {
	idx, dir := benchSetup(b, 10000, 1000, 100000)
	pols := map[string]*policy.Policy{}
	now := time.Now()
	for _, bc := range []struct {
		name, path string
	}{
		{"shared-1000-grants", "secret/data/shared/db"},
		{"one-app", "secret/data/app-3500/config"},
		{"none", "cubbyhole/x"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ans *WhoAnswer
			b.ReportAllocs()
			for b.Loop() {
				ans = Who(idx, pols, dir, bc.path, policy.CapRead, defaultTokenLimit, now)
			}
			b.ReportMetric(float64(ans.TokenCount), "tokens")
		})
	}
}
