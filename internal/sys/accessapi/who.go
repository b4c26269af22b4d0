package accessapi

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// The values of an answer's "access" field.
const (
	// AccessYes: the principal's policies allow the request.
	AccessYes = "yes"
	// AccessConditional: allowed when the request meets the governing
	// rule's conditions (parameter constraints, wrapping TTL bounds).
	AccessConditional = "conditional"
	// AccessDenied: it holds a granting policy, but a deny governs.
	AccessDenied = "denied"
	// AccessShadowed: it holds a granting policy, but a more specific
	// rule of another of its policies governs and grants something else.
	AccessShadowed = "shadowed"
	// AccessDependsOnEntity: it holds a templated policy and no grant
	// decides without it; the answer depends on the entity that logs in.
	AccessDependsOnEntity = "depends_on_entity"
	// AccessEntityDisabled: its policies allow the request, but its
	// entity is disabled, which refuses every request of its tokens.
	AccessEntityDisabled = "entity_disabled"
)

// disabled turns a verdict that allows into AccessEntityDisabled when e
// (which may be nil) is disabled.
func disabled(v verdict, e *access.Entity) verdict {
	if e != nil && e.Disabled && (v.Access == AccessYes || v.Access == AccessConditional) {
		v.Access = AccessEntityDisabled
	}
	return v
}

// defaultTokenLimit is how many tokens a who answer lists unless the
// caller asks for another number; token_count always counts them all.
const defaultTokenLimit = 1000

// maxTokenLimit bounds the tokens one answer lists.
const maxTokenLimit = 100000

// verdict is what a set of policies decides for a who question.
type verdict struct {
	// Access is one of the Access* values, or "" when the set holds no
	// policy that grants the path (it does not reach it).
	Access string
	// Policies are the policies whose rules decided.
	Policies []string
	// DependsOnEntity says the set holds a templated policy, left out.
	DependsOnEntity bool
}

// decider decides for policy sets, caching by the set's policies that
// take part in the answer, so that many principals and tokens with the
// same policies cost one decision.
type decider struct {
	ans      access.Answer
	relevant map[string]*held // by policy name
	cache    map[string]verdict
	key      []string // scratch
	buf      []byte   // scratch

	// For resolving templated policies per entity (see decideFor); nil
	// when the answer has no templated policy.
	byName     map[string]*policy.Policy
	identities *access.Identities
	byEntity   map[string]verdict // by entity ID and set
}

// held is what one policy contributes to an answer.
type held struct {
	grant, deny, shadow []access.Grant
	root, templated     bool
}

func (h *held) reaches() bool { return len(h.grant) > 0 || h.root || h.templated }

// newDecider returns a decider for ans. byName and ids, which may be nil,
// resolve templated policies per entity.
func newDecider(ans access.Answer, byName map[string]*policy.Policy, ids *access.Identities) *decider {
	d := &decider{ans: ans, relevant: map[string]*held{}, cache: map[string]verdict{}}
	if len(ans.Templated) > 0 && byName != nil && ids != nil {
		d.byName, d.identities, d.byEntity = byName, ids, map[string]verdict{}
	}
	get := func(n string) *held {
		h := d.relevant[n]
		if h == nil {
			h = &held{}
			d.relevant[n] = h
		}
		return h
	}
	for _, g := range ans.Grants {
		h := get(g.Policy)
		h.grant = append(h.grant, g)
	}
	for _, g := range ans.Denies {
		h := get(g.Policy)
		h.deny = append(h.deny, g)
	}
	for _, g := range ans.Shadows {
		h := get(g.Policy)
		h.shadow = append(h.shadow, g)
	}
	for _, n := range ans.Root {
		get(n).root = true
	}
	for _, n := range ans.Templated {
		get(n).templated = true
	}
	return d
}

