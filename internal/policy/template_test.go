package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// alice is the identity most template tests resolve for.
func alice() *Identity {
	return &Identity{
		EntityID:   "e-1",
		EntityName: "alice",
		Metadata:   map[string]string{"team": "red", "empty": "", "wide": "a/b", "star": "x*", "plus": "+", "dots": ".."},
		Aliases: []IdentityAlias{
			{MountAccessor: "auth_userpass_1", ID: "al-1", Name: "alice", Metadata: map[string]string{"k": "v"}, CustomMetadata: map[string]string{"c": "cv"}},
		},
		Groups: []IdentityGroup{
			{ID: "g-1", Name: "devs", Metadata: map[string]string{"env": "dev"}},
			{ID: "g-2", Name: "all", Metadata: map[string]string{"env": "prod"}},
		},
	}
}

func TestResolvePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string
		id   *Identity
		want string // "" means the rule is dropped
	}{
		{"entity id", "secret/{{identity.entity.id}}/*", alice(), "secret/e-1/*"},
		{"entity name", "secret/data/{{identity.entity.name}}/*", alice(), "secret/data/alice/*"},
		{"spaces inside braces", "secret/{{ identity.entity.name }}", alice(), "secret/alice"},
		{"entity metadata", "secret/{{identity.entity.metadata.team}}/x", alice(), "secret/red/x"},
		{"alias id", "a/{{identity.entity.aliases.auth_userpass_1.id}}", alice(), "a/al-1"},
		{"alias name", "auth/userpass/users/{{identity.entity.aliases.auth_userpass_1.name}}/password", alice(), "auth/userpass/users/alice/password"},
		{"alias metadata", "a/{{identity.entity.aliases.auth_userpass_1.metadata.k}}", alice(), "a/v"},
		{"alias custom metadata", "a/{{identity.entity.aliases.auth_userpass_1.custom_metadata.c}}", alice(), "a/cv"},
		{"group name by id", "g/{{identity.groups.ids.g-1.name}}/*", alice(), "g/devs/*"},
		{"group metadata by id", "g/{{identity.groups.ids.g-2.metadata.env}}", alice(), "g/prod"},
		{"group id by name", "g/{{identity.groups.names.devs.id}}", alice(), "g/g-1"},
		{"group metadata by name", "g/{{identity.groups.names.all.metadata.env}}", alice(), "g/prod"},
		{"two parameters in one segment", "s/{{identity.entity.name}}-{{identity.entity.metadata.team}}*", alice(), "s/alice-red*"},
		{"plus inside a segment is literal", "s/{{identity.entity.metadata.plus}}x", alice(), "s/+x"},
		{"prefix glob after a value", "s/{{identity.entity.name}}*", alice(), "s/alice*"},

		{"no identity", "secret/{{identity.entity.id}}", nil, ""},
		{"missing metadata key", "secret/{{identity.entity.metadata.nope}}", alice(), ""},
		{"empty metadata value", "secret/{{identity.entity.metadata.empty}}/x", alice(), ""},
		{"missing alias", "a/{{identity.entity.aliases.auth_other.name}}", alice(), ""},
		{"missing group", "g/{{identity.groups.names.admins.id}}", alice(), ""},
		{"missing alias metadata", "a/{{identity.entity.aliases.auth_userpass_1.metadata.nope}}", alice(), ""},
		{"entity without a name", "a/{{identity.entity.name}}", &Identity{EntityID: "e"}, ""},
		{"value with a slash would add a segment", "secret/{{identity.entity.metadata.wide}}-private/*", alice(), ""},
		{"value with a star would add a glob", "secret/{{identity.entity.metadata.star}}", alice(), ""},
		{"value making a plus segment", "secret/{{identity.entity.metadata.plus}}/x", alice(), ""},
		{"value making a plus glob", "secret/{{identity.entity.metadata.plus}}*", alice(), ""},
		{"value making a dot-dot segment", "secret/{{identity.entity.metadata.dots}}/x", alice(), ""},
		{"value with a template", "secret/{{identity.entity.name}}", &Identity{EntityName: "{{identity.entity.id}}", EntityID: "e"}, ""},
		{"value with a control character", "secret/{{identity.entity.name}}", &Identity{EntityName: "a\nb"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, "p", `path "`+tt.path+`" { capabilities = ["read"] }`)
			if !p.Templated() {
				t.Fatalf("Templated() = false for %q", tt.path)
			}
			r := p.Resolve(tt.id)
			got := ""
			if len(r.Rules) == 1 {
				got = r.Rules[0].Path
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %q, want %q", tt.path, got, tt.want)
			}
			if p.Rules[0].Path != strings.TrimLeft(tt.path, "/") {
				t.Errorf("Resolve changed the policy: %q", p.Rules[0].Path)
			}
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, want string
	}{
		{"unknown root", "a/{{entity.id}}", "unknown template parameter"},
		{"unknown entity field", "a/{{identity.entity.email}}", "unknown template parameter"},
		{"metadata without key", "a/{{identity.entity.metadata.}}", "unknown template parameter"},
		{"alias without field", "a/{{identity.entity.aliases.acc}}", "unknown template parameter"},
		{"alias unknown field", "a/{{identity.entity.aliases.acc.email}}", "unknown template parameter"},
		{"group id field by id", "a/{{identity.groups.ids.g.id}}", "unknown template parameter"},
		{"group name field by name", "a/{{identity.groups.names.g.name}}", "unknown template parameter"},
		{"group without selector", "a/{{identity.groups.names}}", "unknown template parameter"},
		{"empty parameter", "a/{{}}", "unknown template parameter"},
		{"slash in parameter", "a/{{identity.entity.metadata.a/b}}", "unknown template parameter"},
		{"nested", "a/{{identity.entity.{{x}}}}", "do not nest"},
		{"unclosed", "a/{{identity.entity.id", "not closed"},
		{"close first", "a/}}{{identity.entity.id}}", "without a matching"},
		{"close after", "a/{{identity.entity.id}}}}", "without a matching"},
		{"too many", strings.Repeat("{{identity.entity.id}}", maxTemplateParams+1), "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("p", `path "`+tt.path+`" { capabilities = ["read"] }`)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestTemplatedACL(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "own", `
path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }
path "secret/data/team/{{identity.entity.metadata.team}}" { capabilities = ["read"] }
path "secret/data/shared" { capabilities = ["read"] }
`)
	checks := []struct {
		name string
		id   *Identity
		path string
		want bool
	}{
		{"own path", alice(), "secret/data/alice/db", true},
		{"someone else's", alice(), "secret/data/bob/db", false},
		{"team path", alice(), "secret/data/team/red", true},
		{"other team", alice(), "secret/data/team/blue", false},
		{"plain rule kept", alice(), "secret/data/shared", true},
		{"literal template path is no grant", nil, "secret/data/{{identity.entity.name}}/db", false},
		{"no entity keeps plain rules", nil, "secret/data/shared", true},
		{"no entity drops templated", nil, "secret/data/alice/db", false},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			acl := NewACL(ResolveAll([]*Policy{p}, c.id))
			if got := acl.Check(Request{Path: c.path, Operation: "read"}).Allowed; got != c.want {
				t.Errorf("read %s = %v, want %v", c.path, got, c.want)
			}
		})
	}
	// An unresolved policy given to NewACL grants nothing by template.
	if NewACL([]*Policy{p}).Check(Request{Path: "secret/data/{{identity.entity.name}}/x", Operation: "read"}).Allowed {
		t.Error("NewACL treated a template as a literal path")
	}
}

func TestResolveAll(t *testing.T) {
	t.Parallel()
	plain := mustParse(t, "plain", `path "a" { capabilities = ["read"] }`)
	tmpl := mustParse(t, "tmpl", `path "b/{{identity.entity.id}}" { capabilities = ["read"] }`)
	in := []*Policy{plain, nil}
	if got := ResolveAll(in, alice()); &got[0] != &in[0] {
		t.Error("ResolveAll copied a set without templates")
	}
	got := ResolveAll([]*Policy{plain, tmpl}, alice())
	want := []Rule{{Path: "a", Capabilities: CapRead}, {Path: "b/e-1", Capabilities: CapRead}}
	var rules []Rule
	for _, p := range got {
		rules = append(rules, p.Rules...)
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("ResolveAll rules (-want +got):\n%s", diff)
	}
	if got[0] != plain {
		t.Error("ResolveAll copied a policy without templates")
	}
}

// FuzzTemplate checks that resolving never yields a path that Parse would
// refuse, that a value never adds a segment or a glob, and that parsing a
// templated path is deterministic.
func FuzzTemplate(f *testing.F) {
	f.Add("secret/{{identity.entity.name}}/*", "alice")
	f.Add("s/{{identity.entity.metadata.k}}-{{identity.groups.names.g.id}}*", "x")
	f.Add("a/{{ identity.entity.aliases.acc.metadata.m }}", "+")
	f.Add("a/{{identity.groups.ids.g.name}}+/x", "..")
	f.Add("{{}}}}{{", "a/b")
	f.Add("a}}/b", "c")
	f.Fuzz(func(t *testing.T, path, value string) {
		// Parse stores paths without their leading slash.
		path = strings.TrimLeft(path, "/")
		segs, err := parseTemplate(path)
		if err != nil || !strings.Contains(path, "{{") {
			return
		}
		id := &Identity{
			EntityID: value, EntityName: value,
			Metadata: map[string]string{"k": value, "m": value},
			Aliases:  []IdentityAlias{{MountAccessor: "acc", ID: value, Name: value, Metadata: map[string]string{"m": value}}},
			Groups:   []IdentityGroup{{ID: "g", Name: "g", Metadata: map[string]string{"m": value}}},
		}
		got, ok := resolvePath(path, id)
		if !ok {
			return
		}
		if _, err := checkRulePath(path); err != nil {
			t.Fatalf("resolved %q, which Parse refuses: %v", path, err)
		}
		if c, err := checkRulePath(got); err != nil || c != got {
			t.Fatalf("resolved %q to %q, which Parse refuses: %v", path, got, err)
		}
		// Every value is free of "/" and "*", so the result has as many
		// segments and globs as the template's literal text.
		lit := ""
		for _, s := range segs {
			lit += s.text
		}
		if strings.Count(got, "/") != strings.Count(lit, "/") || strings.Count(got, "*") != strings.Count(lit, "*") {
			t.Fatalf("resolving %q with %q changed the path's shape: %q", path, value, got)
		}
		if strings.Contains(got, "{{") {
			t.Fatalf("resolved %q to %q, still templated", path, got)
		}
	})
}

// TestLiteralClosingBraces checks that a path with "}}" and no "{{", which
// Parse accepted before templating, still parses as a literal path.
func TestLiteralClosingBraces(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "p", `path "secret/x}}" { capabilities = ["read"] }`)
	if p.Templated() || !NewACL([]*Policy{p}).Check(Request{Path: "secret/x}}", Operation: "read"}).Allowed {
		t.Errorf("literal path with }} = %+v", p.Rules)
	}
}

// TestTemplatedDenyFailsClosed: a deny rule whose value is unsafe is not
// left out (that would let the policy's grants through); it denies the
// path's text before its first parameter. A missing value still drops it,
// as Vault does.
func TestTemplatedDenyFailsClosed(t *testing.T) {
	t.Parallel()
	p := mustParse(t, "guard", `
path "secret/data/*" { capabilities = ["read"] }
path "secret/data/teams/{{identity.entity.metadata.wide}}/*" { capabilities = ["deny"] }
path "secret/data/other/{{identity.entity.metadata.missing}}/*" { capabilities = ["deny"] }
`)
	acl := NewACL(ResolveAll([]*Policy{p}, alice()))
	checks := []struct {
		path string
		want bool
	}{
		{"secret/data/teams/a/b/db", false},
		{"secret/data/teams/anything", false},
		{"secret/data/public", true},
		{"secret/data/other/x/db", true},
	}
	for _, c := range checks {
		if got := acl.Check(Request{Path: c.path, Operation: "read"}).Allowed; got != c.want {
			t.Errorf("read %s = %v, want %v", c.path, got, c.want)
		}
	}
	// A grant with the same unsafe value is still left out.
	g := mustParse(t, "grant", `path "secret/data/teams/{{identity.entity.metadata.wide}}/*" { capabilities = ["read"] }`)
	if NewACL(ResolveAll([]*Policy{g}, alice())).Check(Request{Path: "secret/data/teams/a/b/db", Operation: "read"}).Allowed {
		t.Error("a grant with an unsafe value was kept")
	}
}
