package bolt_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
)

// TestGroupCommit runs more concurrent writers than one commit carries,
// each writing two-key transactions, and checks that every acknowledged
// write is there afterwards, in the file as reopened.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		writers int
		each    int
	}{
		{"one-writer", 1, 20},
		{"64-writers", 64, 10},
		{"more-writers-than-a-batch", bolt.MaxBatchSize + 50, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "coffer.db")
			s, err := bolt.Open(bolt.Options{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			var wg sync.WaitGroup
			for w := range tt.writers {
				wg.Go(func() {
					for i := range tt.each {
						k := fmt.Sprintf("w%d/%d", w, i)
						err := s.Txn(ctx, []storage.Op{
							{Kind: storage.OpPut, Entry: storage.Entry{Key: k + "/a", Value: []byte(k)}},
							{Kind: storage.OpPut, Entry: storage.Entry{Key: k + "/b", Value: []byte(k)}},
						})
						if err != nil {
							t.Errorf("Txn(%s) = %v", k, err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openAt(t, path)
			for w := range tt.writers {
				for i := range tt.each {
					for _, leaf := range []string{"a", "b"} {
						k := fmt.Sprintf("w%d/%d", w, i)
						e, err := s.Get(ctx, k+"/"+leaf)
						if err != nil || e == nil || string(e.Value) != k {
							t.Fatalf("Get(%s/%s) after reopen = %v, %v; want %q", k, leaf, e, err, k)
						}
					}
				}
			}
		})
	}
}

// TestTxnAfterClose checks that a write after Close fails rather than
// waiting for a commit that never comes, and that the next one does too.
func TestTxnAfterClose(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(bolt.Options{Path: filepath.Join(t.TempDir(), "coffer.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Put(t.Context(), &storage.Entry{Key: "k", Value: []byte("v")}); err == nil {
			t.Errorf("Put #%d after Close = nil, want an error", i+1)
		}
	}
}

// openAt opens the database at path and closes it when t ends.
func openAt(t *testing.T, path string) *bolt.Storage {
	t.Helper()
	s, err := bolt.Open(bolt.Options{Path: path})
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}
