package policy

import (
	"strconv"
	"strings"
	"time"
)

// ACL is the compiled union of a token's policies. It is immutable and safe
// for concurrent use; build one with [NewACL]. The zero value and a nil
// *ACL deny everything.
type ACL struct {
	root  bool
	exact map[string]*perm
	globs *radix   // pure "*" rules by prefix; nil when there are none
	plus  *segTrie // rules with "+" segments; nil when there are none
	// granting lists the path strings of the rules that grant something
	// (not deny), for [ACL.AnyUnder].
	granting []string
}

// perm is what the merged rules for one path string grant.
type perm struct {
	caps     Capability
	minTTL   time.Duration
	maxTTL   time.Duration
	allowed  map[string][]any
	denied   map[string][]any
	required []string // lowercased, without duplicates
}

func (p *perm) hasParamRules() bool {
	return len(p.allowed) > 0 || len(p.denied) > 0 || len(p.required) > 0
}

// NewACL compiles policies into an ACL. Nil policies are skipped. A policy
// named "root" (see [RootPolicyName]) makes a root ACL, which allows every
// request with sudo whatever else is present.
//
// Rules with the same path string, in one policy or several, are merged as
// Vault merges them: capabilities are unioned and a deny wins (dropping
// everything else for that path); the smaller non-zero min and max
// wrapping TTLs are kept; required parameters are unioned; allowed and
// denied parameter value lists are concatenated per name, except that an
// empty list (any value) on either side stays empty. A rule with parameter
// constraints therefore keeps them even when merged with one without.
//
// Templated rules (see [Rule.Templated]) are skipped: resolve them first
// with [Policy.Resolve].
//
// NewACL copies what it needs: later changes to the policies do not affect
// the ACL.
func NewACL(policies []*Policy) *ACL {
	a := &ACL{exact: make(map[string]*perm)}
	merged := make(map[string]*perm)
	for _, p := range policies {
		if p == nil {
			continue
		}
		if p.Name == RootPolicyName {
			a.root = true
		}
		for i := range p.Rules {
			r := &p.Rules[i]
			if r.Templated() {
				continue // unresolved: grants nothing, and is no literal path
			}
			key := strings.TrimLeft(r.Path, "/")
			if m := merged[key]; m != nil {
				m.merge(r)
			} else {
				merged[key] = newPerm(r)
			}
		}
	}
	if a.root {
		return a
	}
	for key, p := range merged {
		a.add(key, p)
		if p.caps&CapDeny == 0 && p.caps != 0 {
			a.granting = append(a.granting, key)
		}
	}
	return a
}

// AnyUnder reports whether some rule grants a capability on prefix or on a
// path under it (prefix is a mount path such as "secret/"). Vault lets a
// token ask which mount serves a path (sys/internal/ui/mounts) when it has
// any access there; this answers that question.
func (a *ACL) AnyUnder(prefix string) bool {
	if a == nil {
		return false
	}
	if a.root {
		return true
	}
	want := strings.Split(strings.TrimSuffix(prefix, "/"), "/")
	for _, key := range a.granting {
		if ruleReaches(key, want) {
			return true
		}
	}
	return false
}

// ruleReaches reports whether the rule path string key can match a path
// that starts with the segments want.
func ruleReaches(key string, want []string) bool {
	pattern, glob := strings.CutSuffix(key, "*")
	segs := strings.Split(pattern, "/")
	for i, w := range want {
		if i >= len(segs) {
			return false
		}
		s := segs[i]
		last := i == len(segs)-1
		switch {
		case last && glob:
			// "sec*" reaches "secret", and "" (after a trailing "/")
			// reaches anything.
			return strings.HasPrefix(w, s)
		case s == "+" || s == w:
		default:
			return false
		}
	}
	return true
}

func newPerm(r *Rule) *perm {
	p := &perm{caps: r.Capabilities}
	if p.caps&CapDeny != 0 {
		p.caps = CapDeny
		return p
	}
	p.minTTL, p.maxTTL = r.MinWrappingTTL, r.MaxWrappingTTL
	p.allowed = mergeParams(nil, r.AllowedParameters)
	p.denied = mergeParams(nil, r.DeniedParameters)
	p.addRequired(r.RequiredParameters)
	return p
}

func (p *perm) merge(r *Rule) {
	switch {
	case p.caps&CapDeny != 0:
		return
	case r.Capabilities&CapDeny != 0:
		*p = perm{caps: CapDeny}
		return
	}
	p.caps |= r.Capabilities
	p.minTTL = smallerTTL(p.minTTL, r.MinWrappingTTL)
	p.maxTTL = smallerTTL(p.maxTTL, r.MaxWrappingTTL)
	p.allowed = mergeParams(p.allowed, r.AllowedParameters)
	p.denied = mergeParams(p.denied, r.DeniedParameters)
	p.addRequired(r.RequiredParameters)
}

