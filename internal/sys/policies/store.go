// Package policies keeps the ACL policies and serves the sys/ endpoints
// of access control: the policies (sys/policy, sys/policies/acl), a
// token's capabilities on paths (sys/capabilities*), and the aliases
// locked out after failed logins (sys/locked-users).
//
// The [Store] is what the request pipeline checks permissions with: core
// holds it and asks it for the compiled ACL of a token's policies. The
// endpoints reach the rest of core (tokens, identity, lockouts) only
// through the [Core] interface this package declares; it imports no core
// package. A Store and an [API] are safe for concurrent use.
package policies

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Prefix is where the policies are stored, by name, behind the barrier.
const Prefix = "sys/policy/"

// Store keeps the ACL policies (behind the barrier, all of them also
// parsed in memory) and a cache of compiled ACLs by policy set. Changing a
// policy drops every compiled ACL, so the next request of every token that
// holds it sees the change.
type Store struct {
	st storage.Storage

	mu       sync.RWMutex
	policies map[string]*policy.Policy // guarded by mu; nil while sealed
	acls     map[string]compiled       // guarded by mu; by sorted, joined names
	// entityACLs are the ACLs of templated policy sets resolved for one
	// entity, by aclKey and entity ID; guarded by mu. At most
	// maxEntityACLs; cleared when full.
	entityACLs map[string]entityACL
}

// compiled is a cached ACL of a policy set, with templated rules left
// out; templated says some policy of the set has them.
type compiled struct {
	acl       *policy.ACL
	templated bool
}

// entityACL is the ACL of a templated policy set resolved for an entity,
// and the [Entities.Version] it was resolved at.
type entityACL struct {
	acl     *policy.ACL
	version uint64
}

// maxEntityACLs bounds the cache of resolved ACLs: one per entity and
// policy set in use, which a busy server with many entities could
// otherwise grow without end.
const maxEntityACLs = 4096

// Entities gives the identities that templated policies are resolved for.
// Core implements it over the identity store.
type Entities interface {
	// Version changes whenever the answer of Identity may change for
	// some entity.
	Version() uint64
	// Identity returns what templates read of entity id (nil for an
	// unknown entity) and the Version it was read at.
	Identity(id string) (*policy.Identity, uint64)
}

// NewStore returns an empty store over st, the barrier. It does no I/O;
// [Store.Load] reads the policies at unseal.
func NewStore(st storage.Storage) *Store {
	return &Store{st: st}
}

// Load reads every stored policy and installs the built-in default policy
// when it has never been written.
func (p *Store) Load(ctx context.Context) error {
	return p.loadAll(ctx, true)
}

// LoadReadOnly is [Store.Load] for a standby: a missing default policy
// is kept in memory only (the active node stores it).
func (p *Store) LoadReadOnly(ctx context.Context) error {
	return p.loadAll(ctx, false)
}

func (p *Store) loadAll(ctx context.Context, persist bool) error {
	names, err := p.st.List(ctx, Prefix)
	if err != nil {
		return fmt.Errorf("list policies: %w", err)
	}
	pols := make(map[string]*policy.Policy, len(names)+1)
	for _, n := range names {
		e, err := p.st.Get(ctx, Prefix+n)
		if err != nil {
			return fmt.Errorf("read policy %q: %w", n, err)
		}
		if e == nil {
			continue
		}
		pol, err := policy.Parse(n, string(e.Value))
		if err != nil {
			return fmt.Errorf("parse stored policy %q: %w", n, err)
		}
		pols[n] = pol
	}
	if _, ok := pols[policy.DefaultPolicyName]; !ok {
		text := policy.DefaultPolicy()
		pol, err := policy.Parse(policy.DefaultPolicyName, text)
		if err != nil {
			return fmt.Errorf("parse the built-in default policy: %w", err)
		}
		if persist {
			if err := p.st.Put(ctx, &storage.Entry{Key: Prefix + policy.DefaultPolicyName, Value: []byte(text)}); err != nil {
				return fmt.Errorf("store the default policy: %w", err)
			}
		}
		pols[policy.DefaultPolicyName] = pol
	}
	p.mu.Lock()
	p.policies = pols
	p.dropACLsLocked()
	p.mu.Unlock()
	return nil
}

