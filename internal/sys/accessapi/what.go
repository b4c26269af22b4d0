package accessapi

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// defaultPathLimit is how many concrete paths a what answer lists per
// mount unless the caller asks for another number.
const defaultPathLimit = 1000

// maxPathLimit bounds the paths one answer lists per mount.
const maxPathLimit = 100000

// Subject is the principal a what question names.
type Subject struct {
	Kind     string   `json:"kind"` // token, entity, role, policies
	Name     string   `json:"name"`
	Mount    string   `json:"mount,omitempty"`
	EntityID string   `json:"entity_id,omitempty"`
	Policies []string `json:"policies"`
	// EntityDisabled says its entity is disabled: every request of its
	// tokens is refused, whatever the ACL says.
	EntityDisabled bool `json:"entity_disabled"`
}

// pathOut is one concrete path and what the principal may do there.
type pathOut struct {
	Path         string   `json:"path"`
	Kind         string   `json:"kind,omitempty"`
	Capabilities []string `json:"capabilities"`
}

// mountOut is what the principal may do under one mount.
type mountOut struct {
	Path string `json:"path"`
	Type string `json:"type"`
	// Enumerated says the engine lists its objects; when false, Paths is
	// empty and only the ACL tells what the principal may do.
	Enumerated bool      `json:"enumerated"`
	Paths      []pathOut `json:"paths"`
	Truncated  bool      `json:"truncated"`
}

// WhatAnswer is sys/access/what's answer.
type WhatAnswer struct {
	Subject Subject `json:"subject"`
	// Root says the Subject holds the root policy and may do anything.
	Root bool `json:"root"`
	// DependsOnEntity says a templated policy was left out of ACL.
	DependsOnEntity bool `json:"depends_on_entity"`
	// ACL is the resultant ACL: the rules of every policy, merged by
	// path as a token's ACL merges them, sorted by path.
	ACL    []ruleOut  `json:"acl"`
	Mounts []mountOut `json:"mounts"`
}

// subjectOf finds the principal a what request names.
func subjectOf(req *logical.Request, dir *access.Directory, known func(string) bool) (Subject, error) {
	q := req.Query
	var given []string
	for _, k := range []string{"accessor", "entity_id", "role", "policy"} {
		if q.Get(k) != "" {
			given = append(given, k)
		}
	}
	if len(given) != 1 {
		return Subject{}, logical.InvalidRequest("give exactly one of the query parameters accessor, entity_id, role (such as auth/approle/role/x) or policy (names separated by commas)")
	}
	entities := func(id string) *access.Entity {
		for i := range dir.Entities {
			if dir.Entities[i].ID == id {
				return &dir.Entities[i]
			}
		}
		return nil
	}
	switch k := given[0]; k {
	case "accessor":
		acc := q.Get(k)
		var found *access.Token
		if dir.Tokens != nil {
			dir.Tokens.Each(func(t *access.Token) bool {
				if t.Accessor == acc {
					found = t
				}
				return found == nil
			})
		}
		if found == nil {
			return Subject{}, logical.NotFound("no live token has this accessor")
		}
		s := Subject{Kind: "token", Name: found.Accessor, Mount: found.Path, EntityID: found.EntityID, Policies: found.Policies}
		if e := entities(found.EntityID); e != nil {
			s.Policies, s.EntityDisabled = sortedSet(found.Policies, e.IdentityPolicies), e.Disabled
		}
		return s, nil
	case "entity_id":
		e := entities(q.Get(k))
		if e == nil {
			return Subject{}, logical.NotFound("no entity has this ID")
		}
		return Subject{Kind: "entity", Name: e.Name, EntityID: e.ID, Policies: e.IdentityPolicies, EntityDisabled: e.Disabled}, nil
	case "role":
		role := strings.Trim(q.Get(k), "/")
		for _, m := range dir.Mounts {
			rest, ok := strings.CutPrefix(role, strings.TrimRight(m.Path, "/")+"/")
			if !ok {
				continue
			}
			name := rest[strings.LastIndexByte(rest, '/')+1:]
			for _, p := range m.Principals {
				if p.Name == name {
					return Subject{Kind: p.Kind, Name: p.Name, Mount: m.Path, Policies: p.Policies}, nil
				}
			}
		}
		return Subject{}, logical.NotFound("no auth role or user at %q", role)
	default:
		names := strings.Split(q.Get(k), ",")
		for i, n := range names {
			names[i] = policy.NormalizeName(strings.TrimSpace(n))
		}
		names = sortedSet(names)
		for _, n := range names {
			if !known(n) {
				return Subject{}, logical.InvalidRequest("unknown policy %q", n)
			}
		}
		return Subject{Kind: "policies", Name: strings.Join(names, ","), Policies: names}, nil
	}
}

