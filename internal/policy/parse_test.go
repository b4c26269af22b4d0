package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []Rule
	}{
		{
			name: "capabilities",
			src: `
path "secret/*" {
  capabilities = ["read", "list"]
}
path "/sys/mounts" {
  capabilities = ["sudo", "read"]
  comment      = "leading slash is dropped"
}`,
			want: []Rule{
				{Path: "secret/*", Capabilities: CapRead | CapList},
				{Path: "sys/mounts", Capabilities: CapRead | CapSudo},
			},
		},
		{
			name: "old policy shorthand",
			src: `
path "a" { policy = "read" }
path "b" { policy = "write" }
path "c" { policy = "sudo" }
path "d" { policy = "deny" }
path "e" {
  policy       = "read"
  capabilities = ["patch"]
}`,
			want: []Rule{
				{Path: "a", Capabilities: CapRead | CapList},
				{Path: "b", Capabilities: CapCreate | CapRead | CapUpdate | CapDelete | CapList},
				{Path: "c", Capabilities: CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo},
				{Path: "d", Capabilities: CapDeny},
				{Path: "e", Capabilities: CapRead | CapList | CapPatch},
			},
		},
		{
			name: "deny drops everything else",
			src: `
path "secret/x" {
  capabilities       = ["read", "deny"]
  allowed_parameters = { "a" = [] }
  min_wrapping_ttl   = 60
}`,
			want: []Rule{{Path: "secret/x", Capabilities: CapDeny}},
		},
		{
			name: "parameters and ttls",
			src: `
path "secret/+/config" {
  capabilities        = ["create", "update"]
  allowed_parameters  = {
    "*"     = []
    "Color" = ["red", "blu*", 3, true]
  }
  denied_parameters   = { "admin" = [] }
  required_parameters = ["owner"]
  min_wrapping_ttl    = "1m"
  max_wrapping_ttl    = 3600
}`,
			want: []Rule{{
				Path:               "secret/+/config",
				Capabilities:       CapCreate | CapUpdate,
				AllowedParameters:  map[string][]any{"*": {}, "color": {"red", "blu*", 3.0, true}},
				DeniedParameters:   map[string][]any{"admin": {}},
				RequiredParameters: []string{"owner"},
				MinWrappingTTL:     time.Minute,
				MaxWrappingTTL:     time.Hour,
			}},
		},
		{
			name: "ttl forms",
			src: `
path "a" {
  capabilities     = ["read"]
  min_wrapping_ttl = "90"
  max_wrapping_ttl = "2d"
}
path "b" {
  capabilities     = ["read"]
  max_wrapping_ttl = "1h30m"
}`,
			want: []Rule{
				{Path: "a", Capabilities: CapRead, MinWrappingTTL: 90 * time.Second, MaxWrappingTTL: 48 * time.Hour},
				{Path: "b", Capabilities: CapRead, MaxWrappingTTL: 90 * time.Minute},
			},
		},
		{
			name: "empty capabilities and literal plus",
			src: `
path "auth/userpass/users/a+b" { capabilities = [] }
# only a comment here
name = "ignored"
`,
			want: []Rule{{Path: "auth/userpass/users/a+b"}},
		},
		{
			name: "comments only",
			src:  "# nothing\n",
			want: nil,
		},
		{
			name: "json",
			src: `{
  "path": {
    "secret/*": {"capabilities": ["read", "list"]},
    "secret/+/config": {
      "capabilities": ["update"],
      "allowed_parameters": {"color": ["red", 1, null, ["x"]]},
      "min_wrapping_ttl": "5m"
    }
  }
}`,
			want: []Rule{
				{Path: "secret/*", Capabilities: CapRead | CapList},
				{
					Path:              "secret/+/config",
					Capabilities:      CapUpdate,
					AllowedParameters: map[string][]any{"color": {"red", 1.0, nil, []any{"x"}}},
					MinWrappingTTL:    5 * time.Minute,
				},
			},
		},
		{
			name: "json strings are literal",
			src:  `  {"path": [{"secret/a": {"capabilities": ["read"], "allowed_parameters": {"v": ["${x}"]}}}]}`,
			want: []Rule{{Path: "secret/a", Capabilities: CapRead, AllowedParameters: map[string][]any{"v": {"${x}"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse("Test-Policy", tt.src)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if p.Name != "test-policy" || p.Raw != tt.src {
				t.Errorf("Parse() Name, Raw = %q, %q; want normalized name and the source", p.Name, p.Raw)
			}
			if diff := cmp.Diff(tt.want, p.Rules); diff != "" {
				t.Errorf("Parse() rules mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // substrings the error must hold
	}{
		{"empty", "  \n", []string{"policy is empty"}},
		{"syntax", "path \"a\" {\n  capabilities = [\"read\"\n}", []string{"line 3"}},
		{"unknown key", "path \"a\" {\n  capabilities = [\"read\"]\n  capabilites = [\"list\"]\n}", []string{"line 3", `"capabilites"`, "a path block takes capabilities, allowed_parameters"}},
		{"unknown block", "path \"a\" { capabilities = [\"read\"] }\n\npolicy \"b\" {}", []string{"line 3", `"policy"`}},
		{"unknown top attribute", "foo = 1\n", []string{"line 1", `"foo"`}},
		{"unknown capability", "path \"a\" {\n\n  capabilities = [\"reed\"]\n}", []string{"line 3", `unknown capability "reed"`, "create, read"}},
		{"capabilities not list", "path \"a\" {\n  capabilities = \"read\"\n}", []string{"line 2", "list of strings"}},
		{"bad old policy", "path \"a\" {\n  policy = \"admin\"\n}", []string{"line 2", `policy "admin"`}},
		{"glob in the middle", "\npath \"secret/*/x\" { capabilities = [\"read\"] }", []string{"line 2", `"*" is only allowed at the end`}},
		{"plus star", "path \"secret/+*\" { capabilities = [\"read\"] }", []string{"line 1", `"+*" is not allowed`}},
		{"empty path", "path \"\" { capabilities = [\"read\"] }", []string{"line 1", "path is empty"}},
		{"slash path", "path \"/\" { capabilities = [\"read\"] }", []string{"line 1", "path is empty"}},
		{"unknown template parameter", "path \"secret/{{identity.entity.ip}}/*\" { capabilities = [\"read\"] }", []string{"line 1", `unknown template parameter "identity.entity.ip"`, "identity.entity.id, identity.entity.name"}},
		{"unclosed template", "\npath \"secret/{{identity.entity.id/*\" { capabilities = [\"read\"] }", []string{"line 2", `"{{" is not closed`}},
		{"stray template close", "path \"secret/x}}/{{identity.entity.id}}\" { capabilities = [\"read\"] }", []string{"line 1", `"}}" without a matching "{{"`}},
		{"glob after template", "path \"secret/{{identity.entity.id}}*/x\" { capabilities = [\"read\"] }", []string{"line 1", `"*" is only allowed at the end`}},
		{"bad ttl", "path \"a\" {\n  capabilities = [\"read\"]\n  min_wrapping_ttl = \"soon\"\n}", []string{"line 3", "min_wrapping_ttl", `invalid duration "soon"`}},
		{"negative ttl", "path \"a\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = -5\n}", []string{"line 3", "non-negative"}},
		{"fractional ttl", "path \"a\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = 1.5\n}", []string{"line 3", "whole"}},
		{"max below min", "path \"a\" {\n  capabilities = [\"read\"]\n  min_wrapping_ttl = \"10m\"\n  max_wrapping_ttl = \"1m\"\n}", []string{"line 4", "max_wrapping_ttl (1m0s) is less than min_wrapping_ttl (10m0s)"}},
		{"params not map", "path \"a\" {\n  capabilities = [\"update\"]\n  allowed_parameters = [\"x\"]\n}", []string{"line 3", "must be a map"}},
		{"param values not list", "path \"a\" {\n  capabilities = [\"update\"]\n  denied_parameters = { x = \"y\" }\n}", []string{"line 3", `values of "x" must be a list`}},
		{"param named twice", "path \"a\" {\n  capabilities = [\"update\"]\n  allowed_parameters = { X = [], x = [] }\n}", []string{"line 3", `parameter "x" twice`}},
		{"required not strings", "path \"a\" {\n  capabilities = [\"update\"]\n  required_parameters = [1]\n}", []string{"line 3", "list of strings"}},
		{"enterprise key", "path \"a\" {\n  capabilities = [\"read\"]\n  mfa_methods = [\"x\"]\n}", []string{"line 3", "mfa_methods is not supported"}},
		{"variables", "path \"a\" {\n  capabilities = [var.x]\n}", []string{"line 2", "ariables not allowed"}},
		{"json unknown key", "{\"path\": {\"a\": {\n\"capabilities\": [\"read\"],\n\"foo\": 1}}}", []string{"line 3", `"foo"`}},
		{"json bad capability", "{\"path\": {\"a\": {\n\"capabilities\": [\"all\"]}}}", []string{"line 2", `unknown capability "all"`}},
		{"json syntax", "{\"path\": {\"a\": \n}", []string{"line 2"}},
		{
			"several problems at once",
			"path \"a\" {\n  capabilities = [\"nope\"]\n}\npath \"b*c\" {\n  capabilities = [\"read\"]\n}",
			[]string{"line 2", `unknown capability "nope"`, "line 4", `"*" is only allowed at the end`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse("p", tt.src)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.src, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.src, err, w)
				}
			}
		})
	}
}

func TestParseName(t *testing.T) {
	t.Parallel()
	const src = `path "a" { capabilities = ["read"] }`
	tests := []struct {
		name    string
		want    string
		wantErr string
	}{
		{name: "  Ops-Team ", want: "ops-team"},
		{name: "teams/payments.v2_ro", want: "teams/payments.v2_ro"},
		{name: "root", wantErr: `"root" is reserved`},
		{name: " ROOT", wantErr: `"root" is reserved`},
		{name: "", wantErr: "empty"},
		{name: "a b", wantErr: "character ' '"},
		{name: "a,b", wantErr: "character ','"},
		{name: "/a", wantErr: "empty segment"},
		{name: "a//b", wantErr: "empty segment"},
		{name: "a/", wantErr: "empty segment"},
		{name: "a/../b", wantErr: `".." segment`},
		{name: strings.Repeat("a", 129), wantErr: "limit is 128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			verr := ValidName(tt.name)
			p, err := Parse(tt.name, src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Parse(%q, ...) error = %v, want one containing %q", tt.name, err, tt.wantErr)
				}
				if verr == nil || verr.Error() != err.Error() {
					t.Errorf("ValidName(%q) = %v, want the same error as Parse (%v)", tt.name, verr, err)
				}
				return
			}
			if err != nil || verr != nil {
				t.Fatalf("Parse(%q) error = %v, ValidName = %v; want none", tt.name, err, verr)
			}
			if p.Name != tt.want {
				t.Errorf("Parse(%q).Name = %q, want %q", tt.name, p.Name, tt.want)
			}
		})
	}
}

// TestParseJSONMatchesHCL checks that the JSON form of the testdata policy
// parses to the same rules as the HCL form.
func TestParseJSONMatchesHCL(t *testing.T) {
	t.Parallel()
	h, err := Parse("p", readTestdata(t, "policy.hcl"))
	if err != nil {
		t.Fatalf("Parse(policy.hcl) error = %v", err)
	}
	j, err := Parse("p", readTestdata(t, "policy.json"))
	if err != nil {
		t.Fatalf("Parse(policy.json) error = %v", err)
	}
	if len(h.Rules) == 0 {
		t.Fatal("policy.hcl has no rules")
	}
	if diff := cmp.Diff(h.Rules, j.Rules); diff != "" {
		t.Errorf("HCL and JSON rules differ (-hcl +json):\n%s", diff)
	}
}

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	p, err := Parse(DefaultPolicyName, DefaultPolicy())
	if err != nil {
		t.Fatalf("Parse(DefaultPolicy()) error = %v", err)
	}
	acl := NewACL([]*Policy{p})
	tests := []struct {
		path, op string
		want     bool
	}{
		{"auth/token/lookup-self", "read", true},
		{"auth/token/lookup-self", "update", false},
		{"auth/token/renew-self", "update", true},
		{"auth/token/revoke-self", "update", true},
		{"auth/token/create", "update", false},
		{"auth/token/lookup", "update", false},
		{"sys/capabilities-self", "update", true},
		{"sys/internal/ui/resultant-acl", "read", true},
		{"sys/leases/renew", "update", true},
		{"sys/leases/lookup", "update", true},
		{"sys/leases/revoke", "update", false},
		{"sys/renew", "update", true},
		{"cubbyhole/notes", "create", true},
		{"cubbyhole/notes", "read", true},
		{"cubbyhole/notes", "update", true},
		{"cubbyhole/notes", "delete", true},
		{"cubbyhole/", "list", true},
		{"cubbyhole/notes", "patch", false},
		{"sys/wrapping/wrap", "update", true},
		{"sys/wrapping/lookup", "update", true},
		{"sys/wrapping/unwrap", "update", true},
		{"sys/wrapping/rewrap", "update", false},
		{"sys/tools/hash", "update", true},
		{"sys/tools/hash/sha2-512", "update", true},
		{"sys/tools/random", "update", false},
		{"secret/data/app", "read", false},
		{"sys/policies/acl/default", "update", false},
	}
	for _, tt := range tests {
		if got := acl.Check(Request{Path: tt.path, Operation: tt.op}); got.Allowed != tt.want {
			t.Errorf("default policy: Check(%s %s).Allowed = %v, want %v (%s)", tt.op, tt.path, got.Allowed, tt.want, got.Denied)
		}
	}
}
