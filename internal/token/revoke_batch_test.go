package token

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// flakyStorage fails one chosen transaction, standing in for a disk or
// database failing in the middle of a revocation.
type flakyStorage struct {
	storage.Storage
	failTxn atomic.Int32 // the Txn that fails: 1 for the next one; 0 for none
}

func (f *flakyStorage) Txn(ctx context.Context, ops []storage.Op) error {
	if f.failTxn.Add(-1) == 0 {
		return errors.New("storage unreachable")
	}
	return f.Storage.Txn(ctx, ops)
}

// testBatch is the batch size in these tests, to keep the trees small.
const testBatch = 16

// batchFixture is a store over flaky storage whose OnRevokeBatch records
// each batch and can be told to fail.
type batchFixture struct {
	*fixture
	st *flakyStorage

	mu       sync.Mutex
	batches  [][]string
	seen     map[string]int // hash -> batches it was in
	failCall int            // the OnRevokeBatch call that fails, 0 for none
	calls    int
	orphans  []string // tokens of a batch that still had children
}

func newBatchFixture(t *testing.T) *batchFixture {
	t.Helper()
	bf := &batchFixture{fixture: newFixture(t), seen: map[string]int{}}
	bf.st = &flakyStorage{Storage: bf.b}
	bf.s = New(Options{Storage: bf.st, Crypter: bf.b, Logger: slog.New(slog.DiscardHandler),
		OnRevokeBatch: func(ctx context.Context, hashes []string, entries []*Entry) error {
			for _, h := range hashes {
				// Deepest first: a token's children are gone before it.
				if kids, err := bf.s.Children(ctx, h); err != nil || len(kids) > 0 {
					bf.mu.Lock()
					bf.orphans = append(bf.orphans, h)
					bf.mu.Unlock()
				}
			}
			bf.mu.Lock()
			defer bf.mu.Unlock()
			bf.calls++
			if bf.calls == bf.failCall {
				return errors.New("backend unreachable")
			}
			bf.batches = append(bf.batches, hashes)
			for i, h := range hashes {
				bf.seen[h]++
				if entries[i] == nil || entries[i].Accessor == "" {
					t.Errorf("OnRevokeBatch got no entry for a token")
				}
			}
			return nil
		}})
	bf.s.batch = testBatch
	if err := bf.s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return bf
}

// tree makes a root with mids children, each with leaves children, and
// returns the root's hash and every ID under it (root included).
func (bf *batchFixture) tree(t *testing.T, mids, leaves int) (string, []ID) {
	t.Helper()
	rootID, root := bf.create(t, &Entry{Policies: []string{"default"}})
	ids := []ID{rootID}
	for range mids {
		id, mid := bf.create(t, &Entry{Parent: root, Policies: []string{"default"}})
		ids = append(ids, id)
		for range leaves {
			id, _ := bf.create(t, &Entry{Parent: mid, Policies: []string{"default"}})
			ids = append(ids, id)
		}
	}
	return root, ids
}

// checkNoOrphan fails t if a stored token's parent is not stored: the
// state a revocation stopped half-way must never leave.
func (bf *batchFixture) checkNoOrphan(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, k := range allKeys(t, bf.b, idPrefix) {
		e, err := bf.s.load(ctx, k[len(idPrefix):])
		if err != nil || e == nil {
			t.Fatalf("load %s: %v", k, err)
		}
		if e.Parent == "" {
			continue
		}
		if p, err := bf.s.load(ctx, e.Parent); err != nil || p == nil {
			t.Errorf("a token outlives its parent (err %v)", err)
		}
	}
}

func TestRevokeTreeInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bf := newBatchFixture(t)
	root, ids := bf.tree(t, 3, 15) // 45 leaves: three batches on one level
	otherID, _ := bf.create(t, &Entry{Policies: []string{"default"}})
	for _, id := range ids {
		mustLookup(t, bf.s, id) // cached, and in the live index
	}
	liveSet(t, bf.s, t0)
	if err := bf.s.Revoke(ctx, root); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if e, _, err := bf.s.Lookup(ctx, id, t0); e != nil || err != nil {
			t.Fatalf("Lookup of a revoked token = %v, %v; want nothing", e != nil, err)
		}
	}
	mustLookup(t, bf.s, otherID)
	if got := liveSet(t, bf.s, t0); len(got) != 1 {
		t.Errorf("live index holds %d tokens after the revocation, want 1", len(got))
	}
	if n := bf.s.Count(); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	if keys := allKeys(t, bf.b, idPrefix); len(keys) != 1 {
		t.Errorf("%d token records remain, want 1", len(keys))
	}
	for _, prefix := range []string{parentPrefix, expiryPrefix, accessorPrefix} {
		if keys := allKeys(t, bf.b, prefix); prefix != accessorPrefix && len(keys) != 0 || prefix == accessorPrefix && len(keys) != 1 {
			t.Errorf("%d keys remain under %s", len(keys), prefix)
		}
	}
	if len(bf.seen) != len(ids) {
		t.Errorf("OnRevokeBatch saw %d tokens, want %d", len(bf.seen), len(ids))
	}
	for _, n := range bf.seen {
		if n != 1 {
			t.Errorf("a token was in %d batches, want 1", n)
		}
	}
	for _, b := range bf.batches {
		if len(b) > testBatch {
			t.Errorf("a batch of %d tokens, more than %d", len(b), testBatch)
		}
	}
	// 45 leaves, 3 mids, the root: 3 + 1 + 1 batches, not one per token.
	if len(bf.batches) != 5 {
		t.Errorf("%d batches, want 5", len(bf.batches))
	}
	if len(bf.orphans) > 0 {
		t.Errorf("%d tokens were revoked before their children", len(bf.orphans))
	}
}

func TestRevokeTreeFailsMidway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failCall int   // OnRevokeBatch call that fails
		failTxn  int32 // storage transaction that fails
	}{
		{name: "revoking what a batch holds fails", failCall: 2},
		{name: "deleting a batch fails", failTxn: 2},
		{name: "deleting the root fails", failTxn: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			bf := newBatchFixture(t)
			root, ids := bf.tree(t, 3, 15)
			rootID := ids[0]
			bf.failCall = tc.failCall
			bf.st.failTxn.Store(tc.failTxn)
			if err := bf.s.Revoke(ctx, root); err == nil {
				t.Fatal("Revoke succeeded although a step failed")
			}
			bf.checkNoOrphan(t)
			mustLookup(t, bf.s, rootID) // the root goes last
			if n, stored := bf.s.Count(), len(allKeys(t, bf.b, idPrefix)); n != int64(stored) {
				t.Errorf("Count = %d, %d tokens stored", n, stored)
			}
			// Running it again completes the job.
			if err := bf.s.Revoke(ctx, root); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if e, _, _ := bf.s.Lookup(ctx, id, t0); e != nil {
					t.Fatal("a token survived the second revocation")
				}
			}
			if keys := allKeys(t, bf.b, "sys/token/"); len(keys) != 1 || keys[0] != saltKey {
				t.Errorf("keys remain after the second revocation: %d", len(keys))
			}
			if len(bf.seen) != len(ids) {
				t.Errorf("OnRevokeBatch saw %d tokens, want %d", len(bf.seen), len(ids))
			}
		})
	}
}
