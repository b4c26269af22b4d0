package policy

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// aclFrom parses each source as a policy and compiles them together.
func aclFrom(tb testing.TB, srcs ...string) *ACL {
	tb.Helper()
	var ps []*Policy
	for i, s := range srcs {
		ps = append(ps, mustParse(tb, fmt.Sprintf("p%d", i), s))
	}
	return NewACL(ps)
}

type check struct {
	op, path string
	params   map[string]any
	want     bool
}

func runChecks(t *testing.T, acl *ACL, checks []check) {
	t.Helper()
	for _, c := range checks {
		got := acl.Check(Request{Path: c.path, Operation: c.op, Params: c.params})
		if got.Allowed != c.want {
			t.Errorf("Check(%s %q, params %v) = %+v, want Allowed %v", c.op, c.path, c.params, got, c.want)
		}
		if got.Allowed == (got.Denied != "") {
			t.Errorf("Check(%s %q): Allowed %v with Denied %q; want a reason exactly when refused", c.op, c.path, got.Allowed, got.Denied)
		}
	}
}

func TestCheckPathMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policies []string
		checks   []check
	}{
		{
			name:     "exact path",
			policies: []string{`path "secret/app" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "secret/app", want: true},
				{op: "read", path: "/secret/app", want: true},
				{op: "read", path: "secret/app/x", want: false},
				{op: "read", path: "secret/ap", want: false},
				{op: "read", path: "secret/apps", want: false},
				{op: "read", path: "Secret/app", want: false},
			},
		},
		{
			name:     "trailing glob is a string prefix",
			policies: []string{`path "secret/ap*" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "secret/ap", want: true},
				{op: "read", path: "secret/app", want: true},
				{op: "read", path: "secret/apple/pie/x", want: true},
				{op: "read", path: "secret/a", want: false},
				{op: "read", path: "secret/", want: false},
			},
		},
		{
			name:     "glob after a slash",
			policies: []string{`path "secret/*" { capabilities = ["read", "list"] }`},
			checks: []check{
				{op: "read", path: "secret/x", want: true},
				{op: "read", path: "secret/x/y/z", want: true},
				{op: "list", path: "secret/", want: true},
				{op: "read", path: "secret", want: false},
				{op: "read", path: "secrets/x", want: false},
			},
		},
		{
			name:     "glob for everything",
			policies: []string{`path "*" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "", want: true},
				{op: "read", path: "anything/at/all", want: true},
				{op: "update", path: "anything", want: false},
			},
		},
		{
			name:     "plus matches exactly one segment",
			policies: []string{`path "secret/+/config" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "secret/a/config", want: true},
				{op: "read", path: "secret/anything-else/config", want: true},
				{op: "read", path: "secret/config", want: false},
				{op: "read", path: "secret/a/b/config", want: false},
				{op: "read", path: "secret/a/config/x", want: false},
				{op: "read", path: "secret/a/configs", want: false},
			},
		},
		{
			name:     "plus at the start and end",
			policies: []string{`path "+/data/+" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "kv/data/app", want: true},
				{op: "read", path: "kv/data/app/x", want: false},
				{op: "read", path: "kv/data", want: false},
				{op: "read", path: "kv/meta/app", want: false},
			},
		},
		{
			name:     "plus combined with glob",
			policies: []string{`path "secret/+/config/*" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "secret/a/config/x", want: true},
				{op: "read", path: "secret/a/config/x/y", want: true},
				{op: "read", path: "secret/a/config/", want: true},
				{op: "read", path: "secret/a/config", want: false},
				{op: "read", path: "secret/a/b/config/x", want: false},
				{op: "read", path: "secret/a/configs/x", want: false},
			},
		},
		{
			name:     "plus with a partial last segment glob",
			policies: []string{`path "secret/+/team-*" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "secret/a/team-", want: true},
				{op: "read", path: "secret/a/team-x", want: true},
				{op: "read", path: "secret/a/team-x/y", want: true},
				{op: "read", path: "secret/a/team", want: false},
				{op: "read", path: "secret/a/tea", want: false},
			},
		},
		{
			name:     "several plus segments",
			policies: []string{`path "+/+/x" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "a/b/x", want: true},
				{op: "read", path: "a/x", want: false},
				{op: "read", path: "a/b/c/x", want: false},
			},
		},
		{
			name:     "plus literal inside a segment",
			policies: []string{`path "auth/userpass/users/a+b" { capabilities = ["read"] }`},
			checks: []check{
				{op: "read", path: "auth/userpass/users/a+b", want: true},
				{op: "read", path: "auth/userpass/users/axb", want: false},
			},
		},
		{
			name:     "list on a path ending in a slash uses the rule without it",
			policies: []string{`path "secret/app" { capabilities = ["list"] }`, `path "kv/+/dir" { capabilities = ["list"] }`},
			checks: []check{
				{op: "list", path: "secret/app/", want: true},
				{op: "list", path: "secret/app", want: true},
				{op: "read", path: "secret/app/", want: false},
				{op: "list", path: "kv/a/dir/", want: true},
				{op: "list", path: "kv/a/dir/x/", want: false},
			},
		},
		{
			name:     "no policies",
			policies: nil,
			checks: []check{
				{op: "read", path: "secret/app", want: false},
				{op: "list", path: "", want: false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runChecks(t, aclFrom(t, tt.policies...), tt.checks)
		})
	}
}

