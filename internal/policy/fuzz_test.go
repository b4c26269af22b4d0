package policy

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func FuzzParse(f *testing.F) {
	f.Add(readTestdata(f, "policy.hcl"))
	f.Add(readTestdata(f, "policy.json"))
	f.Add(DefaultPolicy())
	f.Add(`path "a/+/b*" { policy = "write" }`)
	f.Add(`path "x" { allowed_parameters = { "*" = [[1, {a = null}], "b*"] } }`)
	f.Add(`{"path": [{"a": {"capabilities": ["deny"]}}, {"a": {"capabilities": []}}]}`)
	f.Add("path \"a\" {\n  min_wrapping_ttl = \"1.5s\"\n  max_wrapping_ttl = \"3d\"\n}")
	f.Add(`path "secret/{{identity.entity.name}}/{{ identity.groups.names.g.metadata.k }}*" { capabilities = ["read"] }`)
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse("fuzz", src)
		if err != nil {
			return
		}
		for _, r := range p.Rules {
			if r.Path == "" || r.Path[0] == '/' {
				t.Fatalf("Parse(%q) kept path %q", src, r.Path)
			}
			if i := strings.IndexByte(r.Path, '*'); i >= 0 && i != len(r.Path)-1 {
				t.Fatalf("Parse(%q) kept path %q with an inner glob", src, r.Path)
			}
			if r.Capabilities&CapDeny != 0 && (r.Capabilities != CapDeny || r.AllowedParameters != nil || r.MinWrappingTTL != 0) {
				t.Fatalf("Parse(%q) kept more than deny: %+v", src, r)
			}
			if r.MinWrappingTTL < 0 || r.MaxWrappingTTL < 0 || (r.MinWrappingTTL > 0 && r.MaxWrappingTTL > 0 && r.MaxWrappingTTL < r.MinWrappingTTL) {
				t.Fatalf("Parse(%q) kept bad TTLs: %+v", src, r)
			}
		}

		// Parsing is deterministic and the JSON form of the rules parses
		// back to the same rules.
		again, err := Parse("fuzz", p.Raw)
		if err != nil {
			t.Fatalf("Parse(Raw) error = %v", err)
		}
		if diff := cmp.Diff(p.Rules, again.Rules); diff != "" {
			t.Fatalf("Parse(%q) twice differs:\n%s", src, diff)
		}
		if js, ok := rulesJSON(p.Rules); ok {
			back, err := Parse("fuzz", js)
			if err != nil {
				t.Fatalf("Parse(JSON of %q) error = %v\nJSON: %s", src, err, js)
			}
			if diff := cmp.Diff(p.Rules, back.Rules); diff != "" {
				t.Fatalf("JSON round trip of %q differs (-hcl +json):\n%s\nJSON: %s", src, diff, js)
			}
		}

		// The compiled rules re-evaluate consistently: each rule's own
		// path (as a concrete request path) is governed as the reference
		// evaluator says.
		// Templated rules are resolved first, as core does.
		rp := p.Resolve(&Identity{EntityID: "id", EntityName: "name", Groups: []IdentityGroup{{ID: "g", Name: "g", Metadata: map[string]string{"k": "v"}}}})
		acl := NewACL([]*Policy{rp})
		ref := newRefACL([]*Policy{rp})
		for _, r := range rp.Rules {
			path := concretePath(r.Path)
			compareWithRef(t, acl, ref, path)
		}
	})
}

// concretePath turns a rule path into a request path it matches.
func concretePath(rule string) string {
	s := strings.TrimSuffix(rule, "*") + "x"
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		if seg == "+" {
			segs[i] = "seg"
		}
	}
	return strings.Join(segs, "/")
}

// rulesJSON renders rules as a JSON policy, or reports false when the
// rules hold text JSON cannot carry exactly.
func rulesJSON(rules []Rule) (string, bool) {
	var blocks []map[string]map[string]any
	for _, r := range rules {
		body := map[string]any{}
		if caps := r.Capabilities.Strings(); caps != nil {
			body["capabilities"] = caps
		} else {
			body["capabilities"] = []string{}
		}
		if r.AllowedParameters != nil {
			body["allowed_parameters"] = r.AllowedParameters
		}
		if r.DeniedParameters != nil {
			body["denied_parameters"] = r.DeniedParameters
		}
		if r.RequiredParameters != nil {
			body["required_parameters"] = r.RequiredParameters
		}
		if r.MinWrappingTTL != 0 {
			body["min_wrapping_ttl"] = r.MinWrappingTTL.String()
		}
		if r.MaxWrappingTTL != 0 {
			body["max_wrapping_ttl"] = r.MaxWrappingTTL.String()
		}
		blocks = append(blocks, map[string]map[string]any{r.Path: body})
	}
	doc := map[string]any{}
	if len(blocks) > 0 {
		doc["path"] = blocks
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", false
	}
	if !utf8.Valid(buf.Bytes()) || bytes.Contains(buf.Bytes(), []byte(`\ufffd`)) || bytes.ContainsRune(buf.Bytes(), utf8.RuneError) {
		return "", false
	}
	return buf.String(), true
}

