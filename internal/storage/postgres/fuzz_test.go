package postgres_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// FuzzKeys writes arbitrary keys to PostgreSQL and to the in-memory
// reference storage and checks that they agree: which keys are accepted,
// what Get returns, and what List returns for prefixes of the key
// (splitting keys at "/", byte ranges and the folder skip must hold for
// any bytes, including NUL-free invalid UTF-8 and 0xff runs).
func FuzzKeys(f *testing.F) {
	for _, seed := range []string{
		"a", "a/b", "a/b/c", "a//b", "a/b/", "/a", "a/../b", "\xff", "\xff/\xff\xff", "p/x/\xff/deep",
		"p/x0", "p/x.", "a\x00b", "sys/policy/ünïcode/🔑", "a/./b", "...", "0/0/0/0",
	} {
		f.Add(seed, []byte("v"))
	}
	url, _ := newSchema(f)
	pg := open(f, url)
	ref := inmem.New()
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		if len(key) > 256 {
			return // long keys are covered by TestKeyTooLong; keep entries small
		}
		ctx := t.Context()
		errPG := pg.Put(ctx, &storage.Entry{Key: key, Value: value})
		errRef := ref.Put(ctx, &storage.Entry{Key: key, Value: value})
		if (errPG == nil) != (errRef == nil) || (errRef != nil && !errors.Is(errPG, storage.ErrInvalidKey)) {
			t.Fatalf("Put(%q): postgres = %v, reference = %v", key, errPG, errRef)
		}
		got, err := pg.Get(ctx, key)
		want, _ := ref.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%q) = %v", key, err)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Get(%q) mismatch (-reference +postgres):\n%s", key, diff)
		}
		// Prefixes that end at, just after and just before folder
		// boundaries, and at the key's end, where the edge cases live.
		cuts := []int{0, len(key), max(0, len(key)-1)}
		for i := range len(key) {
			if key[i] == '/' {
				cuts = append(cuts, i, i+1)
			}
		}
		for _, i := range cuts {
			prefix := key[:i]
			got, err := pg.List(ctx, prefix)
			if err != nil {
				t.Fatalf("List(%q) = %v", prefix, err)
			}
			want, _ := ref.List(ctx, prefix)
			if !slices.Equal(got, want) {
				t.Fatalf("List(%q) = %q, reference %q", prefix, got, want)
			}
		}
	})
}
