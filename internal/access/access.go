package access

import (
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/policy"
)

// Index answers who-grants questions over a fixed set of policies. Build
// one with [NewIndex].
type Index struct {
	// acl holds one rule per path string of every policy, so that its
	// Candidates ranks the rules that match a path.
	acl *policy.ACL
	// held maps a path string to the policies holding a rule with it,
	// sorted by name, each with its rules for that path string merged.
	held      map[string][]Grant
	root      []string
	templated []string
	// policies are the policies indexed, in order, for [Index.ForEntity];
	// nil when none is templated.
	policies []*policy.Policy
}

// NewIndex indexes policies (nil entries are skipped, and so is a policy
// whose name an earlier one has: names identify policies). A policy named
// "root" grants everything and is reported in [Answer.Root]. Rules whose
// path is templated are left out and their policy is reported in
// [Answer.Templated]; [Index.ForEntity] resolves them for one entity.
// NewIndex copies what it needs, except that it keeps the policies
// themselves when one is templated: do not modify them.
func NewIndex(policies []*policy.Policy) *Index {
	x := &Index{held: make(map[string][]Grant)}
	for _, p := range policies {
		if p.Templated() {
			x.policies = slices.Clone(policies)
			break
		}
	}
	var keys []policy.Rule
	names := make(map[string]bool, len(policies))
	for _, p := range policies {
		if p == nil || names[p.Name] {
			continue
		}
		names[p.Name] = true
		if p.Name == policy.RootPolicyName {
			x.root = append(x.root, p.Name)
			continue
		}
		byKey := make(map[string][]policy.Rule)
		var order []string
		templated := false
		for _, r := range p.Rules {
			if r.Templated() {
				templated = true
				continue
			}
			key := strings.TrimLeft(r.Path, "/")
			if _, ok := byKey[key]; !ok {
				order = append(order, key)
			}
			byKey[key] = append(byKey[key], r)
		}
		if templated {
			x.templated = append(x.templated, p.Name)
		}
		for _, key := range order {
			if _, ok := x.held[key]; !ok {
				keys = append(keys, policy.Rule{Path: key, Capabilities: policy.CapRead})
			}
			x.held[key] = append(x.held[key], Grant{Policy: p.Name, Rule: policy.MergeRules(byKey[key])})
		}
	}
	for _, gs := range x.held {
		slices.SortFunc(gs, func(p, q Grant) int { return strings.Compare(p.Policy, q.Policy) })
	}
	x.acl = policy.NewACL([]*policy.Policy{{Name: "access-index", Rules: keys}})
	slices.Sort(x.root)
	slices.Sort(x.templated)
	return x
}

// ForEntity returns the index of the same policies with their templated
// rules resolved for id, as the ACL of a token of that entity resolves
// them (see [policy.Policy.Resolve]): its answers have no Templated
// policies and decide exactly as that ACL. A nil id resolves nothing, as
// for a token without an entity. When no policy is templated it returns
// x itself; otherwise it builds a new index, at the cost of [NewIndex],
// so a caller answering for many entities should index only the policies
// each entity's tokens can hold (see [Identities]).
func (x *Index) ForEntity(id *policy.Identity) *Index {
	if x.policies == nil {
		return x
	}
	y := NewIndex(policy.ResolveAll(x.policies, id))
	y.policies = nil // resolved: nothing left to resolve
	return y
}

// Grant is the rule of one policy that governs a path.
type Grant struct {
	// Policy is the policy's name.
	Policy string
	// Rule is the policy's rules for the governing path string, merged as
	// a token's ACL merges them; it carries the conditions: parameter
	// constraints (which apply to create, update and patch) and wrapping
	// TTL bounds.
	Rule policy.Rule
	// Rank orders the governing rules of different policies: in a token
	// holding several of these policies, the rules of lowest rank govern
	// and the others do not count.
	Rank int
}