func FuzzCheck(f *testing.F) {
	policies := []*Policy{
		mustParse(f, "a", readTestdata(f, "policy.hcl")),
		mustParse(f, "b", DefaultPolicy()),
		mustParse(f, "c", `
path "secret/*"              { capabilities = ["read", "list"] }
path "secret/+"              { capabilities = ["update"] }
path "secret/+/+"            { capabilities = ["delete"] }
path "secret/+/config/*"     { capabilities = ["patch"] }
path "secret/+/c*"           { capabilities = ["update", "read"] }
path "secret/+/con*"         { capabilities = ["create", "read"] }
path "secret/+/+/*"          { capabilities = ["delete", "list"] }
path "secret/a*"             { capabilities = ["create"] }
path "secret/ab/+/c*"        { capabilities = ["sudo", "read"] }
path "secret/ab/cd"          { capabilities = ["deny"] }
path "+/x"                   { capabilities = ["list"] }
path "+"                     { capabilities = ["read"] }
path "*"                     { capabilities = ["list"] }
path "secret/"               { capabilities = ["sudo"] }
path "kv/+/dir/" {
  capabilities      = ["list", "update"]
  denied_parameters = { "admin" = [] }
}`),
		mustParse(f, "d", `path "secret/+" { capabilities = ["read"] }`),
		// Rules Parse refuses but a hand-built policy may hold.
		{Name: "e", Rules: []Rule{
			{Path: "kv/+*", Capabilities: CapPatch},
			{Path: "kv/a/+*", Capabilities: CapRead | CapDeny},
			{Path: "kv/+/b", Capabilities: CapUpdate},
		}},
	}
	acl := NewACL(policies)
	ref := newRefACL(policies)
	root := NewACL([]*Policy{{Name: RootPolicyName}})
	for _, s := range []string{
		"", "/", "secret", "secret/", "secret/a", "secret/ab/x/c", "secret/ab/x/cz/y", "secret/ab/cd",
		"secret/x/config/", "secret/x/config/y", "a/x", "x", "kv/a/dir/", "kv/a/dir", "cubbyhole/x",
		"secret/data/app/admin", "secret/q/team-1/config", "sys/wrapping/wrap", "//secret//a",
		"secret/x/con", "secret/x/cz", "secret/x/y/z", "kv/a/b", "kv/q", "kv/a/b/c",
	} {
		f.Add(s, uint8(0), "admin")
	}
	ops := []string{"read", "list", "create", "update", "patch", "delete", "help"}
	f.Fuzz(func(t *testing.T, path string, opIndex uint8, param string) {
		op := ops[int(opIndex)%len(ops)]
		req := Request{Path: path, Operation: op, Params: map[string]any{param: "v"}}
		if d := root.Check(req); !d.Allowed && op != "help" {
			t.Fatalf("root Check(%+v) = %+v, want allowed", req, d)
		}
		compareWithRef(t, acl, ref, path)
		d := acl.Check(req)
		if d.Allowed && op == "update" && strings.EqualFold(param, "admin") && strings.HasPrefix(strings.TrimLeft(path, "/"), "kv/") && ref.governing(strings.TrimLeft(path, "/"), false) == "kv/+/dir/" {
			t.Fatalf("Check(%+v) allowed a denied parameter", req)
		}
	})
}

// compareWithRef checks acl against the reference evaluator on path, for
// every operation, and checks Capabilities against Check.
func compareWithRef(t *testing.T, acl *ACL, ref *refACL, path string) {
	t.Helper()
	trimmed := strings.TrimLeft(path, "/")
	for _, op := range []string{"read", "list", "create", "update", "patch", "delete"} {
		d := acl.Check(Request{Path: path, Operation: op})
		want := ref.caps(trimmed, op == "list")
		if d.Capabilities != want {
			t.Fatalf("Check(%s %q).Capabilities = %v, reference (rule %q) says %v", op, path, d.Capabilities, ref.governing(trimmed, op == "list"), want)
		}
		granted := want&CapDeny == 0 && want&OperationCapability(op) != 0
		if d.Allowed && !granted {
			t.Fatalf("Check(%s %q) = %+v, but the reference grants only %v", op, path, d, want)
		}
		if !acl.NeedsParams(path) && granted && !d.Allowed {
			t.Fatalf("Check(%s %q) = %+v, want allowed: no parameter rules and %v granted", op, path, d, want)
		}
		cands := acl.Candidates(path, op == "list")
		if wantCands := ref.candidates(trimmed, op == "list"); !slices.Equal(cands, wantCands) {
			t.Fatalf("Candidates(%q, list=%v) = %q, reference says %q", path, op == "list", cands, wantCands)
		}
	}
	caps := acl.Capabilities(path)
	want := ref.caps(trimmed, true)
	if want&CapDeny != 0 || want == 0 {
		if !slices.Equal(caps, []string{"deny"}) {
			t.Fatalf("Capabilities(%q) = %v, want [deny]", path, caps)
		}
	} else if !slices.Equal(caps, want.Strings()) {
		t.Fatalf("Capabilities(%q) = %v, want %v", path, caps, want.Strings())
	}
}

