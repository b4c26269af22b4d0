package core

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

const policyPrefix = "sys/policy/"

// policyStore keeps the ACL policies (behind the barrier, all of them also
// parsed in memory) and a cache of compiled ACLs by policy set. Changing a
// policy drops every compiled ACL, so the next request of every token that
// holds it sees the change.
type policyStore struct {
	st storage.Storage

	mu       sync.RWMutex
	policies map[string]*policy.Policy // guarded by mu; nil while sealed
	acls     map[string]*policy.ACL    // guarded by mu; by sorted, joined names
}

func newPolicyStore(st storage.Storage) *policyStore {
	return &policyStore{st: st}
}

// load reads every stored policy and installs the built-in default policy
// when it has never been written.
func (p *policyStore) load(ctx context.Context) error {
	return p.loadAll(ctx, true)
}

// loadReadOnly is load for a standby: a missing default policy is kept in
// memory only (the active node stores it).
func (p *policyStore) loadReadOnly(ctx context.Context) error {
	return p.loadAll(ctx, false)
}

func (p *policyStore) loadAll(ctx context.Context, persist bool) error {
	names, err := p.st.List(ctx, policyPrefix)
	if err != nil {
		return fmt.Errorf("list policies: %w", err)
	}
	pols := make(map[string]*policy.Policy, len(names)+1)
	for _, n := range names {
		e, err := p.st.Get(ctx, policyPrefix+n)
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
			if err := p.st.Put(ctx, &storage.Entry{Key: policyPrefix + policy.DefaultPolicyName, Value: []byte(text)}); err != nil {
				return fmt.Errorf("store the default policy: %w", err)
			}
		}
		pols[policy.DefaultPolicyName] = pol
	}
	p.mu.Lock()
	p.policies = pols
	p.acls = make(map[string]*policy.ACL)
	p.mu.Unlock()
	return nil
}

// reloadOne reads the named policy again after another node changed or
// deleted it, and drops the compiled ACLs. It does nothing while no
// policies are loaded.
func (p *policyStore) reloadOne(ctx context.Context, name string) error {
	e, err := p.st.Get(ctx, policyPrefix+name)
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
	p.acls = make(map[string]*policy.ACL)
	return nil
}

func (p *policyStore) reset() {
	p.mu.Lock()
	p.policies = nil
	p.acls = nil
	p.mu.Unlock()
}

// get returns the named policy.
func (p *policyStore) get(name string) (*policy.Policy, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	pol, ok := p.policies[name]
	return pol, ok
}

// exists reports whether name is a known policy ("root" included).
func (p *policyStore) exists(name string) bool {
	if name == "root" {
		return true
	}
	_, ok := p.get(name)
	return ok
}

// names lists the policies, sorted, "root" included as Vault lists it.
func (p *policyStore) names() []string {
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

// put parses and stores a policy. The root policy cannot be written.
func (p *policyStore) put(ctx context.Context, name, text string) error {
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
	if err := p.st.Put(ctx, &storage.Entry{Key: policyPrefix + name, Value: []byte(text)}); err != nil {
		return fmt.Errorf("store policy: %w", err)
	}
	p.mu.Lock()
	if p.policies != nil {
		p.policies[name] = pol
		p.acls = make(map[string]*policy.ACL)
	}
	p.mu.Unlock()
	return nil
}

// delete removes a policy. Root and default cannot be deleted.
func (p *policyStore) delete(ctx context.Context, name string) error {
	name, err := normalizePolicyName(name)
	if err != nil {
		return err
	}
	if name == "root" || name == policy.DefaultPolicyName {
		return logical.InvalidRequest("cannot delete the %s policy", name)
	}
	if err := p.st.Delete(ctx, policyPrefix+name); err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	p.mu.Lock()
	if p.policies != nil {
		delete(p.policies, name)
		p.acls = make(map[string]*policy.ACL)
	}
	p.mu.Unlock()
	return nil
}

// acl returns the compiled ACL for a set of policy names, from the cache
// when it can. Names of policies that do not exist are ignored, as Vault
// does at request time.
func (p *policyStore) acl(names []string) *policy.ACL {
	key := aclKey(names)
	p.mu.RLock()
	a, ok := p.acls[key]
	p.mu.RUnlock()
	if ok {
		return a
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.acls[key]; ok {
		return a
	}
	pols := make([]*policy.Policy, 0, len(names))
	for _, n := range names {
		if n == "root" {
			pols = append(pols, &policy.Policy{Name: "root"})
			continue
		}
		if pol, ok := p.policies[n]; ok {
			pols = append(pols, pol)
		}
	}
	a = policy.NewACL(pols)
	if p.acls != nil {
		p.acls[key] = a
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
