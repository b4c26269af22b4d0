package kv

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// countingAccess is a prefixAccess that counts the keys it is asked about.
type countingAccess struct {
	prefixAccess
	calls atomic.Int64
}

func (a *countingAccess) Allowed(path string, op logical.Operation) bool {
	a.calls.Add(1)
	return a.prefixAccess.Allowed(path, op)
}

// putMetas stores n keys "k/0000"... with one version each, straight into
// storage (faster than n writes through the API).
func putMetas(t *testing.T, h *harness, n int) {
	t.Helper()
	meta := []byte(`{"created":1,"updated":1,"current":1,"oldest":1,"versions":[{"n":1,"created":1}]}`)
	for i := range n {
		if err := h.Storage.Put(t.Context(), &logical.StorageEntry{Key: fmt.Sprintf("%sk/%04d", metaPrefix, i), Value: meta}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecursiveListScanBudget: a token that sees 1 of 5,000 keys gets
// pages that each examine at most the scan budget, with a continuation,
// and finds its key by following them.
func TestRecursiveListScanBudget(t *testing.T) {
	const keys = 5000
	h := newHarness(t, "2")
	putMetas(t, h, keys)
	tests := []struct {
		name      string
		limit     int
		access    prefixAccess
		want      []string
		minPages  int
		shortPage bool // some page holds fewer than limit keys but has a next one
	}{
		{"one key visible", 10, prefixAccess{"read:secret/data/k/3777"}, []string{"k/3777"}, keys / scanBudget(10), true},
		{"every key visible", 250, prefixAccess{"read:secret/data/"}, nil, keys / 250, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.limit
			access := &countingAccess{prefixAccess: tc.access}
			var found []string
			pages, short := 0, false
			for after := ""; ; pages++ {
				access.calls.Store(0)
				r := &logical.Request{Operation: opList, Path: "metadata/", MountPoint: "secret/", Access: access,
					Query: url.Values{"recursive": {"true"}, "after": {after}, "limit": {fmt.Sprint(limit)}}}
				resp, err := h.Send(r)
				if err != nil {
					t.Fatal(err)
				}
				if n := access.calls.Load(); n > 3*int64(scanBudget(limit)) {
					t.Fatalf("page %d: %d ACL checks, more than 3 for each of %d keys", pages, n, scanBudget(limit))
				}
				if resp == nil {
					break
				}
				l := resp.Data.(*recursiveList)
				if len(l.Keys) > limit {
					t.Fatalf("page %d: %d keys, limit %d", pages, len(l.Keys), limit)
				}
				found = append(found, l.Keys...)
				if l.NextAfter == "" {
					break
				}
				if l.NextAfter <= after {
					t.Fatalf("next_after %q does not move past %q", l.NextAfter, after)
				}
				if len(l.Keys) < limit {
					short = true
					if len(resp.Warnings) == 0 {
						t.Errorf("page %d: a short page with a continuation has no warning", pages)
					}
				}
				after = l.NextAfter
			}
			if tc.want != nil && !slicesEqual(found, tc.want) {
				t.Errorf("found %q, want %q", found, tc.want)
			}
			if tc.want == nil && len(found) != keys {
				t.Errorf("found %d keys, want %d", len(found), keys)
			}
			if pages < tc.minPages || short != tc.shortPage {
				t.Errorf("%d pages (want at least %d), short page %v (want %v)", pages, tc.minPages, short, tc.shortPage)
			}
		})
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// countingStorage counts the Gets of metadata entries.
type countingStorage struct {
	*logicaltest.Storage
	metaGets atomic.Int64
}

func (s *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if strings.HasPrefix(key, metaPrefix) {
		s.metaGets.Add(1)
	}
	return s.Storage.Get(ctx, key)
}

// TestWalkSecretsFiltered: visit sees every key under the prefix by path
// first; only the keys it asks to load are read, and it can stop the walk.
func TestWalkSecretsFiltered(t *testing.T) {
	env := logicaltest.NewEnv(map[string]string{"version": "2"})
	st := &countingStorage{Storage: env.Storage.(*logicaltest.Storage)}
	env.Storage = st
	h := &harness{logicaltest.NewHarness(t, Factory, env)}
	h.Storage = st.Storage
	putMetas(t, h, 50)
	b := h.Backend.(*backendV2)
	tests := []struct {
		name               string
		prefix, after      string
		stopAt             int // visits before stopping, 0: never
		wantVisits, wantFn int
	}{
		{"every key, load every tenth", "k/", "", 0, 50, 5},
		{"after a key", "k/", "k/0039", 0, 10, 1},
		{"prefix inside the folder", "k/001", "", 0, 10, 1},
		{"stopped by visit", "k/", "", 7, 7, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st.metaGets.Store(0)
			visits, fns := 0, 0
			err := b.WalkSecretsFiltered(t.Context(), tc.prefix, tc.after, func(k string) (bool, bool) {
				visits++
				var n int
				fmt.Sscanf(k, "k/%d", &n)
				return n%10 == 0, tc.stopAt == 0 || visits < tc.stopAt
			}, func(s logical.SecretInfo) (bool, error) {
				fns++
				if !strings.HasSuffix(s.Path, "0") || s.CurrentVersion != 1 {
					t.Errorf("fn got %q v%d", s.Path, s.CurrentVersion)
				}
				return true, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if visits != tc.wantVisits || fns != tc.wantFn || st.metaGets.Load() != int64(tc.wantFn) {
				t.Errorf("visits %d, fn %d, metadata reads %d; want %d, %d, %d", visits, fns, st.metaGets.Load(), tc.wantVisits, tc.wantFn, tc.wantFn)
			}
		})
	}
}

// TestStandbyRecordsNoRead: a backend built for a standby keeps no last
// read in memory, so its Cleanup has nothing to write.
func TestStandbyRecordsNoRead(t *testing.T) {
	for _, standby := range []bool{false, true} {
		t.Run(fmt.Sprintf("standby=%v", standby), func(t *testing.T) {
			env := logicaltest.NewEnv(map[string]string{"version": "2"})
			h := &harness{logicaltest.NewHarness(t, Factory, env)}
			h.must(req{op: opUpdate, path: "data/app/db", body: `{"data":{"k":"v"}}`})
			env.Standby = standby
			b, err := Factory(t.Context(), env)
			if err != nil {
				t.Fatal(err)
			}
			r := h.Request(opRead, "data/app/db", nil)
			if _, err := b.HandleRequest(t.Context(), r); err != nil {
				t.Fatal(err)
			}
			bv := b.(*backendV2)
			bv.lastRead.mu.Lock()
			pending := len(bv.lastRead.pending)
			bv.lastRead.mu.Unlock()
			if want := map[bool]int{false: 1, true: 0}[standby]; pending != want {
				t.Errorf("%d reads pending, want %d", pending, want)
			}
			bv.Cleanup(t.Context())
		})
	}
}

// deleteOnRead is a storage that, the first time the last-read entry of
// key is read (as a flush does before it writes), runs hook: the
// metadata delete of a racing request.
type deleteOnRead struct {
	*logicaltest.Storage
	key  string
	once sync.Once
	hook func()
}

func (s *deleteOnRead) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if key == lastReadPrefix+s.key && s.hook != nil {
		s.once.Do(s.hook)
	}
	return s.Storage.Get(ctx, key)
}

// TestFlushRacingMetadataDelete: a key's metadata deleted while a flush
// holds its read leaves no last-read entry behind.
func TestFlushRacingMetadataDelete(t *testing.T) {
	for _, how := range []string{"metadata delete"} {
		t.Run(how, func(t *testing.T) {
			env := logicaltest.NewEnv(map[string]string{"version": "2"})
			st := &deleteOnRead{Storage: env.Storage.(*logicaltest.Storage), key: "app/db"}
			env.Storage = st
			h := &harness{logicaltest.NewHarness(t, Factory, env)}
			h.Storage = st.Storage
			h.must(req{op: opUpdate, path: "data/app/db", body: `{"data":{"k":"v"}}`})
			h.must(req{op: opUpdate, path: "data/app/other", body: `{"data":{"k":"v"}}`})
			h.must(req{op: opRead, path: "data/app/db"})
			h.must(req{op: opRead, path: "data/app/other"})
			st.hook = func() {
				h.must(req{op: opDelete, path: "metadata/app/db"})
			}
			if err := h.Backend.(*backendV2).Periodic(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Storage.Get(t.Context(), metaKey("app/db")); err != nil {
				t.Fatal(err)
			}
			for k := range h.Storage.Snapshot() {
				if k == lastReadPrefix+"app/db" {
					t.Errorf("orphan last-read entry %q after the metadata was deleted", k)
				}
			}
			if e, _ := st.Storage.Get(t.Context(), lastReadPrefix+"app/other"); e == nil {
				t.Error("the other key's last read was not written")
			}
		})
	}
}
