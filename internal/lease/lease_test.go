package lease

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// fakeRevoker records revocations and can be told to fail, standing in for
// a backend in these unit tests (the integration tests use real ones).
type fakeRevoker struct {
	mu      sync.Mutex
	revoked []string
	fail    bool
}

func (f *fakeRevoker) RevokeLease(ctx context.Context, e *Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("target system unreachable")
	}
	f.revoked = append(f.revoked, e.LeaseID)
	return nil
}

func (f *fakeRevoker) RenewLease(ctx context.Context, e *Entry, inc time.Duration) (time.Duration, error) {
	return inc, nil
}

func (f *fakeRevoker) setFail(v bool) {
	f.mu.Lock()
	f.fail = v
	f.mu.Unlock()
}

func (f *fakeRevoker) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.revoked)
}

func newManager(t *testing.T) (*Manager, *fakeRevoker, *logicaltest.Clock, *inmem.Storage) {
	t.Helper()
	st := inmem.New()
	rv := &fakeRevoker{}
	clock := logicaltest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	m := New(Options{Storage: st, Revoker: rv, Clock: clock})
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, rv, clock, st
}

func TestRegisterExpireAndRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, rv, clock, st := newManager(t)
	short, err := m.Register(ctx, Request{MountPath: "database/", Path: "creds/app", TokenHash: "t1", TTL: 3 * time.Second, Renewable: true, InternalData: map[string]string{"username": "u1"}})
	if err != nil {
		t.Fatal(err)
	}
	long, _ := m.Register(ctx, Request{MountPath: "database/", Path: "creds/app", TTL: time.Hour})
	if m.Count() != 2 {
		t.Errorf("Count = %d, want 2", m.Count())
	}
	if got, err := m.Lookup(ctx, short.LeaseID); err != nil || got.InternalData["username"] != "u1" {
		t.Fatalf("Lookup = %+v, %v", got, err)
	}
	// A restarted manager knows the buckets from storage alone.
	m2 := New(Options{Storage: st, Revoker: rv, Clock: clock})
	if err := m2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if m2.Count() != 2 {
		t.Errorf("Count after reload = %d", m2.Count())
	}
	if n, _ := m2.Sweep(ctx); n != 0 {
		t.Errorf("swept %d leases before expiry", n)
	}
	clock.Advance(4 * time.Second)
	if n, err := m2.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("Sweep after expiry = %d, %v; want 1", n, err)
	}
	if _, err := m2.Lookup(ctx, short.LeaseID); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired lease still stored: %v", err)
	}
	if _, err := m2.Lookup(ctx, long.LeaseID); err != nil {
		t.Errorf("unexpired lease gone: %v", err)
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, clock, _ := newManager(t)
	e, _ := m.Register(ctx, Request{MountPath: "db/", Path: "creds/r", TTL: 10 * time.Second, MaxTTL: 30 * time.Second, Renewable: true})
	clock.Advance(5 * time.Second)
	r, err := m.Renew(ctx, e.LeaseID, 20*time.Second, time.Time{})
	if err != nil || r.TTL(clock.Now()) != 20*time.Second {
		t.Fatalf("Renew = %v, %v", r, err)
	}
	clock.Advance(15 * time.Second)
	r, err = m.Renew(ctx, e.LeaseID, time.Hour, time.Time{})
	if err != nil || r.TTL(clock.Now()) != 10*time.Second {
		t.Errorf("Renew past max = %v, %v; want capped at 10s left", r, err)
	}
	// The renewed lease is not swept at its old expiry.
	if n, _ := m.Sweep(ctx); n != 0 {
		t.Errorf("a renewed lease was swept")
	}
	nr, _ := m.Register(ctx, Request{MountPath: "db/", Path: "x", TTL: time.Minute})
	if _, err := m.Renew(ctx, nr.LeaseID, time.Minute, time.Time{}); !errors.Is(err, ErrNotRenewable) {
		t.Errorf("renew of a non-renewable lease error = %v", err)
	}
	if _, err := m.Renew(ctx, "db/x/nope", time.Minute, time.Time{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("renew of a missing lease error = %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := m.Renew(ctx, e.LeaseID, time.Minute, time.Time{}); !errors.Is(err, ErrExpired) {
		t.Errorf("renew of an expired lease error = %v, want ErrExpired", err)
	}
}

// TestRenewDefaultIncrement renews again and again without an increment:
// each renewal grants the lease's initial TTL from now (capped by its
// maximum), never a TTL that grows with each renewal, and GrantedTTL
// reports what was granted.
func TestRenewDefaultIncrement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, _, clock, _ := newManager(t)
	e, _ := m.Register(ctx, Request{MountPath: "db/", Path: "creds/r", TTL: 20 * time.Minute, MaxTTL: time.Hour, Renewable: true})
	tests := []struct {
		advance time.Duration
		want    time.Duration
	}{
		{11 * time.Second, 20 * time.Minute},
		{15 * time.Second, 20 * time.Minute},
		{19 * time.Minute, 20 * time.Minute},
		{19 * time.Minute, 20 * time.Minute},
		{19 * time.Minute, 2*time.Minute + 34*time.Second}, // 57m26s after issue: the max caps it
	}
	for i, tt := range tests {
		clock.Advance(tt.advance)
		r, err := m.Renew(ctx, e.LeaseID, 0, time.Time{})
		if err != nil {
			t.Fatalf("renewal %d: %v", i+1, err)
		}
		if got := r.GrantedTTL(); got != tt.want {
			t.Errorf("renewal %d granted %s, want %s", i+1, got, tt.want)
		}
		if got := r.TTL(clock.Now()); got != tt.want {
			t.Errorf("renewal %d: TTL left %s, want %s", i+1, got, tt.want)
		}
	}
}

// TestRenewDefaultIncrementOldEntry renews a lease stored before
// InitialTTL existed: the default increment is the TTL of its last grant,
// which does not grow either.
func TestRenewDefaultIncrementOldEntry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		e    Entry
		want time.Duration
	}{
		{"never renewed", Entry{IssueTime: now, ExpireTime: now.Add(20 * time.Minute)}, 20 * time.Minute},
		{"renewed", Entry{IssueTime: now, LastRenewal: now.Add(11 * time.Second), ExpireTime: now.Add(11*time.Second + 20*time.Minute)}, 20 * time.Minute},
		{"initial TTL", Entry{IssueTime: now, InitialTTL: 5 * time.Minute, LastRenewal: now.Add(time.Second), ExpireTime: now.Add(time.Hour)}, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := tt.e.defaultIncrement(); got != tt.want {
			t.Errorf("%s: defaultIncrement() = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestRevokeRetryAndForce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, rv, clock, _ := newManager(t)
	e, _ := m.Register(ctx, Request{MountPath: "db/", Path: "creds/r", TTL: time.Second})
	rv.setFail(true)
	clock.Advance(2 * time.Second)
	if n, _ := m.Sweep(ctx); n != 0 {
		t.Fatalf("a failing revocation counted as revoked")
	}
	got, err := m.Lookup(ctx, e.LeaseID)
	if err != nil || got.RevokeAttempts != 1 || got.LastError == "" {
		t.Fatalf("after a failed revocation: %+v, %v", got, err)
	}
	// It is retried with backoff, and goes when the target comes back.
	for range irrevocableAfter + 2 {
		clock.Advance(maxBackoff)
		m.Sweep(ctx)
	}
	if irr, _ := m.Irrevocable(ctx); len(irr) != 1 || !irr[0].Irrevocable() {
		t.Errorf("Irrevocable = %v, want the lease", irr)
	}
	rv.setFail(false)
	clock.Advance(maxBackoff)
	if n, _ := m.Sweep(ctx); n != 1 {
		t.Errorf("retry after recovery revoked %d, want 1", n)
	}
	// revoke-force removes a lease the backend cannot revoke.
	f, _ := m.Register(ctx, Request{MountPath: "db/", Path: "creds/r", TTL: time.Hour})
	rv.setFail(true)
	if err := m.Revoke(ctx, f.LeaseID, false); err == nil {
		t.Error("Revoke with a failing backend succeeded")
	}
	if err := m.Revoke(ctx, f.LeaseID, true); err != nil {
		t.Errorf("force revoke: %v", err)
	}
	if _, err := m.Lookup(ctx, f.LeaseID); !errors.Is(err, ErrNotFound) {
		t.Error("force-revoked lease still stored")
	}
}

func TestRevokePrefixTokenAndList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, rv, _, _ := newManager(t)
	for i := range 5 {
		m.Register(ctx, Request{MountPath: "db/", Path: "creds/a", TokenHash: "tokA", TTL: time.Hour})
		m.Register(ctx, Request{MountPath: "db/", Path: "creds/b", TokenHash: fmt.Sprintf("tok%d", i), TTL: time.Hour})
	}
	keys, err := m.List(ctx, "db/creds/")
	if err != nil || len(keys) != 2 {
		t.Fatalf("List(db/creds/) = %v, %v", keys, err)
	}
	if err := m.RevokeByToken(ctx, "tokA"); err != nil {
		t.Fatal(err)
	}
	if rv.count() != 5 {
		t.Errorf("RevokeByToken revoked %d, want 5", rv.count())
	}
	if err := m.RevokePrefix(ctx, "db/creds", false); err != nil {
		t.Fatal(err)
	}
	if rv.count() != 10 || m.Count() != 0 {
		t.Errorf("after RevokePrefix: %d revoked, %d left", rv.count(), m.Count())
	}
	for _, bad := range []string{"", "../x", "a//b", "db/creds/"} {
		if _, err := m.Lookup(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) error = %v", bad, err)
		}
	}
}

// BenchmarkManager measures what issue 4 names, on the default bolt
// storage (without fsync, to keep set-up short): registering leases,
// loading the index at unseal (with heap in use after it), revoking a
// prefix, and sweeping everything once it has expired. Set
// COFFER_BENCH_LEASES=1000000 to try a million.
func BenchmarkManager(b *testing.B) {
	ctx := context.Background()
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("COFFER_BENCH_LEASES")); err == nil && v > 0 {
		n = v
	}
	b.Run(fmt.Sprint(n), func(b *testing.B) {
		for b.Loop() {
			st, err := bolt.Open(bolt.Options{Path: filepath.Join(b.TempDir(), "leases.db"), NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			rv := &fakeRevoker{}
			clock := logicaltest.NewClock(time.Now())
			m := New(Options{Storage: st, Revoker: rv, Clock: clock})
			m.Load(ctx)
			start := time.Now()
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := w; i < n; i += 8 {
						if _, err := m.Register(ctx, Request{MountPath: "db/", Path: fmt.Sprintf("creds/r%d", i%10), TokenHash: fmt.Sprintf("t%d", i%100), TTL: time.Duration(1+i%3600) * time.Second}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "register-µs/lease")
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start = time.Now()
			m2 := New(Options{Storage: st, Revoker: rv, Clock: clock})
			if err := m2.Load(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "load-ms")
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6, "index-MB")
			start = time.Now()
			if err := m2.RevokePrefix(ctx, "db/creds/r0", false); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "revoke-prefix-10%-ms")
			clock.Advance(2 * time.Hour)
			start = time.Now()
			swept, _ := m2.Sweep(ctx)
			b.ReportMetric(float64(time.Since(start).Milliseconds()), "sweep-ms")
			if swept != n-n/10 {
				b.Fatalf("swept %d of %d", swept, n-n/10)
			}
			st.Close()
		}
	})
}