// decide returns the verdict for a token holding every policy of sets.
func (d *decider) decide(sets ...[]string) verdict {
	d.key = d.key[:0]
	reaches := false
	for _, s := range sets {
		for _, n := range s {
			if h := d.relevant[n]; h != nil {
				d.key = append(d.key, n)
				reaches = reaches || h.reaches()
			}
		}
	}
	if !reaches {
		return verdict{}
	}
	slices.Sort(d.key)
	d.key = slices.Compact(d.key)
	d.buf = d.buf[:0]
	for _, n := range d.key {
		d.buf = append(append(d.buf, n...), 0)
	}
	if v, ok := d.cache[string(d.buf)]; ok {
		return v
	}
	// Decide on the answer cut down to the set's policies: For then
	// costs the set's size, not the answer's.
	sub := access.Answer{Path: d.ans.Path, Capability: d.ans.Capability}
	holdsGrant := false
	for _, n := range d.key {
		h := d.relevant[n]
		sub.Grants = append(sub.Grants, h.grant...)
		sub.Denies = append(sub.Denies, h.deny...)
		sub.Shadows = append(sub.Shadows, h.shadow...)
		holdsGrant = holdsGrant || len(h.grant) > 0
		if h.root {
			sub.Root = append(sub.Root, n)
		}
		if h.templated {
			sub.Templated = append(sub.Templated, n)
		}
	}
	v := verdictOf(sub.For(d.key), d.ans.Capability, holdsGrant)
	d.cache[string(d.buf)] = v
	return v
}

// decideFor is decide for a token of entity id ("" for none): when the
// set holds templated policies, it resolves them for that entity, as the
// token's ACL does, and decides on the resolved policies.
func (d *decider) decideFor(id string, sets ...[]string) verdict {
	v := d.decide(sets...)
	if !v.DependsOnEntity || d.byEntity == nil {
		return v
	}
	k := id + "\x00" + string(d.buf)
	if v, ok := d.byEntity[k]; ok {
		return v
	}
	pols := make([]*policy.Policy, 0, len(d.key))
	for _, n := range d.key {
		if p := d.byName[n]; p != nil {
			pols = append(pols, p)
		}
	}
	var ident *policy.Identity
	if id != "" {
		ident = d.identities.Of(id)
	}
	resolved := access.NewIndex(policy.ResolveAll(pols, ident)).Who(d.ans.Path, d.ans.Capability)
	holdsGrant := len(resolved.Grants) > 0
	v = verdictOf(resolved.For(d.key), d.ans.Capability, holdsGrant)
	d.byEntity[k] = v
	return v
}

// verdictOf turns a decision into a verdict; holdsGrant says the set
// holds a policy that grants the capability on its own.
func verdictOf(dec access.Decision, c policy.Capability, holdsGrant bool) verdict {
	v := verdict{Policies: dec.Policies, DependsOnEntity: dec.DependsOnEntity}
	switch {
	case dec.Root:
		v.Access, v.Policies = AccessYes, []string{policy.RootPolicyName}
	case dec.Allowed && conditional(dec.Rule, c):
		v.Access = AccessConditional
	case dec.Allowed:
		v.Access = AccessYes
	case dec.Rule.Capabilities&policy.CapDeny != 0:
		v.Access = AccessDenied
	case holdsGrant:
		v.Access = AccessShadowed
	case dec.DependsOnEntity:
		v.Access = AccessDependsOnEntity
	}
	if v.Policies == nil {
		v.Policies = []string{}
	}
	return v
}

// policyRule is one policy's governing rule in a who answer.
type policyRule struct {
	Policy string  `json:"policy"`
	Rule   ruleOut `json:"rule"`
	// Conditional says the rule grants only under conditions.
	Conditional bool `json:"conditional"`
}

// principalOut is an auth method's role, user or certificate.
type principalOut struct {
	Mount           string         `json:"mount"`
	Type            string         `json:"type"`
	Kind            string         `json:"kind"`
	Name            string         `json:"name"`
	Policies        []string       `json:"policies"`
	Bindings        map[string]any `json:"bindings,omitempty"`
	Access          string         `json:"access"`
	DecidedBy       []string       `json:"decided_by"`
	DependsOnEntity bool           `json:"depends_on_entity"`
}

// aliasOut is an entity alias.
type aliasOut struct {
	// Name is the alias name, left out for an AppRole mount, whose
	// aliases are named by role ID, half of the login credential.
	Name          string `json:"name,omitempty"`
	MountPath     string `json:"mount_path"`
	MountAccessor string `json:"mount_accessor"`
}