func TestCheckPriority(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string
		checks []check
	}{
		{
			name: "exact beats glob, even a deny glob",
			policy: `
path "secret/*"   { capabilities = ["deny"] }
path "secret/app" { capabilities = ["read"] }`,
			checks: []check{
				{op: "read", path: "secret/app", want: true},
				{op: "read", path: "secret/other", want: false},
				{op: "read", path: "secret/app/x", want: false},
			},
		},
		{
			name: "longer glob wins",
			policy: `
path "secret/*"     { capabilities = ["read"] }
path "secret/app/*" { capabilities = ["update"] }`,
			checks: []check{
				{op: "update", path: "secret/app/x", want: true},
				{op: "read", path: "secret/app/x", want: false},
				{op: "read", path: "secret/other", want: true},
				{op: "update", path: "secret/other", want: false},
			},
		},
		{
			name: "later first wildcard wins: glob over earlier plus",
			policy: `
path "secret/+/config" { capabilities = ["read"] }
path "secret/app/*"    { capabilities = ["update"] }`,
			checks: []check{
				{op: "update", path: "secret/app/config", want: true},
				{op: "read", path: "secret/app/config", want: false},
				{op: "read", path: "secret/db/config", want: true},
			},
		},
		{
			name: "later first wildcard wins: plus over earlier glob",
			policy: `
path "secret/*"            { capabilities = ["read"] }
path "secret/app/+/config" { capabilities = ["update"] }`,
			checks: []check{
				{op: "update", path: "secret/app/x/config", want: true},
				{op: "read", path: "secret/app/x/config", want: false},
				{op: "read", path: "secret/app/x/other", want: true},
			},
		},
		{
			name: "same first wildcard: not ending in glob wins",
			policy: `
path "secret/+"  { capabilities = ["read"] }
path "secret/*"  { capabilities = ["update"] }`,
			checks: []check{
				{op: "read", path: "secret/a", want: true},
				{op: "update", path: "secret/a", want: false},
				{op: "update", path: "secret/a/b", want: true},
				{op: "read", path: "secret/a/b", want: false},
			},
		},
		{
			name: "same first wildcard, both plus: not ending in glob wins",
			policy: `
path "secret/+/bar"  { capabilities = ["read"] }
path "secret/+/ba*"  { capabilities = ["update"] }`,
			checks: []check{
				{op: "read", path: "secret/x/bar", want: true},
				{op: "update", path: "secret/x/bar", want: false},
				{op: "update", path: "secret/x/baz", want: true},
			},
		},
		{
			name: "fewer plus segments wins",
			policy: `
path "secret/+/+/baz"   { capabilities = ["read"] }
path "secret/+/bar/baz" { capabilities = ["update"] }`,
			checks: []check{
				{op: "update", path: "secret/x/bar/baz", want: true},
				{op: "read", path: "secret/x/bar/baz", want: false},
				{op: "read", path: "secret/x/qux/baz", want: true},
			},
		},
		{
			name: "longer wins",
			policy: `
path "secret/+/bar/b*"  { capabilities = ["read"] }
path "secret/+/bar/ba*" { capabilities = ["update"] }`,
			checks: []check{
				{op: "update", path: "secret/x/bar/baz", want: true},
				{op: "read", path: "secret/x/bar/baz", want: false},
				{op: "read", path: "secret/x/bar/bz", want: true},
			},
		},
		{
			name: "lexicographically greater wins last",
			policy: `
path "secret/+/a" { capabilities = ["read"] }
path "secret/+/+" { capabilities = ["update"] }
path "secret/+/b" { capabilities = ["delete"] }`,
			checks: []check{
				// "secret/+/a" and "secret/+/+" differ only by wildcards.
				{op: "read", path: "secret/x/a", want: true},
				{op: "update", path: "secret/x/a", want: false},
				{op: "update", path: "secret/x/c", want: true},
			},
		},
		{
			name: "the more specific rule grants nothing it does not list",
			policy: `
path "secret/*"       { capabilities = ["read", "list", "update"] }
path "secret/app/key" { capabilities = [] }`,
			checks: []check{
				{op: "read", path: "secret/app/key", want: false},
				{op: "read", path: "secret/app/other", want: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runChecks(t, aclFrom(t, tt.policy), tt.checks)
		})
	}
}

