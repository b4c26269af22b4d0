package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/coffer-secrets/coffer/"

// rule forbids packages under importer (a path below the module, "" for
// all) from importing packages whose path starts with forbidden. With
// direct set only the package's own imports count; otherwise everything it
// depends on does.
type rule struct {
	importer  string
	forbidden []string
	direct    bool
	except    []string // importer packages the rule does not cover
}

var rules = []rule{
	// Engines and auth methods know only the logical contract.
	{importer: "internal/engine/", forbidden: []string{"internal/core", "internal/httpapi", "internal/router", "internal/barrier", "internal/token", "internal/server", "internal/storage", "testing"}},
	{importer: "internal/auth/", forbidden: []string{"internal/core", "internal/httpapi", "internal/router", "internal/barrier", "internal/token", "internal/server", "internal/storage", "testing"}},
	// The contract itself imports nothing of ours.
	// (logicaltest, a test harness, may borrow storage's key rules.)
	{importer: "internal/logical", forbidden: []string{"internal/core", "internal/httpapi", "internal/engine/", "internal/auth/", "internal/storage", "internal/barrier", "internal/router", "internal/token", "internal/server"}, except: []string{"internal/logical/logicaltest"}},
	// Core never reaches up, nor into a particular engine.
	{importer: "internal/core", forbidden: []string{"internal/httpapi", "internal/cli", "internal/server", "internal/engine/", "internal/auth/", "internal/builtin", "testing"}},
	// The identity store is built like an engine.
	{importer: "internal/identity", forbidden: []string{"internal/core", "internal/httpapi", "internal/router", "internal/barrier", "internal/token", "internal/server", "internal/storage", "testing"}},
	// Security packages stay small.
	{importer: "internal/barrier", forbidden: []string{"internal/core", "internal/logical", "internal/router", "internal/token", "internal/httpapi", "internal/server"}},
	{importer: "internal/shamir", forbidden: []string{"internal/"}},
	// The snapshot format is read by the CLI too: it needs nothing of ours.
	{importer: "internal/snapshot", forbidden: []string{"internal/"}},
	// Reading the machine's description needs nothing of ours.
	{importer: "internal/hostinfo", forbidden: []string{"internal/"}},
	{importer: "internal/seal", forbidden: []string{"internal/core", "internal/logical", "internal/httpapi", "internal/server"}},
	{importer: "internal/token", forbidden: []string{"internal/core", "internal/httpapi", "internal/server", "internal/engine/"}},
	// Each storage backend imports only the storage interface.
	{importer: "internal/storage/", forbidden: []string{"internal/core", "internal/barrier", "internal/logical", "internal/router", "internal/server"}},
	// The HTTP layer never reaches storage or an engine itself.
	{importer: "internal/httpapi", forbidden: []string{"internal/storage", "internal/engine/", "internal/auth/", "internal/barrier", "internal/server"}, direct: true},
	// The agent is a client like any other: HTTP only.
	{importer: "internal/agent", forbidden: []string{"internal/core", "internal/server", "internal/httpapi", "internal/engine/", "internal/auth/", "internal/storage", "internal/barrier", "internal/token", "internal/lease", "internal/audit"}},
	// Operator tools work on storage as stored: never through the core or
	// the barrier, and they are run by the server's binary, not by it.
	{importer: "internal/migrate", forbidden: []string{"internal/core", "internal/barrier", "internal/httpapi", "internal/server", "internal/cli", "internal/seal"}},
	{importer: "internal/diagnose", forbidden: []string{"internal/core", "internal/barrier", "internal/httpapi", "internal/server", "internal/cli", "internal/seal"}},
	// The CLI talks HTTP only.
	{importer: "internal/cli", forbidden: []string{"internal/core", "internal/server", "internal/httpapi", "internal/engine/", "internal/storage", "internal/barrier"}},
}

type pkg struct {
	ImportPath string
	Dir        string
	Doc        string
	Name       string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-json", module+"...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
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

func TestForbiddenImports(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		for _, r := range rules {
			if !strings.HasPrefix(rel, r.importer) || slices.Contains(r.except, rel) {
				continue
			}
			imports := p.Deps
			if r.direct {
				imports = p.Imports
			}
			for _, imp := range imports {
				irel, ours := strings.CutPrefix(imp, module)
				for _, f := range r.forbidden {
					bad := false
					if f == "testing" {
						bad = imp == "testing"
					} else {
						bad = ours && strings.HasPrefix(irel, f) && !strings.HasPrefix(irel, rel+"/") && irel != rel
					}
					if bad {
						t.Errorf("%s imports %s, which rule %q forbids", rel, imp, r.importer+" -/-> "+f)
					}
				}
			}
		}
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