// aliasOf describes al; mountTypes gives the type of each auth mount by
// accessor.
func aliasOf(al access.Alias, mountTypes map[string]string) aliasOut {
	out := aliasOut{Name: al.Name, MountPath: al.MountPath, MountAccessor: al.MountAccessor}
	if mountTypes[al.MountAccessor] == "approle" {
		out.Name = ""
	}
	return out
}

// entityOut is an identity entity.
type entityOut struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Disabled bool       `json:"disabled"`
	Policies []string   `json:"policies"`
	Groups   []string   `json:"groups"`
	Aliases  []aliasOut `json:"aliases"`
	Access   string     `json:"access"`
	// DecidedBy are the policies whose rules decided.
	DecidedBy       []string `json:"decided_by"`
	DependsOnEntity bool     `json:"depends_on_entity"`
}

// groupOut is an identity group.
type groupOut struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	// Policies are the group's own and those of every ancestor.
	Policies []string `json:"policies"`
	// MemberEntityIDs are the member entities, through nested groups too.
	MemberEntityIDs []string `json:"member_entity_ids"`
	Access          string   `json:"access"`
	DecidedBy       []string `json:"decided_by"`
	DependsOnEntity bool     `json:"depends_on_entity"`
}

// tokenOut is a live token, by accessor.
type tokenOut struct {
	Accessor     string   `json:"accessor"`
	DisplayName  string   `json:"display_name"`
	EntityID     string   `json:"entity_id"`
	Policies     []string `json:"policies"`
	Path         string   `json:"path"`
	Role         string   `json:"role,omitempty"`
	Type         string   `json:"type"`
	CreationTime int64    `json:"creation_time"`
	ExpireTime   *string  `json:"expire_time"`
	TTL          int64    `json:"ttl"`
	Access       string   `json:"access"`
	DecidedBy    []string `json:"decided_by"`
}

// WhoAnswer is sys/access/who's answer.
type WhoAnswer struct {
	Path       string       `json:"path"`
	Capability string       `json:"capability"`
	Grants     []policyRule `json:"grants"`
	Denies     []policyRule `json:"denies"`
	Shadows    []policyRule `json:"shadows"`
	// RootPolicies are policies named root (they grant everything).
	RootPolicies []string `json:"root_policies"`
	// TemplatedPolicies have rules that depend on the entity.
	TemplatedPolicies []string       `json:"templated_policies"`
	Principals        []principalOut `json:"principals"`
	Entities          []entityOut    `json:"entities"`
	Groups            []groupOut     `json:"groups"`
	Tokens            []tokenOut     `json:"tokens"`
	// TokenCount counts the live tokens that reach the path, all of
	// them; Tokens lists at most the token_limit asked for.
	TokenCount      int  `json:"token_count"`
	TokensTruncated bool `json:"tokens_truncated"`
}

func policyRules(gs []access.Grant, c policy.Capability) []policyRule {
	out := make([]policyRule, 0, len(gs))
	for _, g := range gs {
		out = append(out, policyRule{Policy: g.Policy, Rule: ruleOf(g.Rule), Conditional: g.Rule.Capabilities&policy.CapDeny == 0 && conditional(g.Rule, c)})
	}
	return out
}

// parseCapability reads a who question's capability (default read).
func parseCapability(s string) (policy.Capability, error) {
	if s == "" {
		return policy.CapRead, nil
	}
	c, err := policy.ParseCapability(s)
	if err != nil || c == policy.CapDeny {
		return 0, logical.InvalidRequest("capability must be one of create, read, update, patch, delete, list, sudo")
	}
	return c, nil
}

func (a *API) who(ctx context.Context, req *logical.Request, _ *framework.Match) (*logical.Response, error) {
	path := strings.TrimLeft(req.Query.Get("path"), "/")
	if path == "" {
		return nil, logical.InvalidRequest("missing required query parameter \"path\": the request path to ask about, such as secret/data/payments/db")
	}
	c, err := parseCapability(req.Query.Get("capability"))
	if err != nil {
		return nil, err
	}
	limit, err := framework.QueryInt(req, "token_limit", defaultTokenLimit)
	if err != nil {
		return nil, err
	}
	if limit > maxTokenLimit {
		return nil, logical.InvalidRequest("token_limit must be at most %d", maxTokenLimit)
	}
	dir, err := a.directory(ctx, false)
	if err != nil {
		return nil, err
	}
	pols, idx := a.snapshot()
	ans := Who(idx, byName(pols), dir, path, c, limit, a.now())
	return &logical.Response{Data: ans}, nil
}