// ReloadOne reads the named policy again after another node changed or
// deleted it, and drops the compiled ACLs. It does nothing while no
// policies are loaded.
func (p *Store) ReloadOne(ctx context.Context, name string) error {
	e, err := p.st.Get(ctx, Prefix+name)
	if err != nil {
		return fmt.Errorf("read policy %q: %w", name, err)
	}
	var pol *policy.Policy
	if e != nil {
		if pol, err = policy.Parse(name, string(e.Value)); err != nil {
			return fmt.Errorf("parse stored policy %q: %w", name, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.policies == nil {
		return nil
	}
	if pol == nil {
		delete(p.policies, name)
	} else {
		p.policies[name] = pol
	}
	p.dropACLsLocked()
	return nil
}

// Reset forgets every policy, when the server seals.
func (p *Store) Reset() {
	p.mu.Lock()
	p.policies = nil
	p.acls, p.entityACLs = nil, nil
	p.mu.Unlock()
}

// Policy returns the named policy.
func (p *Store) Policy(name string) (*policy.Policy, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pol, ok := p.policies[name]
	return pol, ok
}

// Exists reports whether name is a known policy ("root" included).
func (p *Store) Exists(name string) bool {
	if name == "root" {
		return true
	}
	_, ok := p.Policy(name)
	return ok
}

// Names lists the policies, sorted, "root" included as Vault lists it.
func (p *Store) Names() []string {
	p.mu.RLock()
	out := make([]string, 0, len(p.policies)+1)
	for n := range p.policies {
		out = append(out, n)
	}
	p.mu.RUnlock()
	out = append(out, "root")
	slices.Sort(out)
	return out
}

// normalizePolicyName lowercases and checks a policy name from a request.
func normalizePolicyName(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if err := policy.ValidName(name); err != nil {
		return "", logical.InvalidRequest("%s", err.Error())
	}
	return name, nil
}

// Put parses and stores a policy. The root policy cannot be written.
func (p *Store) Put(ctx context.Context, name, text string) error {
	name, err := normalizePolicyName(name)
	if err != nil {
		return err
	}
	if name == "root" {
		return logical.InvalidRequest("cannot update the root policy")
	}
	pol, err := policy.Parse(name, text)
	if err != nil {
		return logical.InvalidRequest("failed to parse policy: %s", err.Error())
	}
	if err := p.st.Put(ctx, &storage.Entry{Key: Prefix + name, Value: []byte(text)}); err != nil {
		return fmt.Errorf("store policy: %w", err)
	}
	p.mu.Lock()
	if p.policies != nil {
		p.policies[name] = pol
		p.dropACLsLocked()
	}
	p.mu.Unlock()
	return nil
}

// Delete removes a policy. Root and default cannot be deleted.
func (p *Store) Delete(ctx context.Context, name string) error {
	name, err := normalizePolicyName(name)
	if err != nil {
		return err
	}
	if name == "root" || name == policy.DefaultPolicyName {
		return logical.InvalidRequest("cannot delete the %s policy", name)
	}
	if err := p.st.Delete(ctx, Prefix+name); err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	p.mu.Lock()
	if p.policies != nil {
		delete(p.policies, name)
		p.dropACLsLocked()
	}
	p.mu.Unlock()
	return nil
}

// dropACLsLocked forgets every compiled ACL, after a policy changed.
// p.mu must be held for writing.
func (p *Store) dropACLsLocked() {
	p.acls = make(map[string]compiled)
	p.entityACLs = make(map[string]entityACL)
}

// ACL returns the compiled ACL for a set of policy names, from the cache
// when it can. Names of policies that do not exist are ignored, as Vault
// does at request time. Templated rules grant nothing here: a token with
// an entity needs [Store.EntityACL].
func (p *Store) ACL(names []string) *policy.ACL {
	return p.EntityACL(names, "", nil)
}

// EntityACL is [Store.ACL] for a token of entity entityID: when a policy
// of the set is templated, its rules are resolved for the entity's
// identity from ents (see [policy.Policy.Resolve]). The resolved ACL is
// cached by policy set and entity, and used while ents' Version is the
// one it was resolved at, so a change to the entity, its aliases or
// groups is seen by the next request. With no entity ID or a nil ents,
// templated rules are left out.
func (p *Store) EntityACL(names []string, entityID string, ents Entities) *policy.ACL {
	key := aclKey(names)
	resolve := entityID != "" && ents != nil
	p.mu.RLock()
	c, ok := p.acls[key]
	if ok && c.templated && resolve {
		if e, hit := p.entityACLs[key+"\x00\x00"+entityID]; hit && e.version == ents.Version() {
			p.mu.RUnlock()
			return e.acl
		}
	}
	p.mu.RUnlock()
	if ok && (!c.templated || !resolve) {
		return c.acl
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	pols := make([]*policy.Policy, 0, len(names))
	templated := false
	for _, n := range names {
		if n == "root" {
			pols = append(pols, &policy.Policy{Name: "root"})
			continue
		}
		if pol, ok := p.policies[n]; ok {
			pols = append(pols, pol)
			templated = templated || pol.Templated()
		}
	}
	c, ok = p.acls[key]
	if !ok {
		c = compiled{acl: policy.NewACL(pols), templated: templated}
		if p.acls != nil {
			p.acls[key] = c
		}
	}
	if !c.templated || !resolve {
		return c.acl
	}
	id, version := ents.Identity(entityID)
	a := policy.NewACL(policy.ResolveAll(pols, id))
	if p.entityACLs != nil {
		if len(p.entityACLs) >= maxEntityACLs {
			clear(p.entityACLs)
		}
		p.entityACLs[key+"\x00\x00"+entityID] = entityACL{acl: a, version: version}
	}
	return a
}

// aclKey is the cache key of a policy set: sorted, deduplicated names.
func aclKey(names []string) string {
	if slices.IsSorted(names) {
		return strings.Join(names, "\x00")
	}
	s := slices.Clone(names)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), "\x00")
}
