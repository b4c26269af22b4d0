package policy

import (
	"fmt"
	"testing"
)

// benchPolicies returns n policies, each with an exact, a glob and two "+"
// rules of its own, as a large installation might have.
func benchPolicies(tb testing.TB, n int) []*Policy {
	tb.Helper()
	ps := make([]*Policy, 0, n)
	for i := range n {
		src := fmt.Sprintf(`
path "secret/app-%[1]d/config" { capabilities = ["read", "update"] }
path "secret/app-%[1]d/*" { capabilities = ["read", "list"] }
path "kv/+/app-%[1]d/*" { capabilities = ["read", "list"] }
path "transit/+/key-%[1]d" {
  capabilities       = ["update"]
  allowed_parameters = { "plaintext" = [] }
}
`, i)
		ps = append(ps, mustParse(tb, fmt.Sprintf("app-%d", i), src))
	}
	return ps
}

func benchACL(tb testing.TB, n int) *ACL {
	tb.Helper()
	return NewACL(benchPolicies(tb, n))
}

func BenchmarkCheck(b *testing.B) {
	acl := benchACL(b, 1000)
	for _, bc := range []struct {
		name string
		req  Request
		want bool
	}{
		{"exact-hit", Request{Path: "secret/app-500/config", Operation: "read"}, true},
		{"glob-hit", Request{Path: "secret/app-500/db/password", Operation: "read"}, true},
		{"plus-hit", Request{Path: "kv/prod/app-500/db", Operation: "read"}, true},
		{"plus-params-hit", Request{Path: "transit/encrypt/key-500", Operation: "update", Params: map[string]any{"plaintext": "aGk="}}, true},
		{"miss", Request{Path: "database/creds/readonly", Operation: "read"}, false},
		{"near-miss", Request{Path: "secret/app-5000/config", Operation: "read"}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if got := acl.Check(bc.req); got.Allowed != bc.want {
				b.Fatalf("Check(%+v) = %+v, want Allowed %v", bc.req, got, bc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				acl.Check(bc.req)
			}
		})
	}
}

func BenchmarkNewACL(b *testing.B) {
	ps := benchPolicies(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		NewACL(ps)
	}
}

func BenchmarkParse(b *testing.B) {
	src := readTestdata(b, "policy.hcl")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("p", src); err != nil {
			b.Fatal(err)
		}
	}
}
