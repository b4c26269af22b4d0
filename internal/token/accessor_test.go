package token

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// toLegacy rewrites the accessor index entry of the token with hash h to
// the layout before accessors were hashed, as an older Coffer wrote it.
func (f *fixture) toLegacy(t *testing.T, accessor, h string) {
	t.Helper()
	key, err := f.s.accessorKey(accessor)
	if err != nil {
		t.Fatal(err)
	}
	err = f.b.Txn(context.Background(), []storage.Op{
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: key}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: legacyAccessorPrefix + accessor, Value: []byte(h)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAccessorsHashedInStorage checks that no storage key holds an
// accessor in clear, and that lookup, listing and revocation by accessor
// work from the hashed index.
func TestAccessorsHashedInStorage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, h := f.create(t, &Entry{Policies: []string{"a"}})
	e, _, err := f.s.LookupAccessor(ctx, mustLookupHash(t, f.s, h).Accessor, t0)
	if err != nil || e == nil {
		t.Fatalf("LookupAccessor = %v, %v", e, err)
	}
	for _, k := range allKeys(t, f.phys, "") {
		if strings.Contains(k, e.Accessor) {
			t.Errorf("storage key %q holds the accessor", k)
		}
	}
	got, err := f.s.Accessors(ctx)
	if err != nil || !slices.Equal(got, []string{e.Accessor}) {
		t.Fatalf("Accessors = %v, %v; want [%s]", got, err, e.Accessor)
	}
	if e, _, err := f.s.LookupAccessor(ctx, "nope", t0); err != nil || e != nil {
		t.Errorf("LookupAccessor(unknown) = %v, %v; want nothing", e, err)
	}
}

// TestAccessorUpgrade writes accessor entries in the old layout (accessor
// in clear in the key), then checks that a fresh store reads them,
// revokes by them, lists them, and that MigrateAccessors moves them.
func TestAccessorUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, h1 := f.create(t, &Entry{Policies: []string{"a"}})
	_, h2 := f.create(t, &Entry{Policies: []string{"b"}})
	_, h3 := f.create(t, &Entry{Policies: []string{"c"}})
	a1, a2, a3 := mustLookupHash(t, f.s, h1).Accessor, mustLookupHash(t, f.s, h2).Accessor, mustLookupHash(t, f.s, h3).Accessor
	f.toLegacy(t, a1, h1)
	f.toLegacy(t, a2, h2)

	s := f.open(t) // as after a restart, before migration
	if n := s.Count(); n != 3 {
		t.Errorf("Count = %d, want 3", n)
	}
	for _, a := range []string{a1, a2, a3} {
		if e, _, err := s.LookupAccessor(ctx, a, t0); err != nil || e == nil || e.Accessor != a {
			t.Errorf("LookupAccessor(%s) before migration = %v, %v", a, e, err)
		}
	}
	want := []string{a1, a2, a3}
	slices.Sort(want)
	if got, err := s.Accessors(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("Accessors before migration = %v, %v; want %v", got, err, want)
	}
	// Revoking an old-layout token by accessor removes its old entry.
	_, h, err := s.LookupAccessor(ctx, a2, t0)
	if err != nil || h != h2 {
		t.Fatalf("LookupAccessor(a2) hash = %q, %v", h, err)
	}
	if err := s.Revoke(ctx, h); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := s.LookupAccessor(ctx, a2, t0); e != nil {
		t.Error("a revoked old-layout token is still found by accessor")
	}

	n, err := s.MigrateAccessors(ctx)
	if err != nil || n != 1 {
		t.Fatalf("MigrateAccessors = %d, %v; want 1 moved", n, err)
	}
	if old := allKeys(t, f.b, legacyAccessorPrefix); len(old) != 0 {
		t.Errorf("old-layout entries left after migration: %d", len(old))
	}
	for _, k := range allKeys(t, f.phys, "") {
		for _, a := range []string{a1, a2, a3} {
			if strings.Contains(k, a) {
				t.Errorf("storage key %q holds an accessor after migration", k)
			}
		}
	}
	want = []string{a1, a3}
	slices.Sort(want)
	if got, err := s.Accessors(ctx); err != nil || !slices.Equal(got, want) {
		t.Errorf("Accessors after migration = %v, %v; want %v", got, err, want)
	}
	if err := s.RevokeWhere(ctx, t0, func(e *Entry) bool { return e.Accessor == a1 }); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := s.LookupAccessor(ctx, a1, t0); e != nil {
		t.Error("RevokeWhere left the migrated token")
	}
	if e, _, err := s.LookupAccessor(ctx, a3, t0); err != nil || e == nil {
		t.Errorf("LookupAccessor(a3) after migration = %v, %v", e, err)
	}
	if n, err := s.MigrateAccessors(ctx); err != nil || n != 0 {
		t.Errorf("second MigrateAccessors = %d, %v; want 0", n, err)
	}
	if err := s.Tidy(ctx, t0); err != nil {
		t.Errorf("Tidy: %v", err)
	}
}

func mustLookupHash(t *testing.T, s *Store, h string) *Entry {
	t.Helper()
	e, err := s.LookupHash(context.Background(), h, t0)
	if err != nil || e == nil {
		t.Fatalf("LookupHash = %v, %v", e, err)
	}
	return e
}
