package access

import (
	"fmt"
	"testing"

	"github.com/coffer-secrets/coffer/internal/policy"
)

// benchPolicies returns n policies shaped as a large installation's: each
// has its own exact, glob and "+" rules, and every tenth also reads a
// shared tree.
func benchPolicies(tb testing.TB, n int) []*policy.Policy {
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
		ps = append(ps, mustParse(tb, fmt.Sprintf("app-%d", i), src))
	}
	return ps
}

func BenchmarkWho10kPolicies(b *testing.B) {
	x := NewIndex(benchPolicies(b, 10000))
	for _, bc := range []struct {
		name   string
		path   string
		c      policy.Capability
		grants int
	}{
		{"exact", "secret/data/app-5000/config", policy.CapRead, 1},
		{"plus", "kv/team/app-7000/db", policy.CapRead, 1},
		{"shared-1000-grants", "secret/data/shared/db", policy.CapRead, 1000},
		{"none", "cubbyhole/x", policy.CapRead, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if got := len(x.Who(bc.path, bc.c).Grants); got != bc.grants {
				b.Fatalf("Who(%q) has %d grants, want %d", bc.path, got, bc.grants)
			}
			b.ReportAllocs()
			for b.Loop() {
				x.Who(bc.path, bc.c)
			}
		})
	}
}

func BenchmarkNewIndex10kPolicies(b *testing.B) {
	ps := benchPolicies(b, 10000)
	b.ReportAllocs()
	for b.Loop() {
		NewIndex(ps)
	}
}