// TestPriorityOrder checks the order directly, pairwise, for patterns
// that all match "secret/app/config/x".
func TestPriorityOrder(t *testing.T) {
	t.Parallel()
	// From most to least specific.
	order := []string{
		"secret/app/config/+",
		"secret/app/config/*",
		"secret/app/+/x",
		"secret/app/+/*",
		"secret/app*",
		"secret/+/config/x",
		"secret/+/+/x",
		// The same first wildcard offset, all ending in "*": fewer "+"
		// segments win before length counts, so the plain glob wins.
		"secret/*",
		"secret/+/config/*",
		"secret/+/con*",
		"secret/+/*",
		"+/app/config/x",
		"*",
	}
	const path = "secret/app/config/x"
	for i := range order {
		// With rules i..end present, rule i must win.
		src := ""
		for j := len(order) - 1; j >= i; j-- {
			src += fmt.Sprintf("path %q { capabilities = [\"read\"] }\n", order[j])
		}
		// Give the expected winner a distinctive capability.
		src += fmt.Sprintf("path %q { capabilities = [\"sudo\"] }\n", order[i])
		acl := aclFrom(t, src)
		if got := acl.Check(Request{Path: path, Operation: "read"}); !got.Sudo {
			t.Errorf("rules %q: Check(read %q) = %+v, want the rule %q (with sudo) to govern", order[i:], path, got, order[i])
		}
	}
}

func TestCheckDenyAndMerge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policies []string
		checks   []check
	}{
		{
			name: "deny in another policy wins for the same path",
			policies: []string{
				`path "secret/app" { capabilities = ["read", "update", "sudo"] }`,
				`path "secret/app" { capabilities = ["deny"] }`,
			},
			checks: []check{
				{op: "read", path: "secret/app", want: false},
				{op: "update", path: "secret/app", want: false},
			},
		},
		{
			name: "deny first, grant later: still denied",
			policies: []string{
				`path "secret/*" { policy = "deny" }`,
				`path "secret/*" { capabilities = ["read"] }`,
			},
			checks: []check{{op: "read", path: "secret/x", want: false}},
		},
		{
			name: "capabilities union across policies",
			policies: []string{
				`path "secret/+/x" { capabilities = ["read"] }`,
				`path "secret/+/x" { capabilities = ["list"] }`,
			},
			checks: []check{
				{op: "read", path: "secret/a/x", want: true},
				{op: "list", path: "secret/a/x", want: true},
				{op: "update", path: "secret/a/x", want: false},
			},
		},
		{
			name: "same path twice in one policy merges",
			policies: []string{`
path "a" { capabilities = ["read"] }
path "a" { capabilities = ["delete"] }`},
			checks: []check{
				{op: "read", path: "a", want: true},
				{op: "delete", path: "a", want: true},
			},
		},
		{
			name: "exact and glob on the same text are different paths",
			policies: []string{
				`path "secret/app" { capabilities = ["deny"] }`,
				`path "secret/app*" { capabilities = ["read"] }`,
			},
			checks: []check{
				{op: "read", path: "secret/app", want: false},
				{op: "read", path: "secret/apps", want: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runChecks(t, aclFrom(t, tt.policies...), tt.checks)
		})
	}
}