// refACL is a deliberately simple evaluator written from the documented
// rules, without the compiled structures: it tries every rule.
type refACL struct {
	merged map[string]Capability
}

func newRefACL(policies []*Policy) *refACL {
	r := &refACL{merged: map[string]Capability{}}
	for _, p := range policies {
		for _, rule := range p.Rules {
			old, seen := r.merged[rule.Path]
			switch {
			case !seen:
				r.merged[rule.Path] = rule.Capabilities
			case old&CapDeny != 0 || rule.Capabilities&CapDeny != 0:
				r.merged[rule.Path] = CapDeny
			default:
				r.merged[rule.Path] = old | rule.Capabilities
			}
			if r.merged[rule.Path]&CapDeny != 0 {
				r.merged[rule.Path] = CapDeny
			}
		}
	}
	return r
}

func (r *refACL) caps(path string, list bool) Capability {
	if g := r.governing(path, list); g != "" {
		return r.merged[g]
	}
	return 0
}

// governing returns the rule path that decides path, or "".
func (r *refACL) governing(path string, list bool) string {
	if _, ok := r.merged[path]; ok && !isWildcard(path) {
		return path
	}
	trimmed, slash := strings.CutSuffix(path, "/")
	if list {
		if _, ok := r.merged[trimmed]; ok && !isWildcard(trimmed) {
			return trimmed
		}
		if slash {
			if g := r.bestWildcard(trimmed); g != "" {
				return g
			}
		}
	}
	return r.bestWildcard(path)
}

// candidates returns every rule path that matches path, in the order the
// lookup tries them, each once.
func (r *refACL) candidates(path string, list bool) []string {
	var out []string
	add := func(rules ...string) {
		for _, g := range rules {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	if _, ok := r.merged[path]; ok && !isWildcard(path) {
		add(path)
	}
	trimmed, slash := strings.CutSuffix(path, "/")
	if list {
		if _, ok := r.merged[trimmed]; ok && !isWildcard(trimmed) {
			add(trimmed)
		}
		if slash {
			add(r.wildcards(trimmed)...)
		}
	}
	add(r.wildcards(path)...)
	return out
}

func isWildcard(rule string) bool {
	return strings.HasSuffix(rule, "*") || slices.Contains(strings.Split(rule, "/"), "+")
}

func (r *refACL) bestWildcard(path string) string {
	if matches := r.wildcards(path); len(matches) > 0 {
		return matches[0]
	}
	return ""
}

// wildcards returns the wildcard rules matching path, highest first.
func (r *refACL) wildcards(path string) []string {
	var matches []string
	for rule := range r.merged {
		if isWildcard(rule) && refMatch(rule, path) {
			matches = append(matches, rule)
		}
	}
	sort.Slice(matches, func(i, j int) bool { return refHigher(matches[i], matches[j]) })
	return matches
}

func refMatch(rule, path string) bool {
	pat, prefix := strings.CutSuffix(rule, "*")
	ps := strings.Split(pat, "/")
	if !slices.Contains(ps, "+") {
		if prefix {
			return strings.HasPrefix(path, pat)
		}
		return path == pat
	}
	pp := strings.Split(path, "/")
	if len(pp) < len(ps) || (!prefix && len(pp) != len(ps)) {
		return false
	}
	for i, s := range ps {
		last := i == len(ps)-1
		if !(s == "+" || s == pp[i] || (prefix && last && strings.HasPrefix(pp[i], s))) {
			return false
		}
	}
	return true
}

// refHigher is the documented priority: a later first wildcard, then not
// ending in "*", then fewer "+" segments, then longer, then greater.
func refHigher(a, b string) bool {
	type key struct {
		first  int
		prefix bool
		plus   int
		length int
	}
	k := func(rule string) key {
		pat, prefix := strings.CutSuffix(rule, "*")
		first, plus, off := len(pat), 0, 0
		for _, s := range strings.Split(pat, "/") {
			if s == "+" {
				if plus == 0 {
					first = off
				}
				plus++
			}
			off += len(s) + 1
		}
		return key{first, prefix, plus, len(pat)}
	}
	ka, kb := k(a), k(b)
	switch {
	case ka.first != kb.first:
		return ka.first > kb.first
	case ka.prefix != kb.prefix:
		return !ka.prefix
	case ka.plus != kb.plus:
		return ka.plus < kb.plus
	case ka.length != kb.length:
		return ka.length > kb.length
	}
	return strings.TrimSuffix(a, "*") > strings.TrimSuffix(b, "*")
}