// Who answers who can reach path with capability c: idx's policy answer
// and every principal of dir that holds a granting policy, with its
// verdict. Templated policies (of pols, by name: those idx indexes) are
// resolved for each entity and each token's entity; an auth role's and a
// group's answer depends on the entity and says so. It lists at most
// tokenLimit tokens; now computes their TTLs.
func Who(idx *access.Index, pols map[string]*policy.Policy, dir *access.Directory, path string, c policy.Capability, tokenLimit int, now time.Time) *WhoAnswer {
	ans := idx.Who(path, c)
	ans.Templated = templatedFor(ans.Templated, pols, ans.Path)
	d := newDecider(ans, pols, access.NewIdentities(dir))
	out := &WhoAnswer{
		Path: ans.Path, Capability: c.String(),
		Grants: policyRules(ans.Grants, c), Denies: policyRules(ans.Denies, c), Shadows: policyRules(ans.Shadows, c),
		RootPolicies: nonNil(ans.Root), TemplatedPolicies: nonNil(ans.Templated),
		Principals: []principalOut{}, Entities: []entityOut{}, Groups: []groupOut{}, Tokens: []tokenOut{},
	}
	for _, m := range dir.Mounts {
		for _, p := range m.Principals {
			v := d.decide(p.Policies)
			if v.Access == "" {
				continue
			}
			out.Principals = append(out.Principals, principalOut{
				Mount: m.Path, Type: m.Type, Kind: p.Kind, Name: p.Name, Policies: nonNil(p.Policies), Bindings: p.Bindings,
				Access: v.Access, DecidedBy: v.Policies, DependsOnEntity: v.DependsOnEntity,
			})
		}
	}
	mountTypes := make(map[string]string, len(dir.Mounts))
	for _, m := range dir.Mounts {
		mountTypes[m.Accessor] = m.Type
	}
	groups := make(map[string]*access.Group, len(dir.Groups))
	for i := range dir.Groups {
		groups[dir.Groups[i].ID] = &dir.Groups[i]
	}
	entities := make(map[string]*access.Entity, len(dir.Entities))
	members := make(map[string][]string) // group ID -> entity IDs, nested too
	for i := range dir.Entities {
		e := &dir.Entities[i]
		entities[e.ID] = e
		for _, g := range e.GroupIDs {
			members[g] = append(members[g], e.ID)
		}
		v := disabled(d.decideFor(e.ID, e.IdentityPolicies), e)
		if v.Access == "" {
			continue
		}
		eo := entityOut{
			ID: e.ID, Name: e.Name, Disabled: e.Disabled, Policies: nonNil(e.IdentityPolicies), Groups: []string{}, Aliases: []aliasOut{},
			Access: v.Access, DecidedBy: v.Policies, DependsOnEntity: v.DependsOnEntity,
		}
		for _, g := range e.GroupIDs {
			if grp := groups[g]; grp != nil {
				eo.Groups = append(eo.Groups, grp.Name)
			}
		}
		for _, al := range e.Aliases {
			eo.Aliases = append(eo.Aliases, aliasOf(al, mountTypes))
		}
		out.Entities = append(out.Entities, eo)
	}
	for _, g := range dir.Groups {
		pols := groupPolicies(groups, g.ID)
		v := d.decide(pols)
		if v.Access == "" {
			continue
		}
		ms := slices.Clone(members[g.ID])
		slices.Sort(ms)
		out.Groups = append(out.Groups, groupOut{
			ID: g.ID, Name: g.Name, Type: g.Type, Policies: pols, MemberEntityIDs: nonNil(ms),
			Access: v.Access, DecidedBy: v.Policies, DependsOnEntity: v.DependsOnEntity,
		})
	}
	if dir.Tokens != nil {
		dir.Tokens.Each(func(t *access.Token) bool {
			var ident []string
			e := entities[t.EntityID]
			if e != nil {
				ident = e.IdentityPolicies
			}
			v := disabled(d.decideFor(t.EntityID, t.Policies, ident), e)
			if v.Access == "" {
				return true
			}
			out.TokenCount++
			if len(out.Tokens) >= tokenLimit {
				out.TokensTruncated = true
				return true
			}
			out.Tokens = append(out.Tokens, tokenOf(t, ident, v, now))
			return true
		})
	}
	slices.SortFunc(out.Tokens, func(p, q tokenOut) int { return strings.Compare(p.Accessor, q.Accessor) })
	return out
}