func TestCheckOperations(t *testing.T) {
	t.Parallel()
	caps := []string{"create", "read", "update", "patch", "delete", "list"}
	for _, granted := range caps {
		acl := aclFrom(t, fmt.Sprintf(`path "p" { capabilities = [%q] }`, granted))
		for _, op := range caps {
			got := acl.Check(Request{Path: "p", Operation: op})
			if want := op == granted; got.Allowed != want {
				t.Errorf("with %q granted, Check(%s).Allowed = %v, want %v", granted, op, got.Allowed, want)
			}
		}
	}
	acl := aclFrom(t, `path "p" { capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"] }`)
	for _, op := range []string{"help", "renew", "", "READ", "sudo", "deny"} {
		if got := acl.Check(Request{Path: "p", Operation: op}); got.Allowed || got.Denied != deniedOperation {
			t.Errorf("Check(op %q) = %+v, want refused as an unsupported operation", op, got)
		}
	}
}

func TestCheckDecision(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t, `
path "sys/mounts/*" { capabilities = ["update", "sudo"] }
path "sys/wrapping/wrap" {
  capabilities     = ["update"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "1h"
}
path "secret/x" { capabilities = ["deny"] }`)
	tests := []struct {
		req  Request
		want Decision
	}{
		{
			req:  Request{Path: "sys/mounts/kv", Operation: "update"},
			want: Decision{Allowed: true, Sudo: true, Capabilities: CapUpdate | CapSudo},
		},
		{
			req:  Request{Path: "sys/mounts/kv", Operation: "read"},
			want: Decision{Sudo: true, Capabilities: CapUpdate | CapSudo, Denied: "no policy grants the read capability on this path"},
		},
		{
			req:  Request{Path: "sys/wrapping/wrap", Operation: "update"},
			want: Decision{Allowed: true, Capabilities: CapUpdate, MinWrappingTTL: time.Minute, MaxWrappingTTL: time.Hour},
		},
		{
			req:  Request{Path: "secret/x", Operation: "read"},
			want: Decision{Capabilities: CapDeny, Denied: deniedExplicit},
		},
		{
			req:  Request{Path: "nowhere", Operation: "read"},
			want: Decision{Denied: deniedNoRule},
		},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, acl.Check(tt.req)); diff != "" {
			t.Errorf("Check(%+v) mismatch (-want +got):\n%s", tt.req, diff)
		}
	}
}

func TestWrapTTLAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    Decision
		ttl  time.Duration
		want bool
	}{
		{Decision{}, 0, true},
		{Decision{}, time.Hour, true},
		{Decision{MaxWrappingTTL: time.Hour}, 0, false},
		{Decision{MaxWrappingTTL: time.Hour}, time.Hour, true},
		{Decision{MaxWrappingTTL: time.Hour}, time.Hour + 1, false},
		{Decision{MinWrappingTTL: time.Minute}, 0, false},
		{Decision{MinWrappingTTL: time.Minute}, time.Second, false},
		{Decision{MinWrappingTTL: time.Minute}, time.Minute, true},
		{Decision{MinWrappingTTL: time.Minute, MaxWrappingTTL: time.Hour}, 30 * time.Minute, true},
	}
	for _, tt := range tests {
		if got := tt.d.WrapTTLAllowed(tt.ttl); got != tt.want {
			t.Errorf("%+v.WrapTTLAllowed(%v) = %v, want %v", tt.d, tt.ttl, got, tt.want)
		}
	}
}

func TestMergeWrappingTTLs(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t,
		`path "w" {
  capabilities     = ["update"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "2h"
}`,
		`path "w" {
  capabilities     = ["read"]
  max_wrapping_ttl = "1h"
}`,
		`path "w" { capabilities = ["list"] }`,
		`path "bad" {
  capabilities     = ["update"]
  min_wrapping_ttl = "30m"
}`,
		`path "bad" {
  capabilities     = ["update"]
  max_wrapping_ttl = "10m"
}`,
	)
	got := acl.Check(Request{Path: "w", Operation: "read"})
	if !got.Allowed || got.MinWrappingTTL != time.Minute || got.MaxWrappingTTL != time.Hour {
		t.Errorf("Check(read w) = %+v, want allowed with the smaller TTLs (1m, 1h)", got)
	}
	if got := acl.Check(Request{Path: "bad", Operation: "update"}); got.Allowed {
		t.Errorf("Check(update bad) = %+v, want refused: merged max is below merged min", got)
	}
}

