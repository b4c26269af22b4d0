package policies

import (
	"errors"
	"slices"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func TestACLKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b []string
		same bool
	}{
		{a: []string{"a", "b"}, b: []string{"b", "a"}, same: true},
		{a: []string{"a", "b", "a"}, b: []string{"a", "b"}, same: true},
		{a: []string{"a"}, b: []string{"a", "b"}, same: false},
		{a: []string{"ab"}, b: []string{"a", "b"}, same: false},
	}
	for _, tt := range tests {
		if got := aclKey(tt.a) == aclKey(tt.b); got != tt.same {
			t.Errorf("aclKey(%q) == aclKey(%q) is %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := inmem.New()
	s := NewStore(st)
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// The default policy is installed and stored.
	if e, err := st.Get(ctx, Prefix+policy.DefaultPolicyName); err != nil || e == nil {
		t.Fatalf("stored default policy = %v, %v", e, err)
	}
	if err := s.Put(ctx, "Dev", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Names(), []string{"default", "dev", "root"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	acl := s.ACL([]string{"dev", "missing"})
	if got := acl.Capabilities("secret/x"); !slices.Equal(got, []string{"read"}) {
		t.Errorf("Capabilities(secret/x) = %q, want [read]", got)
	}
	// A change drops the cached ACLs.
	if err := s.Put(ctx, "dev", `path "secret/*" { capabilities = ["list"] }`); err != nil {
		t.Fatal(err)
	}
	if got := s.ACL([]string{"dev"}).Capabilities("secret/x"); !slices.Equal(got, []string{"list"}) {
		t.Errorf("after a change, Capabilities(secret/x) = %q, want [list]", got)
	}

	refused := []struct {
		name string
		err  error
	}{
		{"write root", s.Put(ctx, "root", `path "x" { capabilities = ["read"] }`)},
		{"write unparsable", s.Put(ctx, "bad", `path {`)},
		{"delete root", s.Delete(ctx, "root")},
		{"delete default", s.Delete(ctx, "default")},
	}
	for _, r := range refused {
		if !errors.Is(r.err, logical.ErrInvalidRequest) {
			t.Errorf("%s: error = %v, want an invalid-request error", r.name, r.err)
		}
	}

	// Another node deleted the policy: ReloadOne forgets it.
	if err := st.Delete(ctx, Prefix+"dev"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadOne(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if s.Exists("dev") || !s.Exists("root") {
		t.Errorf("after reload, Exists(dev) = %v, Exists(root) = %v; want false, true", s.Exists("dev"), s.Exists("root"))
	}
	s.Reset()
	if _, ok := s.Policy("default"); ok {
		t.Error("Reset kept the default policy")
	}
}

func TestLoadReadOnlyStoresNothing(t *testing.T) {
	t.Parallel()
	st := inmem.New()
	s := NewStore(st)
	if err := s.LoadReadOnly(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !s.Exists(policy.DefaultPolicyName) {
		t.Error("a standby's store lacks the default policy")
	}
	if keys, err := st.List(t.Context(), Prefix); err != nil || len(keys) != 0 {
		t.Errorf("a standby stored %q, %v; want nothing", keys, err)
	}
}