// Answer is what [Index.Who] finds for one path and capability. Its
// rules' parameter maps and lists are shared with the index: read them,
// do not modify them.
type Answer struct {
	// Path is the request path asked about, without a leading slash.
	Path string
	// Capability is the capability asked about.
	Capability policy.Capability
	// Grants are the policies whose own governing rule grants Capability,
	// by rank then name.
	Grants []Grant
	// Denies are the policies whose governing rule denies the path; in a
	// token they override the grants of equal or higher rank.
	Denies []Grant
	// Shadows are the policies whose governing rule matches but grants
	// neither Capability nor deny; in a token they still override the
	// grants of higher rank, as any more specific rule does.
	Shadows []Grant
	// Root lists the policies named "root", which grant everything.
	Root []string
	// Templated lists the policies with templated rules, which were left
	// out: the answer for a token holding them depends on its entity
	// (see [Index.ForEntity]).
	Templated []string
}

// Who returns which policies grant capability c (a single capability:
// create, read, update, patch, delete, list or sudo) on path, with the
// rule that matches in each, and which deny or shadow it. A list of a
// path ending in "/" also consults rules for the path without it, as
// [policy.ACL.Check] does; sudo is looked up as for any other request.
func (x *Index) Who(path string, c policy.Capability) Answer {
	path = strings.TrimLeft(path, "/")
	a := Answer{Path: path, Capability: c, Root: slices.Clone(x.root), Templated: slices.Clone(x.templated)}
	seen := make(map[string]bool)
	for rank, key := range x.acl.Candidates(path, c == policy.CapList) {
		for _, g := range x.held[key] {
			if seen[g.Policy] {
				continue // a more specific rule of this policy governs
			}
			seen[g.Policy] = true
			g.Rank = rank
			switch caps := g.Rule.Capabilities; {
			case caps&policy.CapDeny != 0:
				a.Denies = append(a.Denies, g)
			case caps&c != 0:
				a.Grants = append(a.Grants, g)
			default:
				a.Shadows = append(a.Shadows, g)
			}
		}
	}
	// Candidates come by rank and each held list by name, so the lists
	// are in order already.
	return a
}

// Decision is what [Answer.For] decides for a set of policies.
type Decision struct {
	// Allowed says the request is allowed, provided the Rule's conditions
	// (parameter constraints for create, update and patch; wrapping TTL
	// bounds) are met. A root policy allows everything.
	Allowed bool
	// Root says a root policy decided.
	Root bool
	// Rule is the merged rule that governs the path for the set (zero
	// when no rule matches or Root is set).
	Rule policy.Rule
	// Policies are the policies of the set whose rules make up Rule.
	Policies []string
	// DependsOnEntity says a policy of the set has templated rules, which
	// this answer left out.
	DependsOnEntity bool
}

// For decides the answer's path and capability for a token holding exactly
// the named policies, as the ACL built from them would: the governing
// rules are those of lowest rank among the set's; merged, they must grant
// the capability, not deny, and have consistent wrapping TTL bounds.
func (a Answer) For(policies []string) Decision {
	in := make(map[string]bool, len(policies))
	for _, p := range policies {
		in[p] = true
	}
	var d Decision
	for _, t := range a.Templated {
		d.DependsOnEntity = d.DependsOnEntity || in[t]
	}
	for _, r := range a.Root {
		if in[r] {
			d.Allowed, d.Root = true, true
			return d
		}
	}
	best := -1
	var rules []policy.Rule
	for _, list := range [][]Grant{a.Grants, a.Denies, a.Shadows} {
		for _, g := range list {
			if !in[g.Policy] || (best >= 0 && g.Rank > best) {
				continue
			}
			if g.Rank < best || best < 0 {
				best, rules, d.Policies = g.Rank, rules[:0], d.Policies[:0]
			}
			rules = append(rules, g.Rule)
			d.Policies = append(d.Policies, g.Policy)
		}
	}
	if best < 0 {
		return d
	}
	slices.Sort(d.Policies)
	d.Rule = policy.MergeRules(rules)
	caps := d.Rule.Capabilities
	minTTL, maxTTL := d.Rule.MinWrappingTTL, d.Rule.MaxWrappingTTL
	d.Allowed = caps&policy.CapDeny == 0 && caps&a.Capability != 0 &&
		(minTTL == 0 || maxTTL == 0 || maxTTL >= minTTL)
	return d
}