// smallerTTL keeps the shorter of two TTLs, where zero means unset.
func smallerTTL(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// mergeParams adds src's constraints to dst (allocating it when nil) and
// returns it. Keys are lowercased; value lists are copied.
func mergeParams(dst, src map[string][]any) map[string][]any {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string][]any, len(src))
	}
	for k, v := range src {
		k = strings.ToLower(k)
		old, ok := dst[k]
		switch {
		case len(v) == 0 || (ok && len(old) == 0):
			dst[k] = []any{}
		default:
			dst[k] = append(append([]any(nil), old...), v...)
		}
	}
	return dst
}

func (p *perm) addRequired(names []string) {
	for _, n := range names {
		n = strings.ToLower(n)
		dup := false
		for _, have := range p.required {
			dup = dup || have == n
		}
		if !dup {
			p.required = append(p.required, n)
		}
	}
}

// add files the merged rule for path string key where lookups find it.
func (a *ACL) add(key string, p *perm) {
	pattern, isPrefix := strings.CutSuffix(key, "*")
	segs := strings.Split(pattern, "/")
	firstPlus, plusCount, off := -1, 0, 0
	for _, s := range segs {
		if s == "+" {
			plusCount++
			if firstPlus < 0 {
				firstPlus = off
			}
		}
		off += len(s) + 1
	}
	switch {
	case plusCount > 0:
		w := &wildcard{perm: p, pattern: pattern, firstWC: firstPlus, isPrefix: isPrefix, wildcards: plusCount}
		if a.plus == nil {
			a.plus = &segTrie{}
		}
		a.plus.add(segs, w)
	case isPrefix:
		if a.globs == nil {
			a.globs = &radix{}
		}
		a.globs.insert(pattern).val = &wildcard{perm: p, pattern: pattern, firstWC: len(pattern), isPrefix: true}
	default:
		a.exact[key] = p
	}
}

// lookup returns the merged rule that governs path, or nil. For a list
// request on a path ending in "/", rules for the path without the slash
// count first, so "secret/app" (or "secret/+") lets one list "secret/app/".
func (a *ACL) lookup(path string, list bool) *perm {
	if p := a.exact[path]; p != nil {
		return p
	}
	trimmed, slash := strings.CutSuffix(path, "/")
	if list && slash {
		if p := a.exact[trimmed]; p != nil {
			return p
		}
		if w := a.wildcardFor(trimmed); w != nil {
			return w.perm
		}
	}
	if w := a.wildcardFor(path); w != nil {
		return w.perm
	}
	return nil
}

// wildcardFor returns the most specific wildcard rule matching path.
func (a *ACL) wildcardFor(path string) *wildcard {
	var best *wildcard
	if a.globs != nil {
		best = a.globs.longestPrefix(path, nil)
	}
	if a.plus != nil {
		a.plus.match(path, 0, &best, nil)
	}
	return best
}

// Request is what [ACL.Check] decides on.
type Request struct {
	// Path is the request path without "/v1/" (a leading slash is ignored).
	Path string
	// Operation is "read", "list", "create", "update", "patch" or "delete",
	// as logical.Operation spells them. Anything else is refused.
	Operation string
	// Params are the request's top-level body or query parameters, or nil
	// when the caller did not decode them (see [ACL.NeedsParams]); nil is
	// treated as no parameters.
	Params map[string]any
}

// Decision is the outcome of [ACL.Check].
type Decision struct {
	// Allowed says whether the request may proceed.
	Allowed bool
	// Sudo says the governing rule grants sudo (or the ACL is root), so a
	// sudo-protected path may be used, if Allowed.
	Sudo bool
	// Capabilities is what the governing rule grants on the path (CapDeny
	// if it denies, zero if no rule matched).
	Capabilities Capability
	// MinWrappingTTL and MaxWrappingTTL, when non-zero, bound the TTL with
	// which the response must be wrapped; the caller enforces them, see
	// [Decision.WrapTTLAllowed].
	MinWrappingTTL, MaxWrappingTTL time.Duration
	// Denied says why the request was refused, for logs; empty when
	// Allowed. It may name a parameter but never holds a parameter value.
	Denied string
}