func TestRootACL(t *testing.T) {
	t.Parallel()
	other := mustParse(t, "other", `path "*" { capabilities = ["deny"] }`)
	for _, acl := range []*ACL{
		NewACL([]*Policy{{Name: RootPolicyName}}),
		NewACL([]*Policy{other, {Name: RootPolicyName}}),
	} {
		if !acl.Root() {
			t.Errorf("Root() = false, want true")
		}
		for _, op := range []string{"read", "list", "create", "update", "patch", "delete"} {
			got := acl.Check(Request{Path: "sys/raw/anything", Operation: op, Params: map[string]any{"x": 1}})
			if !got.Allowed || !got.Sudo {
				t.Errorf("root Check(%s) = %+v, want allowed with sudo", op, got)
			}
		}
		if diff := cmp.Diff([]string{"root"}, acl.Capabilities("secret/x")); diff != "" {
			t.Errorf("root Capabilities() mismatch (-want +got):\n%s", diff)
		}
		if acl.NeedsParams("secret/x") {
			t.Errorf("root NeedsParams() = true, want false")
		}
	}
	var nilACL *ACL
	if got := nilACL.Check(Request{Path: "a", Operation: "read"}); got.Allowed {
		t.Errorf("nil ACL Check() = %+v, want refused", got)
	}
	if (&ACL{}).Check(Request{Path: "a", Operation: "read"}).Allowed {
		t.Errorf("zero ACL allowed a request")
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t,
		`path "secret/*" { capabilities = ["read", "list", "update", "create"] }
path "secret/locked" { capabilities = ["deny"] }
path "secret/empty" { capabilities = [] }
path "sys/policies/acl/+" { capabilities = ["sudo", "delete", "patch"] }
path "kv/dir" { capabilities = ["list"] }`,
		`path "secret/*" { capabilities = ["delete"] }`,
	)
	tests := []struct {
		path string
		want []string
	}{
		{"secret/a", []string{"create", "delete", "list", "read", "update"}},
		{"/secret/a", []string{"create", "delete", "list", "read", "update"}},
		{"secret/locked", []string{"deny"}},
		{"secret/empty", []string{"deny"}},
		{"sys/policies/acl/ops", []string{"delete", "patch", "sudo"}},
		{"kv/dir/", []string{"list"}},
		{"nowhere", []string{"deny"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, acl.Capabilities(tt.path)); diff != "" {
			t.Errorf("Capabilities(%q) mismatch (-want +got):\n%s", tt.path, diff)
		}
	}
}

func TestCapabilityStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    Capability
		want []string
	}{
		{0, nil},
		{CapRead, []string{"read"}},
		{CapUpdate | CapCreate | CapSudo | CapList | CapPatch | CapDelete | CapRead, []string{"create", "delete", "list", "patch", "read", "sudo", "update"}},
		{CapDeny | CapRead, []string{"deny"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.c.Strings()); diff != "" {
			t.Errorf("Capability(%#x).Strings() mismatch (-want +got):\n%s", uint16(tt.c), diff)
		}
	}
	for _, n := range []string{"create", "read", "update", "patch", "delete", "list", "sudo", "deny"} {
		c, err := ParseCapability(n)
		if err != nil || c.String() != n {
			t.Errorf("ParseCapability(%q) = %v, %v; want a capability that prints as %q", n, c, err, n)
		}
	}
	if _, err := ParseCapability("Read"); err == nil {
		t.Errorf(`ParseCapability("Read") succeeded, want an error (names are case-sensitive)`)
	}
}

