package policies

import (
	"slices"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// fakeEntities is an identity store with a version and a call count.
type fakeEntities struct {
	mu      sync.Mutex
	version uint64
	ids     map[string]*policy.Identity
	calls   int
}

func (f *fakeEntities) Version() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

func (f *fakeEntities) Identity(id string) (*policy.Identity, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.ids[id], f.version
}

func (f *fakeEntities) set(id string, ident *policy.Identity) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids[id] = ident
	f.version++
}

func TestEntityACL(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewStore(inmem.New())
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "own", `path "secret/{{identity.entity.name}}/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "plain", `path "shared/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	ents := &fakeEntities{ids: map[string]*policy.Identity{
		"e1": {EntityID: "e1", EntityName: "alice"},
		"e2": {EntityID: "e2", EntityName: "bob"},
	}}
	caps := func(names []string, entity, path string) []string {
		return s.EntityACL(names, entity, ents).Capabilities(path)
	}
	both := []string{"own", "plain"}
	tests := []struct {
		names        []string
		entity, path string
		want         string
	}{
		{both, "e1", "secret/alice/x", "read"},
		{both, "e1", "secret/bob/x", "deny"},
		{both, "e2", "secret/bob/x", "read"},
		{both, "e2", "shared/x", "read"},
		{both, "", "secret/alice/x", "deny"},   // no entity: templated rules grant nothing
		{both, "", "shared/x", "read"},         // but plain rules do
		{both, "e3", "secret/alice/x", "deny"}, // unknown entity
		{[]string{"own"}, "e1", "secret/{{identity.entity.name}}/x", "deny"},
	}
	for _, tt := range tests {
		if got := caps(tt.names, tt.entity, tt.path); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%v for %q on %s = %q, want %s", tt.names, tt.entity, tt.path, got, tt.want)
		}
	}

	// Resolved ACLs are cached until the version changes.
	before := ents.calls
	caps(both, "e1", "secret/alice/x")
	caps(both, "e2", "secret/bob/x")
	if ents.calls != before {
		t.Errorf("cached ACLs resolved again: %d calls", ents.calls-before)
	}
	// A set without templates never asks for the identity.
	caps([]string{"plain"}, "e1", "shared/x")
	if ents.calls != before {
		t.Errorf("a plain policy set asked for the identity")
	}
	ents.set("e1", &policy.Identity{EntityID: "e1", EntityName: "carol"})
	if got := caps(both, "e1", "secret/carol/x"); !slices.Equal(got, []string{"read"}) {
		t.Errorf("after a rename, carol's path = %q, want read", got)
	}
	if got := caps(both, "e1", "secret/alice/x"); !slices.Equal(got, []string{"deny"}) {
		t.Errorf("after a rename, alice's path = %q, want deny", got)
	}
	// A policy change drops the resolved ACLs too.
	if err := s.Put(ctx, "own", `path "secret/{{identity.entity.name}}/*" { capabilities = ["list"] }`); err != nil {
		t.Fatal(err)
	}
	if got := caps(both, "e1", "secret/carol/x"); !slices.Equal(got, []string{"list"}) {
		t.Errorf("after a policy change = %q, want list", got)
	}
}

// TestEntityACLBounded checks the resolved cache stays bounded however
// many entities pass through.
func TestEntityACLBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewStore(inmem.New())
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "own", `path "secret/{{identity.entity.id}}" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	ents := &fakeEntities{ids: map[string]*policy.Identity{}}
	for i := range maxEntityACLs + 10 {
		id := string(rune('a'+i%26)) + string(rune(i))
		ents.ids[id] = &policy.Identity{EntityID: id}
		s.EntityACL([]string{"own"}, id, ents)
	}
	s.mu.RLock()
	n := len(s.entityACLs)
	s.mu.RUnlock()
	if n > maxEntityACLs {
		t.Errorf("%d resolved ACLs cached, want at most %d", n, maxEntityACLs)
	}
}

// BenchmarkEntityACL measures the per-request cost of finding a token's
// ACL: a cached templated set resolved for an entity, and a plain set.
func BenchmarkEntityACL(b *testing.B) {
	ctx := b.Context()
	s := NewStore(inmem.New())
	if err := s.Load(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.Put(ctx, "own", `path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`); err != nil {
		b.Fatal(err)
	}
	ents := &fakeEntities{ids: map[string]*policy.Identity{"e1": {EntityID: "e1", EntityName: "alice"}}}
	for _, bc := range []struct {
		name  string
		names []string
	}{
		{"templated", []string{"default", "own"}},
		{"plain", []string{"default"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s.EntityACL(bc.names, "e1", ents) == nil {
					b.Fatal("no ACL")
				}
			}
		})
	}
}
