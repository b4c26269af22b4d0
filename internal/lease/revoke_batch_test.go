package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// slowRevoker is a backend that takes a moment per revocation, counts
// how many run at once and fails for leases marked "fail".
type slowRevoker struct {
	inFlight, most atomic.Int32
	mu             sync.Mutex
	calls          map[string]int
}

func (r *slowRevoker) RevokeLease(ctx context.Context, e *Entry) error {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.most.Load()
		if n <= m || r.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Millisecond)
	r.mu.Lock()
	r.calls[e.LeaseID]++
	r.mu.Unlock()
	if e.InternalData["fail"] != "" {
		return errors.New("database unreachable")
	}
	return nil
}

func (r *slowRevoker) RenewLease(ctx context.Context, e *Entry, inc time.Duration) (time.Duration, error) {
	return inc, nil
}

// flakyStorage fails one chosen transaction.
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

// keysUnder lists every key under prefix.
func keysUnder(t *testing.T, st storage.Storage, prefix string) []string {
	t.Helper()
	names, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			out = append(out, keysUnder(t, st, prefix+n)...)
		} else {
			out = append(out, prefix+n)
		}
	}
	return out
}

func TestRevokeByTokens(t *testing.T) {
	t.Parallel()
	const tokens, perToken = 4, 100 // 400 leases: two deletion transactions
	tests := []struct {
		name    string
		failTxn int32 // the storage transaction that fails, 0 for none
	}{
		{name: "all goes well"},
		// Transactions 1-4 record the four failed revocations, 5 and 6
		// delete the leases revoked.
		{name: "the second deletion fails", failTxn: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := &flakyStorage{Storage: inmem.New()}
			rv := &slowRevoker{calls: map[string]int{}}
			m := New(Options{Storage: st, Revoker: rv, Clock: logicaltest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))})
			if err := m.Load(ctx); err != nil {
				t.Fatal(err)
			}
			var hashes []string
			failing := map[string]bool{}
			for i := range tokens {
				h := fmt.Sprintf("tok%d", i)
				hashes = append(hashes, h)
				for j := range perToken {
					data := map[string]string{"username": "u"}
					if j == 7 {
						data["fail"] = "yes"
					}
					e, err := m.Register(ctx, Request{MountPath: "db/", Path: "creds/app", TokenHash: h, TTL: time.Hour, InternalData: data})
					if err != nil {
						t.Fatal(err)
					}
					if j == 7 {
						failing[e.LeaseID] = true
					}
				}
			}
			other, _ := m.Register(ctx, Request{MountPath: "db/", Path: "creds/app", TokenHash: "other", TTL: time.Hour})
			st.failTxn.Store(tc.failTxn)

			err := m.RevokeByTokens(ctx, hashes)
			if (err != nil) != (tc.failTxn != 0) {
				t.Fatalf("RevokeByTokens() = %v, want an error: %v", err, tc.failTxn != 0)
			}
			if most := rv.most.Load(); most > revokeWorkers || most < 2 {
				t.Errorf("%d revocations ran at once, want 2 to %d", most, revokeWorkers)
			}
			stored := keysUnder(t, st, idPrefix)
			if got := int64(len(stored)); m.Count() != got {
				t.Errorf("Count = %d, %d leases stored", m.Count(), got)
			}
			if len(keysUnder(t, st, timePrefix)) != len(stored) || len(keysUnder(t, st, tokenPrefix)) != len(stored) {
				t.Errorf("index entries do not match the %d leases stored", len(stored))
			}
			if _, err := m.Lookup(ctx, other.LeaseID); err != nil {
				t.Errorf("another token's lease went: %v", err)
			}
			for id := range failing {
				e, err := m.Lookup(ctx, id)
				if err != nil || e.RevokeAttempts != 1 || e.LastError == "" {
					t.Errorf("a lease whose backend failed: %+v, %v; want it kept for retry", e, err)
				}
			}
			if tc.failTxn == 0 {
				if want := 1 + len(failing); len(stored) != want {
					t.Errorf("%d leases stored, want %d", len(stored), want)
				}
			} else if len(stored) <= 1+len(failing) || len(stored) >= tokens*perToken {
				t.Errorf("%d leases stored after a failed deletion, want some but not all", len(stored))
			}
			// Running it again completes the job.
			if err := m.RevokeByTokens(ctx, hashes); err != nil {
				t.Fatal(err)
			}
			if got, want := len(keysUnder(t, st, idPrefix)), 1+len(failing); got != want {
				t.Errorf("%d leases stored after a second run, want %d", got, want)
			}
			for id, n := range rv.calls {
				if n < 1 || n > 1 && !failing[id] && tc.failTxn == 0 {
					t.Errorf("lease revoked %d times at its backend", n)
				}
			}
			if len(rv.calls) != tokens*perToken {
				t.Errorf("%d leases revoked at their backend, want %d", len(rv.calls), tokens*perToken)
			}
		})
	}
}