func TestCheckParameters(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t, `
path "allow/only" {
  capabilities       = ["create", "update", "patch", "read", "delete"]
  allowed_parameters = {
    "color" = ["red", "blue"]
    "size"  = []
    "name"  = ["svc-*", "*-prod", "*mid*"]
    "ttl"   = [30, 60]
    "flag"  = [true]
    "tags"  = ["a", "b"]
    "nil"   = [null]
  }
}
path "allow/star" {
  capabilities       = ["update"]
  allowed_parameters = { "*" = [], "color" = ["red"] }
}
path "allow/star-only" {
  capabilities       = ["update"]
  allowed_parameters = { "*" = [] }
}
path "deny/some" {
  capabilities      = ["update"]
  denied_parameters = { "admin" = [], "role" = ["root", "sudo*"], "list" = ["x"] }
}
path "deny/all" {
  capabilities      = ["update"]
  denied_parameters = { "*" = [] }
}
path "both" {
  capabilities       = ["update"]
  allowed_parameters = { "color" = [] }
  denied_parameters  = { "color" = ["black"] }
}
path "required" {
  capabilities        = ["create", "update", "read"]
  required_parameters = ["owner", "team"]
}
path "required-and-allowed" {
  capabilities        = ["update"]
  required_parameters = ["owner"]
  allowed_parameters  = { "owner" = ["ops"] }
}`)
	p := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	runChecks(t, acl, []check{
		// Allowed values.
		{op: "update", path: "allow/only", params: p("color", "red"), want: true},
		{op: "update", path: "allow/only", params: p("color", "green"), want: false},
		{op: "update", path: "allow/only", params: p("COLOR", "blue"), want: true},
		{op: "update", path: "allow/only", params: p("size", "anything"), want: true},
		{op: "update", path: "allow/only", params: p("size", 12.0), want: true},
		{op: "update", path: "allow/only", params: p("other", "x"), want: false},
		{op: "update", path: "allow/only", params: p("color", "red", "other", "x"), want: false},
		{op: "update", path: "allow/only", params: nil, want: true},
		{op: "update", path: "allow/only", params: p(), want: true},
		// Globs: prefix, suffix, substring.
		{op: "create", path: "allow/only", params: p("name", "svc-api"), want: true},
		{op: "create", path: "allow/only", params: p("name", "db-prod"), want: true},
		{op: "create", path: "allow/only", params: p("name", "a-mid-b"), want: true},
		{op: "create", path: "allow/only", params: p("name", "api-svc"), want: false},
		{op: "patch", path: "allow/only", params: p("name", "prod-db"), want: false},
		// Numbers compare by value whatever their decoded type; bools and
		// nulls exactly; strings do not match numbers.
		{op: "update", path: "allow/only", params: p("ttl", 30.0), want: true},
		{op: "update", path: "allow/only", params: p("ttl", 60), want: true},
		{op: "update", path: "allow/only", params: p("ttl", json.Number("30")), want: true},
		{op: "update", path: "allow/only", params: p("ttl", 31.0), want: false},
		{op: "update", path: "allow/only", params: p("ttl", "30"), want: false},
		{op: "update", path: "allow/only", params: p("flag", true), want: true},
		{op: "update", path: "allow/only", params: p("flag", false), want: false},
		{op: "update", path: "allow/only", params: p("nil", nil), want: true},
		{op: "update", path: "allow/only", params: p("nil", "x"), want: false},
		// Lists and comma-separated strings: every element must be allowed.
		{op: "update", path: "allow/only", params: p("tags", []any{"a", "b"}), want: true},
		{op: "update", path: "allow/only", params: p("tags", []any{"a", "c"}), want: false},
		{op: "update", path: "allow/only", params: p("tags", []string{"b"}), want: true},
		{op: "update", path: "allow/only", params: p("tags", "a, b"), want: true},
		{op: "update", path: "allow/only", params: p("tags", "a,c"), want: false},
		// Parameters are not checked for read, list and delete.
		{op: "read", path: "allow/only", params: p("other", "x"), want: true},
		{op: "delete", path: "allow/only", params: p("other", "x"), want: true},
		// "*" allows every other parameter; listed ones keep their values.
		{op: "update", path: "allow/star", params: p("anything", "x", "color", "red"), want: true},
		{op: "update", path: "allow/star", params: p("color", "blue"), want: false},
		{op: "update", path: "allow/star-only", params: p("a", 1, "b", []any{"x"}), want: true},
		// Denied parameters.
		{op: "update", path: "deny/some", params: p("admin", false), want: false},
		{op: "update", path: "deny/some", params: p("Admin", "x"), want: false},
		{op: "update", path: "deny/some", params: p("role", "root"), want: false},
		{op: "update", path: "deny/some", params: p("role", "sudoers"), want: false},
		{op: "update", path: "deny/some", params: p("role", "reader"), want: true},
		{op: "update", path: "deny/some", params: p("role", "reader,root"), want: false},
		{op: "update", path: "deny/some", params: p("list", []any{"a", "x"}), want: false},
		{op: "update", path: "deny/some", params: p("list", []any{"a", "b"}), want: true},
		{op: "update", path: "deny/some", params: p("other", "x"), want: true},
		{op: "update", path: "deny/all", params: p("x", 1), want: false},
		{op: "update", path: "deny/all", params: nil, want: true},
		// Denied wins over allowed.
		{op: "update", path: "both", params: p("color", "white"), want: true},
		{op: "update", path: "both", params: p("color", "black"), want: false},
		// Required parameters.
		{op: "create", path: "required", params: p("owner", "a", "team", "b"), want: true},
		{op: "create", path: "required", params: p("owner", "a"), want: false},
		{op: "create", path: "required", params: nil, want: false},
		{op: "create", path: "required", params: p("OWNER", "a", "team", "b"), want: false},
		{op: "read", path: "required", params: nil, want: true},
		{op: "update", path: "required-and-allowed", params: p("owner", "ops"), want: true},
		{op: "update", path: "required-and-allowed", params: p("owner", "dev"), want: false},
		{op: "update", path: "required-and-allowed", params: nil, want: false},
	})
}

