package archtest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// module is the import path prefix of Coffer's own packages.
const module = "github.com/coffer-secrets/coffer/"

// pkg is one package of the import graph, as `go list -json` reports it.
type pkg struct {
	ImportPath string
	Dir        string
	Doc        string
	Imports    []string // its own imports (not its tests')
	Deps       []string // everything it depends on, directly or not
}

// depRule constrains everything the packages matching from depend on,
// directly or through other packages. The packages of a matching package's
// own unit (see unit) are never counted against it.
type depRule struct {
	from   string   // the packages the rule covers: a path or pattern
	except []string // packages from covers that the rule leaves out
	// only, when set, lists the module's packages they may depend on;
	// any other package of the module is a violation.
	only []string
	// not lists the module's packages they must not depend on, notStd
	// packages outside the module (the standard library's testing).
	not, notStd []string
	why         string // what the rule keeps true, for the message
}

// match reports whether path p matches pattern: the same path, or with a
// "/..." suffix that path and every path below it. "..." matches all.
func match(pattern, p string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

func matchAny(patterns []string, p string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return match(pat, p) })
}

// unit is the part of the tree that package p belongs to under pattern
// from: for "internal/engine/..." the engine's own directory
// (internal/engine/kv for internal/engine/kv/sub); for a plain path, that
// path. A rule never counts a package's own unit against it, so an engine
// may import its own subpackages but not another engine.
func unit(from, p string) string {
	base, ok := strings.CutSuffix(from, "/...")
	if !ok || from == "..." {
		return p
	}
	rest, ok := strings.CutPrefix(p, base+"/")
	if !ok {
		return p
	}
	first, _, _ := strings.Cut(rest, "/")
	return base + "/" + first
}

// entry returns the key of allow that covers package p: its exact path,
// or else the longest matching pattern; "" when none does.
func entry(allow map[string][]string, p string) string {
	if _, ok := allow[p]; ok {
		return p
	}
	best := ""
	for k := range allow {
		if strings.HasSuffix(k, "...") && match(k, p) && len(k) > len(best) {
			best = k
		}
	}
	return best
}

// check returns every way the import graph pkgs breaks the allow-list and
// the dependency rules, one message per violation, sorted. Only the
// module's packages are checked; their paths in allow and rules are
// relative to the module.
func check(pkgs []pkg, allow map[string][]string, rules []depRule) []string {
	graph := map[string]pkg{} // the module's packages by relative path
	for _, p := range pkgs {
		if rel, ok := strings.CutPrefix(p.ImportPath, module); ok {
			graph[rel] = p
		}
	}
	var out []string
	used := map[string]bool{}
	for _, rel := range slices.Sorted(maps.Keys(graph)) {
		p := graph[rel]
		ours := ownImports(p.Imports)
		key := entry(allow, rel)
		if key == "" {
			out = append(out, fmt.Sprintf("%s is not in the layering table: add %q: %s to allowed() in internal/archtest/layers_test.go (the module's packages it may import), or remove the package",
				rel, rel, goList(ours)))
			continue
		}
		used[key] = true
		for _, imp := range ours {
			if !matchAny(allow[key], imp) {
				out = append(out, fmt.Sprintf("%s imports %s, which its entry %q in allowed() does not list: remove the import, or add it to the entry if the layering allows it",
					rel, imp, key))
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(allow)) {
		if !used[key] {
			out = append(out, fmt.Sprintf("allowed() has an entry %q that matches no package: remove it", key))
		}
	}
	for _, r := range rules {
		for _, rel := range slices.Sorted(maps.Keys(graph)) {
			if !match(r.from, rel) || matchAny(r.except, rel) {
				continue
			}
			own := unit(r.from, rel)
			var bad []string
			for _, dep := range graph[rel].Deps {
				drel, ours := strings.CutPrefix(dep, module)
				switch {
				case !ours:
					if matchAny(r.notStd, dep) {
						bad = append(bad, dep)
					}
				case match(own+"/...", drel):
					// the package's own unit
				case matchAny(r.not, drel) || (r.only != nil && !matchAny(r.only, drel)):
					bad = append(bad, dep)
				}
			}
			// Report where the forbidden part starts: not a dependency
			// that comes in only through another one already reported.
			for _, dep := range bad {
				if slices.ContainsFunc(bad, func(b string) bool { return slices.Contains(graph[strings.TrimPrefix(b, module)].Deps, dep) }) {
					continue
				}
				out = append(out, fmt.Sprintf("%s depends on %s (%s), but %s", rel, strings.TrimPrefix(dep, module), chain(graph, rel, dep), r.why))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ownImports returns the module's packages among imports, relative.
func ownImports(imports []string) []string {
	var out []string
	for _, imp := range imports {
		if rel, ok := strings.CutPrefix(imp, module); ok {
			out = append(out, rel)
		}
	}
	return out
}

// goList writes paths as a Go string slice literal, for a message.
func goList(paths []string) string {
	if len(paths) == 0 {
		return "nil"
	}
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = fmt.Sprintf("%q", p)
	}
	return "{" + strings.Join(q, ", ") + "}"
}

// chain returns one import path from the module's package from to dep
// (a full import path), as "a -> b -> dep", so that a message shows where
// a dependency comes in. When the path leaves the module before it reaches
// dep, it ends with "-> ... -> dep".
func chain(graph map[string]pkg, from, dep string) string {
	steps := []string{from}
	for cur := from; ; {
		p := graph[cur]
		if slices.Contains(p.Imports, dep) {
			break
		}
		next := ""
		for _, imp := range ownImports(p.Imports) {
			if slices.Contains(graph[imp].Deps, dep) {
				next = imp
				break
			}
		}
		if next == "" {
			steps = append(steps, "...")
			break
		}
		steps = append(steps, next)
		cur = next
	}
	return strings.Join(append(steps, strings.TrimPrefix(dep, module)), " -> ")
}
