package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// listPackages returns the module's packages as `go list` sees them.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-json", module+"...")
	out, err := cmd.Output()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	} else if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func TestLayering(t *testing.T) {
	t.Parallel()
	for _, v := range check(listPackages(t), allowed(), depRules()) {
		t.Error(v)
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		if p.Doc == "" {
			t.Errorf("package %s (%s) has no package comment", p.ImportPath, p.Dir)
		}
	}
}

// graph builds a synthetic import graph from each package's imports.
// Paths starting with "internal/" or "cmd/" are the module's; the others
// stand for packages outside it. Deps are computed from the imports.
func graph(imports map[string][]string) []pkg {
	full := func(p string) string {
		if strings.HasPrefix(p, "internal/") || strings.HasPrefix(p, "cmd/") {
			return module + p
		}
		return p
	}
	var deps func(p string) []string
	deps = func(p string) []string {
		var out []string
		for _, imp := range imports[p] {
			out = append(out, full(imp))
			out = append(out, deps(imp)...)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	var pkgs []pkg
	for p, imps := range imports {
		fi := make([]string, len(imps))
		for i, imp := range imps {
			fi[i] = full(imp)
		}
		pkgs = append(pkgs, pkg{ImportPath: full(p), Imports: fi, Deps: deps(p)})
	}
	return pkgs
}

// anything allows every package to import every package, so that a test
// sees the dependency rules alone.
func anything() map[string][]string { return map[string][]string{"...": {"..."}} }

func TestCheckCatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		imports map[string][]string
		allow   map[string][]string
		rules   []depRule
		want    []string // substrings of the messages, one per message; none for a clean graph
	}{
		{
			name:    "a package not in the table",
			imports: map[string][]string{"internal/new": {"internal/logical"}, "internal/logical": nil},
			allow:   map[string][]string{"internal/logical": nil},
			want:    []string{`internal/new is not in the layering table: add "internal/new": {"internal/logical"} to allowed()`},
		},
		{
			name:    "an import its entry does not list",
			imports: map[string][]string{"internal/core": {"internal/httpapi"}, "internal/httpapi": nil},
			allow:   map[string][]string{"internal/core": nil, "internal/httpapi": {"internal/core"}},
			want:    []string{`internal/core imports internal/httpapi, which its entry "internal/core" in allowed() does not list`},
		},
		{
			name:    "a pattern entry covers the packages below it",
			imports: map[string][]string{"internal/engine/kv": {"internal/logical"}, "internal/engine/pki": {"internal/core"}, "internal/logical": nil, "internal/core": nil},
			allow:   map[string][]string{"internal/engine/...": {"internal/logical"}, "internal/logical": nil, "internal/core": nil},
			want:    []string{`internal/engine/pki imports internal/core, which its entry "internal/engine/..." in allowed() does not list`},
		},
		{
			name:    "an entry for no package",
			imports: map[string][]string{"internal/logical": nil},
			allow:   map[string][]string{"internal/logical": nil, "internal/gone": {"internal/logical"}},
			want:    []string{`allowed() has an entry "internal/gone" that matches no package`},
		},
		{
			name:    "engines never import each other",
			imports: map[string][]string{"internal/engine/kv": {"internal/engine/pki"}, "internal/engine/pki": {"internal/logical"}},
			allow:   anything(),
			rules:   depRules(),
			want: []string{
				"internal/engine/kv depends on internal/engine/pki (internal/engine/kv -> internal/engine/pki), but engines never import each other",
				"internal/engine/kv depends on internal/engine/pki (internal/engine/kv -> internal/engine/pki), but engines know only",
			},
		},
		{
			name:    "auth methods never import each other",
			imports: map[string][]string{"internal/auth/jwt": {"internal/auth/kubernetes"}, "internal/auth/kubernetes": nil},
			allow:   anything(),
			rules:   depRules(),
			want: []string{
				"internal/auth/jwt depends on internal/auth/kubernetes (internal/auth/jwt -> internal/auth/kubernetes), but auth methods never import each other",
				"internal/auth/jwt depends on internal/auth/kubernetes (internal/auth/jwt -> internal/auth/kubernetes), but auth methods know only",
			},
		},
		{
			name:    "an engine may import its own subpackages",
			imports: map[string][]string{"internal/engine/kv": {"internal/engine/kv/wal", "internal/logical/framework"}, "internal/engine/kv/wal": {"internal/logical"}, "internal/logical/framework": {"internal/logical"}},
			allow:   anything(),
			rules:   depRules(),
		},
		{
			name: "a violation is reported where it starts",
			imports: map[string][]string{
				"internal/agent":   {"internal/core"},
				"internal/core":    {"internal/barrier", "internal/storage"},
				"internal/barrier": {"internal/storage"},
			},
			allow: anything(),
			rules: depRules(),
			want:  []string{"internal/agent depends on internal/core (internal/agent -> internal/core), but the agent is a client like any other"},
		},
		{
			name: "an engine reaches core through another package",
			imports: map[string][]string{
				"internal/engine/kv":         {"internal/logical/framework"},
				"internal/logical/framework": {"internal/core"},
				"internal/core":              nil,
			},
			allow: anything(),
			rules: depRules(),
			want: []string{
				"internal/engine/kv depends on internal/core (internal/engine/kv -> internal/logical/framework -> internal/core), but engines know only",
				"internal/logical/framework depends on internal/core (internal/logical/framework -> internal/core), but the framework builds on the contract alone",
			},
		},
		{
			name: "the binary reaches testing through a library",
			imports: map[string][]string{
				"cmd/coffer":      {"internal/server"},
				"internal/server": {"example.com/lib"},
				"example.com/lib": {"testing"},
			},
			allow: anything(),
			rules: depRules(),
			want: []string{
				"cmd/coffer depends on testing (cmd/coffer -> internal/server -> ... -> testing), but the coffer binary carries no test code",
				"cmd/coffer depends on testing (cmd/coffer -> internal/server -> ... -> testing), but code that ships never carries test code",
				"internal/server depends on testing (internal/server -> ... -> testing), but code that ships never carries test code",
			},
		},
		{
			name:    "the binary includes a test helper",
			imports: map[string][]string{"cmd/coffer": {"internal/testdb"}, "internal/testdb": {"testing"}},
			allow:   anything(),
			rules:   depRules(),
			want: []string{
				"cmd/coffer depends on internal/testdb (cmd/coffer -> internal/testdb), but the coffer binary carries no test code",
				"cmd/coffer depends on internal/testdb (cmd/coffer -> internal/testdb), but code that ships never carries test code",
				// testing comes in through testdb: reported once, as testdb.
			},
		},
		{
			name:    "test helpers may import testing",
			imports: map[string][]string{"internal/testserver": {"internal/testdb", "net/http/httptest"}, "internal/testdb": {"testing"}},
			allow:   anything(),
			rules:   depRules(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := check(graph(tt.imports), tt.allow, tt.rules)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(v string) bool { return strings.Contains(v, w) }) {
					t.Errorf("no violation says %q; got:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

// concrete returns a package path that pattern matches, ending in leaf
// when the pattern stands for many.
func concrete(pattern, leaf string) string {
	if pattern == "..." {
		return "internal/" + leaf
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return base + "/" + leaf
	}
	return pattern
}

// TestEveryDepRuleCatches feeds each rule of depRules, alone, a graph in
// which a package it covers depends on each package it forbids, and on a
// package outside its only list: each must be reported with the rule's
// reason. A rule added to the table is covered without a new case.
func TestEveryDepRuleCatches(t *testing.T) {
	t.Parallel()
	for _, r := range depRules() {
		from := concrete(r.from, "from")
		if !match(r.from, from) || matchAny(r.except, from) {
			t.Fatalf("rule from %q: the package %s does not stand for it", r.from, from)
		}
		var bad []string
		for _, n := range r.not {
			bad = append(bad, concrete(n, "dep"))
		}
		bad = append(bad, r.notStd...)
		if r.only != nil {
			bad = append(bad, "internal/outside-the-only-list")
		}
		if len(bad) == 0 {
			t.Errorf("rule from %q (%s) forbids nothing", r.from, r.why)
		}
		for _, b := range bad {
			b = concrete(b, "dep")
			got := check(graph(map[string][]string{from: {b}}), anything(), []depRule{r})
			want := from + " depends on " + b + " (" + from + " -> " + b + "), but " + r.why
			if !slices.Contains(got, want) {
				t.Errorf("rule from %q: a graph where %s imports %s gave %q, want %q", r.from, from, b, got, want)
			}
		}
	}
}
