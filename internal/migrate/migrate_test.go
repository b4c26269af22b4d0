package migrate_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/migrate"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// fill stores each key with the value "v:" + key.
func fill(t *testing.T, s storage.Storage, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := s.Put(t.Context(), &storage.Entry{Key: k, Value: []byte("v:" + k)}); err != nil {
			t.Fatal(err)
		}
	}
}

// dump returns every key of s with its value.
func dump(t *testing.T, s storage.Storage) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, err := range migrate.Keys(t.Context(), s, "") {
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Get(t.Context(), k)
		if err != nil || e == nil {
			t.Fatalf("Get(%q) = %v, %v", k, e, err)
		}
		out[k] = string(e.Value)
	}
	return out
}

// bytesOf is the size of the values fill stores at keys.
func bytesOf(keys ...string) int64 {
	var n int64
	for _, k := range keys {
		n += int64(len("v:" + k))
	}
	return n
}

var sourceKeys = []string{"a", "a-b", "a/b", "a/c/d", "a0", "core/seal-config", "logical/x/y/z", "z"}

func TestKeysSorted(t *testing.T) {
	t.Parallel()
	src := inmem.New()
	fill(t, src, sourceKeys...)
	for _, start := range []string{"", "a/", "a/c", "a/c/e", "b", "zz"} {
		var got []string
		for k, err := range migrate.Keys(t.Context(), src, start) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, k)
		}
		var want []string
		for _, k := range slices.Sorted(slices.Values(sourceKeys)) {
			if k >= start {
				want = append(want, k)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Keys(start %q) (-want +got):\n%s", start, d)
		}
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		dest        []string // keys the destination holds before
		start       string
		deleteExtra bool
		want        migrate.Stats
		wantKeys    []string // destination keys after (all source keys when nil)
	}{
		{name: "empty destination", want: migrate.Stats{Copied: 8, Bytes: bytesOf(sourceKeys...)}},
		{name: "re-run overwrites", dest: sourceKeys, want: migrate.Stats{Copied: 8, Bytes: bytesOf(sourceKeys...)}},
		{name: "extras counted", dest: []string{"old/key", "a/zz"}, want: migrate.Stats{Copied: 8, Bytes: bytesOf(sourceKeys...), Extra: 2},
			wantKeys: append(slices.Clone(sourceKeys), "old/key", "a/zz")},
		{name: "extras deleted", dest: []string{"old/key", "a/zz"}, deleteExtra: true, want: migrate.Stats{Copied: 8, Bytes: bytesOf(sourceKeys...), Extra: 2, Deleted: 2}},
		{name: "start", start: "a0", want: migrate.Stats{Copied: 4, Bytes: bytesOf("a0", "core/seal-config", "logical/x/y/z", "z")},
			wantKeys: []string{"a0", "core/seal-config", "logical/x/y/z", "z"}},
		{name: "start keeps extras before it", dest: []string{"0"}, start: "a0", deleteExtra: true,
			want:     migrate.Stats{Copied: 4, Bytes: bytesOf("a0", "core/seal-config", "logical/x/y/z", "z")},
			wantKeys: []string{"0", "a0", "core/seal-config", "logical/x/y/z", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, dst := inmem.New(), inmem.New()
			fill(t, src, sourceKeys...)
			for _, k := range tt.dest {
				if err := dst.Put(t.Context(), &storage.Entry{Key: k, Value: []byte("stale")}); err != nil {
					t.Fatal(err)
				}
			}
			var calls int
			got, err := migrate.Copy(t.Context(), migrate.Options{Source: src, Destination: dst, Start: tt.start, DeleteExtra: tt.deleteExtra,
				BatchSize: 3, Progress: func(migrate.Stats) { calls++ }})
			if err != nil {
				t.Fatalf("Copy = %v", err)
			}
			if got != tt.want {
				t.Errorf("Copy = %+v, want %+v", got, tt.want)
			}
			if wantCalls := (tt.want.Copied + 2) / 3; calls != wantCalls {
				t.Errorf("Progress called %d times, want %d", calls, wantCalls)
			}
			keys := tt.wantKeys
			if keys == nil {
				keys = sourceKeys
			}
			want := map[string]string{}
			for _, k := range keys {
				want[k] = "v:" + k
				if !slices.Contains(sourceKeys, k) || k < tt.start {
					want[k] = "stale"
				}
			}
			if d := cmp.Diff(want, dump(t, dst)); d != "" {
				t.Errorf("destination after Copy (-want +got):\n%s", d)
			}
		})
	}
}

// failing is a storage whose Txn fails after n calls.
type failing struct {
	storage.Storage
	n int
}

func (f *failing) Txn(ctx context.Context, ops []storage.Op) error {
	if f.n == 0 {
		return fmt.Errorf("disk full")
	}
	f.n--
	return f.Storage.Txn(ctx, ops)
}

func TestCopyResumes(t *testing.T) {
	t.Parallel()
	src := inmem.New()
	fill(t, src, sourceKeys...)
	dst, err := bolt.Open(bolt.Options{Path: t.TempDir() + "/dst.db", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	st, err := migrate.Copy(t.Context(), migrate.Options{Source: src, Destination: &failing{Storage: dst, n: 1}, BatchSize: 3})
	if err == nil || st.Copied != 3 {
		t.Fatalf("Copy into a failing destination = %+v, %v; want 3 copied and an error", st, err)
	}
	if _, err := migrate.Copy(t.Context(), migrate.Options{Source: src, Destination: dst, Start: "a/c/d"}); err != nil {
		t.Fatalf("resumed Copy = %v", err)
	}
	if d := cmp.Diff(dump(t, src), dump(t, dst)); d != "" {
		t.Errorf("destination after resuming (-src +dst):\n%s", d)
	}
}