func (a *API) what(ctx context.Context, req *logical.Request, _ *framework.Match) (*logical.Response, error) {
	limit, err := framework.QueryInt(req, "limit", defaultPathLimit)
	if err != nil {
		return nil, err
	}
	if limit > maxPathLimit {
		return nil, logical.InvalidRequest("limit must be at most %d", maxPathLimit)
	}
	dir, err := a.directory(ctx, false)
	if err != nil {
		return nil, err
	}
	pols, _ := a.snapshot()
	byName := make(map[string]*policy.Policy, len(pols))
	for _, p := range pols {
		byName[p.Name] = p
	}
	s, err := subjectOf(req, dir, func(n string) bool { return byName[n] != nil })
	if err != nil {
		return nil, err
	}
	ans, err := What(ctx, byName, access.NewIdentities(dir), s, a.opts.Core.SecretMounts(), limit)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: ans}, nil
}

// What answers what Subject s may reach: the merged rules of its
// policies (from byName; unknown names are skipped) and, under each of
// mounts, the existing paths it may use, at most limit per mount. For a
// token or an entity, templated policies are resolved for its entity
// (from ids) as its ACL resolves them; for a role or a policy set they
// are left out and the answer says it depends on the entity.
func What(ctx context.Context, byName map[string]*policy.Policy, ids *access.Identities, s Subject, mounts []Mount, limit int) (*WhatAnswer, error) {
	resolve := s.Kind == "token" || s.Kind == "entity"
	var ident *policy.Identity
	if resolve && s.EntityID != "" {
		ident = ids.Of(s.EntityID)
	}
	s.Policies = nonNil(sortedSet(s.Policies))
	out := &WhatAnswer{Subject: s, ACL: []ruleOut{}, Mounts: []mountOut{}}
	var held []*policy.Policy
	byPath := map[string][]policy.Rule{}
	for _, n := range s.Policies {
		p := byName[n]
		if p == nil {
			continue
		}
		if p.Name == policy.RootPolicyName {
			out.Root = true
		}
		if resolve {
			p = p.Resolve(ident)
		}
		kept := &policy.Policy{Name: p.Name}
		for _, r := range p.Rules {
			if r.Templated() {
				out.DependsOnEntity = true
				continue
			}
			kept.Rules = append(kept.Rules, r)
			byPath[r.Path] = append(byPath[r.Path], r)
		}
		held = append(held, kept)
	}
	for _, path := range slices.Sorted(maps.Keys(byPath)) {
		out.ACL = append(out.ACL, ruleOf(policy.MergeRules(byPath[path])))
	}
	acl := policy.NewACL(held)
	for _, m := range mounts {
		mo, err := mountPaths(ctx, acl, m, limit)
		if err != nil {
			return nil, err
		}
		out.Mounts = append(out.Mounts, mo)
	}
	return out, nil
}

// mountPaths lists the existing paths of m that acl grants anything on.
func mountPaths(ctx context.Context, acl *policy.ACL, m Mount, limit int) (mountOut, error) {
	mo := mountOut{Path: m.Path, Type: m.Type, Paths: []pathOut{}}
	add := func(kind, rel string) bool {
		full := m.Path + rel
		caps := acl.Capabilities(full)
		if len(caps) == 1 && caps[0] == "deny" {
			return true
		}
		if len(mo.Paths) >= limit {
			mo.Truncated = true
			return false
		}
		mo.Paths = append(mo.Paths, pathOut{Path: full, Kind: kind, Capabilities: caps})
		return true
	}
	if w, ok := m.Backend.(logical.SecretWalker); ok {
		mo.Enumerated = true
		err := w.WalkSecrets(ctx, "", func(si logical.SecretInfo) (bool, error) {
			return add("secret", "data/"+si.Path) && add("metadata", "metadata/"+si.Path), ctx.Err()
		})
		if err != nil {
			return mo, err
		}
	}
	if l, ok := m.Backend.(logical.ObjectLister); ok {
		mo.Enumerated = true
		objs, err := l.Objects(ctx)
		if err != nil {
			return mo, err
		}
		for _, o := range objs {
			for _, p := range o.Paths {
				if !add(o.Kind, p) {
					return mo, nil
				}
			}
		}
	}
	return mo, nil
}
