package token

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/access"
)

// liveSet returns the live tokens of s at now, by accessor.
func liveSet(t testing.TB, s *Store, now time.Time) map[string]*access.Token {
	t.Helper()
	l, err := s.LiveTokens(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*access.Token, l.Len())
	l.Each(func(tk *access.Token) bool {
		out[tk.Accessor] = tk
		return true
	})
	if len(out) != l.Len() {
		t.Fatalf("Each gave %d tokens, Len says %d", len(out), l.Len())
	}
	return out
}

func TestLiveTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	rootID, rootHash := f.create(t, &Entry{Policies: []string{"root"}, DisplayName: "root", Path: "auth/token/root"})
	_, childHash := f.create(t, &Entry{
		Policies: []string{"default", "web"}, DisplayName: "approle", Path: "auth/approle/login", Parent: rootHash,
		EntityID: "ent-1", MountAccessor: "auth_approle_1", TTL: time.Hour, NumUses: 3,
	})
	f.create(t, &Entry{Policies: []string{"default", "web"}, DisplayName: "token-ci", Path: "auth/token/create/ci", Role: "ci", TTL: 10 * time.Minute})
	batchID, _, err := f.s.Create(ctx, "", &Entry{Type: TypeBatch, Policies: []string{"b"}, Parent: rootHash, TTL: time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got := liveSet(t, f.s, t0.Add(time.Minute))
	root := mustLookup(t, f.s, rootID)
	child, _ := f.s.LookupHash(ctx, childHash, t0)
	want := map[string]*access.Token{
		root.Accessor: {Accessor: root.Accessor, DisplayName: "root", Policies: []string{"root"}, Path: "auth/token/root",
			Type: TypeService, CreationTime: t0, Orphan: true},
		child.Accessor: {Accessor: child.Accessor, DisplayName: "approle", EntityID: "ent-1", Policies: []string{"default", "web"},
			Path: "auth/approle/login", MountAccessor: "auth_approle_1", Type: TypeService, CreationTime: t0,
			ExpireTime: t0.Add(time.Hour), NumUses: 3},
	}
	for a, tk := range got {
		if tk.Role == "ci" {
			want[a] = &access.Token{Accessor: a, DisplayName: "token-ci", Policies: []string{"default", "web"}, Path: "auth/token/create/ci",
				Role: "ci", Type: TypeService, CreationTime: t0, ExpireTime: t0.Add(10 * time.Minute), Orphan: true}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("live tokens (-want +got):\n%s", diff)
	}
	// Equal policy lists are one list.
	var web [][]string
	for _, tk := range got {
		if slices.Equal(tk.Policies, []string{"default", "web"}) {
			web = append(web, tk.Policies)
		}
	}
	if len(web) != 2 || &web[0][0] != &web[1][0] {
		t.Errorf("equal policy lists are not shared")
	}
	// No token ID or hash in any record.
	buf, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{string(rootID), string(batchID), rootHash, childHash} {
		if strings.Contains(string(buf), secret) {
			t.Fatalf("a live token record holds a token ID or hash")
		}
	}
	// Expiry hides tokens before the sweep removes them.
	if got := liveSet(t, f.s, t0.Add(30*time.Minute)); len(got) != 2 {
		t.Errorf("after 30 minutes %d live tokens, want 2", len(got))
	}
}

// TestLiveTokensFollowChanges checks that a built index follows the
// store's own creations, renewals, uses and revocations, and another
// node's changes once told of them.
func TestLiveTokensFollowChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	other := f.open(t) // a second node over the same storage
	_, h1 := f.create(t, &Entry{Policies: []string{"a"}, TTL: time.Hour, Renewable: true, CreationTTL: time.Hour})
	if n := len(liveSet(t, f.s, t0)); n != 1 {
		t.Fatalf("%d live tokens, want 1", n)
	}
	if n := len(liveSet(t, other, t0)); n != 1 {
		t.Fatalf("other node: %d live tokens, want 1", n)
	}
	var h2, h3 string
	steps := []struct {
		name string
		do   func()
		want int
		// check, when set, looks at the one token under hash.
		hash  func() string
		check func(*access.Token) bool
	}{
		{name: "create", do: func() { _, h2 = f.create(t, &Entry{Policies: []string{"b"}, NumUses: 1}) }, want: 2},
		{name: "create child", do: func() { _, h3 = f.create(t, &Entry{Policies: []string{"c"}, Parent: h1}) }, want: 3},
		{
			name: "renew", do: func() {
				if _, err := f.s.Renew(ctx, h1, 2*time.Hour, t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}, want: 3, hash: func() string { return h1 },
			check: func(tk *access.Token) bool { return tk.ExpireTime.Equal(t0.Add(time.Minute + 2*time.Hour)) },
		},
		{name: "last use", do: func() {
			if last, err := f.s.Use(ctx, h2); err != nil || !last {
				t.Fatalf("Use = %v, %v", last, err)
			}
		}, want: 2},
		{name: "revoke orphan keeps child", do: func() {
			if err := f.s.RevokeOrphan(ctx, h1); err != nil {
				t.Fatal(err)
			}
		}, want: 2 - 1, hash: func() string { return h3 }, check: func(tk *access.Token) bool { return tk.Orphan }},
	}
	for _, st := range steps {
		st.do()
		got := liveSet(t, f.s, t0.Add(2*time.Minute))
		if len(got) != st.want {
			t.Fatalf("%s: %d live tokens, want %d", st.name, len(got), st.want)
		}
		if st.check != nil {
			e, _ := f.s.load(ctx, st.hash())
			if tk := got[e.Accessor]; tk == nil || !st.check(tk) {
				t.Fatalf("%s: record %+v", st.name, tk)
			}
		}
	}
	// The other node saw none of it until told.
	if n := len(liveSet(t, other, t0.Add(2*time.Minute))); n != 1 {
		t.Fatalf("other node before invalidation: %d live tokens, want its stale 1", n)
	}
	for _, h := range []string{h1, h2, h3} {
		other.Invalidate(h)
	}
	want := liveSet(t, f.s, t0.Add(2*time.Minute))
	if diff := cmp.Diff(want, liveSet(t, other, t0.Add(2*time.Minute))); diff != "" {
		t.Fatalf("other node after invalidation (-this +other):\n%s", diff)
	}
	// Sealing drops the index; it is built again after Load.
	other.Reset()
	if err := other.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, liveSet(t, other, t0.Add(2*time.Minute))); diff != "" {
		t.Fatalf("other node after reload (-this +other):\n%s", diff)
	}
}

// TestLiveTokensConcurrent builds the index while tokens are created and
// revoked, and checks that it ends equal to storage.
func TestLiveTokensConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for range 50 {
		f.create(t, &Entry{Policies: []string{"x"}})
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 40 {
				_, h, err := f.s.Create(ctx, "", &Entry{Policies: []string{fmt.Sprint("p", w)}}, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					if err := f.s.Revoke(ctx, h); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := f.s.LiveTokens(ctx, t0); err != nil {
				t.Error(err)
				return
			}
			f.s.live.drop()
		}
	})
	wg.Wait()
	got := liveSet(t, f.s, t0)
	accessors, err := f.s.Accessors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(accessors) || len(got) != 50+4*20 {
		t.Fatalf("%d live tokens, %d stored, want %d", len(got), len(accessors), 50+4*20)
	}
	for _, a := range accessors {
		if got[a] == nil {
			t.Fatalf("stored token %s missing from the index", a)
		}
	}
}