func TestDeniedReasonHasNoValues(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t, `path "a" {
  capabilities       = ["update"]
  allowed_parameters = { "user" = ["x"] }
  denied_parameters  = { "password" = [] }
}`)
	for _, params := range []map[string]any{
		{"password": "hunter2-secret"},
		{"user": "hunter2-secret"},
		{"other": "hunter2-secret"},
	} {
		got := acl.Check(Request{Path: "a", Operation: "update", Params: params})
		if got.Allowed {
			t.Fatalf("Check(%v) allowed, want refused", params)
		}
		if want := "hunter2"; containsFold(got.Denied, want) {
			t.Errorf("Check(%v).Denied = %q; it must not contain the value", params, got.Denied)
		}
	}
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestMergeParameters(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t,
		`path "m" {
  capabilities        = ["update"]
  allowed_parameters  = { "color" = ["red"], "size" = ["s"], "shape" = [] }
  denied_parameters   = { "mode" = ["a"] }
  required_parameters = ["owner"]
}`,
		`path "m" {
  capabilities        = ["create"]
  allowed_parameters  = { "color" = ["blue"], "size" = [], "owner" = [], "team" = [] }
  denied_parameters   = { "mode" = ["b"] }
  required_parameters = ["owner", "team"]
}`,
		`path "m" { capabilities = ["read"] }`,
	)
	p := func(extra map[string]any) map[string]any {
		m := map[string]any{"owner": "o", "team": "t"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	runChecks(t, acl, []check{
		// Value lists concatenate.
		{op: "update", path: "m", params: p(map[string]any{"color": "red"}), want: true},
		{op: "create", path: "m", params: p(map[string]any{"color": "blue"}), want: true},
		{op: "update", path: "m", params: p(map[string]any{"color": "green"}), want: false},
		// An empty list on either side allows any value.
		{op: "update", path: "m", params: p(map[string]any{"size": "xl"}), want: true},
		{op: "update", path: "m", params: p(map[string]any{"shape": "round"}), want: true},
		// Denied values concatenate.
		{op: "update", path: "m", params: p(map[string]any{"mode": "a"}), want: false},
		{op: "update", path: "m", params: p(map[string]any{"mode": "b"}), want: false},
		// Required parameters union.
		{op: "update", path: "m", params: map[string]any{"owner": "o"}, want: false},
		{op: "update", path: "m", params: p(nil), want: true},
		// Constraints persist though the third policy has none.
		{op: "update", path: "m", params: p(map[string]any{"unlisted": 1}), want: false},
	})
}

func TestNeedsParams(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t, `
path "secret/*" { capabilities = ["update"] }
path "secret/constrained" {
  capabilities       = ["update"]
  allowed_parameters = { "a" = [] }
}
path "secret/+/required" {
  capabilities        = ["update"]
  required_parameters = ["x"]
}
path "secret/denied/*" {
  capabilities      = ["update"]
  denied_parameters = { "x" = [] }
}
path "secret/off" { capabilities = ["deny"] }`)
	tests := []struct {
		path string
		want bool
	}{
		{"secret/plain", false},
		{"secret/constrained", true},
		{"secret/a/required", true},
		{"secret/denied/x", true},
		{"secret/off", false},
		{"nowhere", false},
	}
	for _, tt := range tests {
		if got := acl.NeedsParams(tt.path); got != tt.want {
			t.Errorf("NeedsParams(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestACLIsACopy checks that changing a policy after NewACL does not
// change the ACL.
func TestACLIsACopy(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "p", `path "a" {
  capabilities       = ["update"]
  allowed_parameters = { "x" = ["1"] }
}`)
	acl := NewACL([]*Policy{p, p})
	p.Rules[0].Capabilities = CapDeny
	p.Rules[0].AllowedParameters["x"][0] = "2"
	p.Rules[0].AllowedParameters["y"] = []any{}
	if got := acl.Check(Request{Path: "a", Operation: "update", Params: map[string]any{"x": "1"}}); !got.Allowed {
		t.Errorf("Check() after editing the policy = %+v, want the original rule to apply", got)
	}
	if got := acl.Check(Request{Path: "a", Operation: "update", Params: map[string]any{"y": "1"}}); got.Allowed {
		t.Errorf("Check() after editing the policy = %+v, want the original rule to apply", got)
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	acl := benchACL(t, 50)
	for _, req := range []Request{
		{Path: "secret/app-7/config", Operation: "read"},
		{Path: "secret/app-7/db/password", Operation: "read"},
		{Path: "kv/prod/app-7/x", Operation: "read"},
		{Path: "kv/prod/app-7/", Operation: "list"},
		{Path: "nowhere/at/all", Operation: "read"},
		{Path: "secret/app-7/config", Operation: "update"},
	} {
		if n := testing.AllocsPerRun(100, func() { acl.Check(req) }); n != 0 {
			t.Errorf("Check(%+v) allocates %v times, want 0", req, n)
		}
	}
}

func TestCheckConcurrent(t *testing.T) {
	t.Parallel()
	acl := benchACL(t, 20)
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				path := fmt.Sprintf("secret/app-%d/config", (g+i)%20)
				if !acl.Check(Request{Path: path, Operation: "read"}).Allowed {
					t.Errorf("Check(read %q) refused", path)
					return
				}
				acl.Capabilities(path)
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestLoneStarValue(t *testing.T) {
	t.Parallel()
	acl := aclFrom(t, `
path "a" {
  capabilities       = ["update"]
  allowed_parameters = { "x" = ["*"] }
}
path "d" {
  capabilities      = ["update"]
  denied_parameters = { "x" = ["*"] }
}`)
	runChecks(t, acl, []check{
		{op: "update", path: "a", params: map[string]any{"x": "anything"}, want: true},
		{op: "update", path: "a", params: map[string]any{"x": ""}, want: true},
		// A glob matches strings only.
		{op: "update", path: "a", params: map[string]any{"x": 5.0}, want: false},
		{op: "update", path: "d", params: map[string]any{"x": "anything"}, want: false},
		{op: "update", path: "d", params: map[string]any{"x": true}, want: true},
	})
}

func TestAnyUnder(t *testing.T) {
	t.Parallel()
	pol, err := Parse("p", `
path "secret/data/app/*" { capabilities = ["read"] }
path "kv/+/config" { capabilities = ["read"] }
path "db*" { capabilities = ["read"] }
path "denied/*" { capabilities = ["deny"] }
path "transit/encrypt/key" { capabilities = ["update"] }
`)
	if err != nil {
		t.Fatal(err)
	}
	acl := NewACL([]*Policy{pol})
	for prefix, want := range map[string]bool{
		"secret/":  true,
		"kv/":      true,
		"db/":      true,
		"dbx/":     true,
		"transit/": true,
		"denied/":  false,
		"other/":   false,
		"sec/":     false,
		"secret2/": false,
	} {
		if got := acl.AnyUnder(prefix); got != want {
			t.Errorf("AnyUnder(%q) = %v, want %v", prefix, got, want)
		}
	}
	if !NewACL([]*Policy{{Name: RootPolicyName}}).AnyUnder("anything/") {
		t.Error("a root ACL reaches nothing")
	}
	var nilACL *ACL
	if nilACL.AnyUnder("secret/") {
		t.Error("a nil ACL reaches something")
	}
}
