package policy

import (
	"slices"
	"strings"
)

// Candidates returns the path strings of every rule in a that matches
// path, in the order in which [ACL.Check] prefers them: the first is the
// rule that governs the request, the second the one that would govern it
// if the first were absent, and so on. list says the request is a list
// request (see [ACL.Check]: a list of "a/b/" also consults the rules for
// "a/b"). Each path string appears once, without a leading slash, as in
// the policies. A root ACL and a nil ACL have no rules and return nil.
//
// Since the ranking depends only on the path strings, the rule that
// governs a request for any subset of the policies in a is the first
// candidate that some policy of the subset holds; package access answers
// "which policies grant this path" from that.
func (a *ACL) Candidates(path string, list bool) []string {
	if a == nil || a.root {
		return nil
	}
	path = strings.TrimLeft(path, "/")
	var out []string
	seen := func(k string) bool { return slices.Contains(out, k) }
	if _, ok := a.exact[path]; ok {
		out = append(out, path)
	}
	trimmed, slash := strings.CutSuffix(path, "/")
	if list && slash {
		if _, ok := a.exact[trimmed]; ok && !seen(trimmed) {
			out = append(out, trimmed)
		}
		for _, k := range a.wildcardsFor(trimmed) {
			if !seen(k) {
				out = append(out, k)
			}
		}
	}
	for _, k := range a.wildcardsFor(path) {
		if !seen(k) {
			out = append(out, k)
		}
	}
	return out
}

// wildcardsFor returns the path strings of every wildcard rule matching
// path, most specific first: the first is what [ACL.wildcardFor] returns.
func (a *ACL) wildcardsFor(path string) []string {
	var all []*wildcard
	var best *wildcard
	if a.globs != nil {
		a.globs.longestPrefix(path, &all)
	}
	if a.plus != nil {
		a.plus.match(path, 0, &best, &all)
	}
	slices.SortFunc(all, func(x, y *wildcard) int {
		switch {
		case x == y:
			return 0
		case x.beats(y):
			return -1
		}
		return 1
	})
	keys := make([]string, 0, len(all))
	for _, w := range all {
		k := w.pattern
		if w.isPrefix {
			k += "*"
		}
		keys = append(keys, k)
	}
	return slices.Compact(keys)
}

// MergeRules returns the single rule that [NewACL] makes of rules sharing
// one path string, from one policy or several: capabilities unioned, a
// deny winning (and dropping everything else), the smaller non-zero
// wrapping TTLs, required parameters unioned, allowed and denied value
// lists concatenated per lowercased name (an empty list, any value,
// staying empty). The result's Path is the first rule's, without a
// leading slash. The rules are not modified.
func MergeRules(rules []Rule) Rule {
	if len(rules) == 0 {
		return Rule{}
	}
	p := newPerm(&rules[0])
	for i := range rules[1:] {
		p.merge(&rules[1+i])
	}
	return Rule{
		Path:               strings.TrimLeft(rules[0].Path, "/"),
		Capabilities:       p.caps,
		AllowedParameters:  p.allowed,
		DeniedParameters:   p.denied,
		RequiredParameters: p.required,
		MinWrappingTTL:     p.minTTL,
		MaxWrappingTTL:     p.maxTTL,
	}
}