// cpuTime is the CPU time (user and system) the process has used; on a
// shared machine it says more than the wall clock.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLiveTokens100k measures building the index of 100,000 live
// tokens from storage (through the barrier), and one snapshot with an
// Each pass over a built index.
func BenchmarkLiveTokens100k(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	f := newFixture(b)
	pols := [][]string{{"default", "web"}, {"default", "db", "web"}, {"ops"}, {"default", "payments"}}
	for i := range n {
		e := &Entry{Policies: pols[i%len(pols)], DisplayName: "approle", Path: "auth/approle/login", MountAccessor: "auth_approle_1",
			EntityID: fmt.Sprintf("entity-%d", i%1000), TTL: time.Hour}
		if _, _, err := f.s.Create(ctx, "", e, t0); err != nil {
			b.Fatal(err)
		}
	}
	f.s.live.drop()
	b.Run("build", func(b *testing.B) {
		var before, after runtime.MemStats
		var cpu time.Duration
		for b.Loop() {
			f.s.live.drop()
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := cpuTime(b)
			if _, err := f.s.LiveTokens(ctx, t0); err != nil {
				b.Fatal(err)
			}
			cpu += cpuTime(b) - start
			runtime.GC()
			runtime.ReadMemStats(&after)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/token")
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	})
	b.Run("snapshot+each", func(b *testing.B) {
		if _, err := f.s.LiveTokens(ctx, t0); err != nil {
			b.Fatal(err)
		}
		start := cpuTime(b)
		for b.Loop() {
			l, err := f.s.LiveTokens(ctx, t0)
			if err != nil {
				b.Fatal(err)
			}
			count := 0
			l.Each(func(tk *access.Token) bool {
				if slices.Contains(tk.Policies, "payments") {
					count++
				}
				return true
			})
			if count != n/len(pols) {
				b.Fatalf("%d tokens with payments, want %d", count, n/len(pols))
			}
		}
		b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	})
}

// TestLiveTokensRevokeMany revokes tokens in every position of a built
// index (first, last, middle) and checks it against storage each time.
func TestLiveTokensRevokeMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	var hashes []string
	for range 12 {
		_, h := f.create(t, &Entry{Policies: []string{"p"}})
		hashes = append(hashes, h)
	}
	liveSet(t, f.s, t0) // build
	for _, i := range []int{0, 11, 5, 6, 1, 10, 2, 3, 4, 7, 8, 9} {
		if err := f.s.Revoke(ctx, hashes[i]); err != nil {
			t.Fatal(err)
		}
		got := liveSet(t, f.s, t0)
		accessors, err := f.s.Accessors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(accessors) {
			t.Fatalf("after revoking #%d: %d in the index, %d stored", i, len(got), len(accessors))
		}
		for _, a := range accessors {
			if got[a] == nil {
				t.Fatalf("after revoking #%d: stored token %s missing from the index", i, a)
			}
		}
	}
}