func tokenOf(t *access.Token, ident []string, v verdict, now time.Time) tokenOut {
	to := tokenOut{
		Accessor: t.Accessor, DisplayName: t.DisplayName, EntityID: t.EntityID, Policies: sortedSet(t.Policies, ident),
		Path: t.Path, Role: t.Role, Type: t.Type, CreationTime: t.CreationTime.Unix(), Access: v.Access, DecidedBy: v.Policies,
	}
	if !t.ExpireTime.IsZero() {
		s := t.ExpireTime.UTC().Format(time.RFC3339Nano)
		to.ExpireTime = &s
		to.TTL = max(0, int64(t.ExpireTime.Sub(now)/time.Second))
	}
	return to
}

// groupPolicies returns the policies of group id and of every group it is
// nested in, sorted; a cycle of parents is walked once.
func groupPolicies(groups map[string]*access.Group, id string) []string {
	var pols []string
	seen := map[string]bool{}
	queue := []string{id}
	for len(queue) > 0 {
		g := groups[queue[0]]
		queue = queue[1:]
		if g == nil || seen[g.ID] {
			continue
		}
		seen[g.ID] = true
		pols = append(pols, g.Policies...)
		queue = append(queue, g.ParentGroupIDs...)
	}
	return nonNil(sortedSet(pols))
}

// templatedFor keeps the policies of names with a templated rule that
// could match path for some entity: the others decide path the same for
// every entity (by their other rules), so the answer does not depend on
// the entity through them. A policy not in pols is kept.
func templatedFor(names []string, pols map[string]*policy.Policy, path string) []string {
	var out []string
	for _, n := range names {
		p := pols[n]
		if p == nil || slices.ContainsFunc(p.Rules, func(r policy.Rule) bool { return r.Templated() && couldMatch(r.Path, path) }) {
			out = append(out, n)
		}
	}
	return out
}

// couldMatch reports whether the templated rule path could match path
// once resolved: a {{parameter}} stands for a non-empty value without "/"
// (policy.Policy.Resolve refuses any other), a "+" segment for any
// segment, and a trailing "*" for any rest. A list of "a/b/" is also
// governed by a rule for "a/b", as in policy.ACL.Check.
func couldMatch(rule, path string) bool {
	rule = strings.TrimLeft(rule, "/")
	// Each {{parameter}} becomes a NUL first, so that one holding "/"
	// cannot split a segment; an unclosed "{{" stays literal.
	var t strings.Builder
	for {
		open := strings.Index(rule, "{{")
		if open < 0 {
			break
		}
		end := strings.Index(rule[open:], "}}")
		if end < 0 {
			break
		}
		t.WriteString(rule[:open] + "\x00")
		rule = rule[open+end+2:]
	}
	t.WriteString(rule)
	rule = t.String()
	var b strings.Builder
	b.WriteString("(?s)^")
	glob := strings.HasSuffix(rule, "*")
	rule = strings.TrimSuffix(rule, "*")
	for i, seg := range strings.Split(rule, "/") {
		if i > 0 {
			b.WriteString("/")
		}
		if seg == "+" {
			b.WriteString("[^/]+")
			continue
		}
		for j, part := range strings.Split(seg, "\x00") {
			if j > 0 {
				b.WriteString("[^/]+")
			}
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	if glob {
		b.WriteString(".*")
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return true // cannot tell: say it depends
	}
	return re.MatchString(path) || (strings.HasSuffix(path, "/") && re.MatchString(strings.TrimSuffix(path, "/")))
}

// byName indexes policies by name.
func byName(pols []*policy.Policy) map[string]*policy.Policy {
	m := make(map[string]*policy.Policy, len(pols))
	for _, p := range pols {
		m[p.Name] = p
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