// WrapTTLAllowed reports whether a response wrapped with ttl (zero: not
// wrapped) satisfies the decision's wrapping bounds. When either bound is
// set, the response must be wrapped.
func (d Decision) WrapTTLAllowed(ttl time.Duration) bool {
	if d.MaxWrappingTTL > 0 && (ttl <= 0 || ttl > d.MaxWrappingTTL) {
		return false
	}
	if d.MinWrappingTTL > 0 && (ttl <= 0 || ttl < d.MinWrappingTTL) {
		return false
	}
	return true
}

// Reasons for a refusal, kept constant so that Check does not allocate.
const (
	deniedNoACL       = "no ACL"
	deniedOperation   = "unsupported operation"
	deniedNoRule      = "no policy grants access to this path"
	deniedExplicit    = "a policy denies this path"
	deniedWrappingTTL = "the merged policies' max_wrapping_ttl is below their min_wrapping_ttl"
)

var deniedCapability = [...]string{
	"no policy grants the create capability on this path",
	"no policy grants the read capability on this path",
	"no policy grants the update capability on this path",
	"no policy grants the patch capability on this path",
	"no policy grants the delete capability on this path",
	"no policy grants the list capability on this path",
}

// Check decides whether req is allowed. The rule that governs req.Path is
// the exact rule for it if any, else the most specific matching wildcard
// rule (see the package documentation); it must grant the capability of
// the operation. For create, update and patch the rule's parameter
// constraints then apply to req.Params: required parameters must be
// present; a request with no parameters passes the rest; denied
// parameters (a "*" key denies any) refuse; when allowed parameters are
// listed, every parameter must be among them unless a "*" key is. Keys are
// compared case-insensitively.
//
// Check does not allocate for a request without parameters.
func (a *ACL) Check(req Request) Decision {
	if a == nil {
		return Decision{Denied: deniedNoACL}
	}
	if a.root {
		return Decision{Allowed: true, Sudo: true, Capabilities: capAll}
	}
	need := OperationCapability(req.Operation)
	if need == 0 {
		return Decision{Denied: deniedOperation}
	}
	p := a.lookup(strings.TrimLeft(req.Path, "/"), need == CapList)
	if p == nil {
		return Decision{Denied: deniedNoRule}
	}
	if p.caps&CapDeny != 0 {
		return Decision{Capabilities: CapDeny, Denied: deniedExplicit}
	}
	d := Decision{
		Sudo:           p.caps&CapSudo != 0,
		Capabilities:   p.caps,
		MinWrappingTTL: p.minTTL,
		MaxWrappingTTL: p.maxTTL,
	}
	if p.caps&need == 0 {
		d.Denied = deniedCapability[capIndex(need)]
		return d
	}
	if p.minTTL > 0 && p.maxTTL > 0 && p.maxTTL < p.minTTL {
		// Possible only after merging; each rule was checked on its own.
		d.Denied = deniedWrappingTTL
		return d
	}
	if need&(CapCreate|CapUpdate|CapPatch) != 0 && p.hasParamRules() {
		if why := p.checkParams(req.Params); why != "" {
			d.Denied = why
			return d
		}
	}
	d.Allowed = true
	return d
}

// capIndex returns the bit number of a single-bit capability.
func capIndex(c Capability) int {
	i := 0
	for c > 1 {
		c >>= 1
		i++
	}
	return i
}

// Capabilities returns what sys/capabilities reports for path: ["root"]
// for a root ACL, ["deny"] when no rule matches or the governing rule
// denies or grants nothing, else the granted capability names sorted. As
// in Vault, a path ending in "/" is looked up as a list request would be.
func (a *ACL) Capabilities(path string) []string {
	if a == nil {
		return []string{"deny"}
	}
	if a.root {
		return []string{RootPolicyName}
	}
	p := a.lookup(strings.TrimLeft(path, "/"), true)
	if p == nil || p.caps&CapDeny != 0 || p.caps == 0 {
		return []string{"deny"}
	}
	return p.caps.Strings()
}

// NeedsParams reports whether the rule that governs path constrains
// request parameters, so that the caller must decode the request's
// parameters into [Request.Params] before calling Check for a create,
// update or patch.
func (a *ACL) NeedsParams(path string) bool {
	if a == nil || a.root {
		return false
	}
	p := a.lookup(strings.TrimLeft(path, "/"), false)
	return p != nil && p.caps&CapDeny == 0 && p.hasParamRules()
}

// Root reports whether a is a root ACL.
func (a *ACL) Root() bool { return a != nil && a.root }

// quoteName quotes a request parameter name for a refusal reason,
// shortening a very long one.
func quoteName(n string) string {
	const max = 64
	if len(n) > max {
		return strconv.Quote(n[:max]) + "..."
	}
	return strconv.Quote(n)
}
