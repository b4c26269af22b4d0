package token

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fixture struct {
	s       *Store
	phys    *inmem.Storage
	b       *barrier.Barrier
	revoked sync.Map // hash -> true, recorded by OnRevoke
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{phys: inmem.New()}
	f.b = barrier.New(f.phys)
	key, _ := barrier.GenerateKey()
	if err := f.b.Initialize(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := f.b.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	f.s = f.open(t)
	return f
}

// open returns a fresh store over the fixture's storage (no cache).
func (f *fixture) open(t testing.TB) *Store {
	t.Helper()
	s := New(Options{Storage: f.b, Crypter: f.b, Logger: slog.New(slog.DiscardHandler), OnRevoke: func(ctx context.Context, hash string, e *Entry) error {
		f.revoked.Store(hash, true)
		return nil
	}})
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) create(t *testing.T, e *Entry) (ID, string) {
	t.Helper()
	id, h, err := f.s.Create(context.Background(), "", e, t0)
	if err != nil {
		t.Fatal(err)
	}
	return id, h
}

func TestCreateLookupExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	id, h := f.create(t, &Entry{Policies: []string{"root"}, DisplayName: "root", TTL: time.Hour})
	if !strings.HasPrefix(string(id), ServicePrefix) || len(id) < len(ServicePrefix)+32 {
		t.Fatalf("Create() id has the wrong shape (length %d)", len(id))
	}
	tests := []struct {
		name string
		id   ID
		at   time.Time
		want bool
	}{
		{"valid", id, t0.Add(time.Minute), true},
		{"just before expiry", id, t0.Add(time.Hour - time.Nanosecond), true},
		{"at expiry", id, t0.Add(time.Hour), false},
		{"unknown", "cfs.unknown", t0, false},
		{"empty", "", t0, false},
		{"too long", ID(strings.Repeat("a", 300)), t0, false},
		{"garbage batch", "cfb.!!!", t0, false},
	}
	for _, tt := range tests {
		e, gotHash, err := f.s.Lookup(ctx, tt.id, tt.at)
		if err != nil {
			t.Fatalf("%s: Lookup error %v", tt.name, err)
		}
		if (e != nil) != tt.want {
			t.Errorf("%s: Lookup found %v, want %v", tt.name, e != nil, tt.want)
		}
		if tt.want && gotHash != h {
			t.Errorf("%s: hash %q, want %q", tt.name, gotHash, h)
		}
	}
	// A fresh store over the same storage (no cache) finds it too.
	if e, _, err := f.open(t).Lookup(ctx, id, t0); err != nil || e == nil || !e.IsRoot() {
		t.Fatalf("Lookup on a reloaded store = %+v, %v", e, err)
	}
	if e, gotHash, err := f.s.LookupAccessor(ctx, mustLookup(t, f.s, id).Accessor, t0); err != nil || e == nil || gotHash != h {
		t.Errorf("LookupAccessor = %v, %q, %v", e, gotHash, err)
	}
	// The token ID itself is stored nowhere, not even encrypted: check the
	// plaintext behind the barrier.
	for _, k := range allKeys(t, f.b, "") {
		e, err := f.b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(k, string(id)) || bytes.Contains(e.Value, []byte(id)) {
			t.Errorf("token ID found in storage at %s", k)
		}
	}
}

func mustLookup(t *testing.T, s *Store, id ID) *Entry {
	t.Helper()
	e, _, err := s.Lookup(context.Background(), id, t0)
	if err != nil || e == nil {
		t.Fatalf("Lookup = %v, %v", e, err)
	}
	return e
}

func allKeys(t *testing.T, st interface {
	List(context.Context, string) ([]string, error)
}, prefix string) []string {
	t.Helper()
	names, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			out = append(out, allKeys(t, st, prefix+n)...)
		} else {
			out = append(out, prefix+n)
		}
	}
	return out
}

func TestRevokeTree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	rootID, root := f.create(t, &Entry{Policies: []string{"root"}})
	midID, mid := f.create(t, &Entry{Parent: root})
	leafIDs := make([]ID, 3)
	for i := range leafIDs {
		leafIDs[i], _ = f.create(t, &Entry{Parent: mid})
	}
	grandID, _ := f.create(t, &Entry{Parent: func() string { _, h, _ := f.s.Lookup(ctx, leafIDs[0], t0); return h }()})
	sibID, _ := f.create(t, &Entry{Parent: root})

	if err := f.s.Revoke(ctx, mid); err != nil {
		t.Fatal(err)
	}
	for _, id := range append([]ID{midID, grandID}, leafIDs...) {
		if e, _, _ := f.s.Lookup(ctx, id, t0); e != nil {
			t.Errorf("a token under the revoked one survived")
		}
	}
	for _, id := range []ID{rootID, sibID} {
		if e, _, _ := f.s.Lookup(ctx, id, t0); e == nil {
			t.Errorf("a token outside the revoked subtree was revoked")
		}
	}
	n := 0
	f.revoked.Range(func(_, _ any) bool { n++; return true })
	if n != 5 {
		t.Errorf("OnRevoke ran for %d tokens, want 5", n)
	}
	if kids, _ := f.s.Children(ctx, root); len(kids) != 1 {
		t.Errorf("root has %d children after revoking one, want 1", len(kids))
	}
	if keys := allKeys(t, f.b, "sys/token/parent/"+mid); len(keys) != 0 {
		t.Errorf("parent index of the revoked token remains: %v", keys)
	}
}

func TestRevokeOrphan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, parent := f.create(t, &Entry{})
	childID, _ := f.create(t, &Entry{Parent: parent})
	if err := f.s.RevokeOrphan(ctx, parent); err != nil {
		t.Fatal(err)
	}
	e := mustLookup(t, f.s, childID)
	if e.Parent != "" {
		t.Errorf("child still has a parent after revoke-orphan")
	}
	if e2 := mustLookup(t, f.open(t), childID); e2.Parent != "" {
		t.Errorf("orphaning was not persisted")
	}
}

func TestNumUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, h := f.create(t, &Entry{NumUses: 5})
	var ok, last atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			l, err := f.s.Use(ctx, h)
			if err != nil {
				return
			}
			ok.Add(1)
			if l {
				last.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 || last.Load() != 1 {
		t.Errorf("%d uses succeeded (%d last), want 5 (1 last)", ok.Load(), last.Load())
	}
	if e, _ := f.s.LookupHash(ctx, h, t0); e != nil {
		t.Error("a used-up token still looks up")
	}
	// Unlimited tokens are never written.
	_, u := f.create(t, &Entry{})
	for range 3 {
		if l, err := f.s.Use(ctx, u); err != nil || l {
			t.Fatalf("Use(unlimited) = %v, %v", l, err)
		}
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name      string
		e         Entry
		at        time.Duration // after creation
		increment time.Duration
		wantTTL   time.Duration
		wantErr   error
	}{
		{"default increment", Entry{TTL: time.Hour, Renewable: true}, 30 * time.Minute, 0, time.Hour, nil},
		{"increment", Entry{TTL: time.Hour, Renewable: true}, 30 * time.Minute, 2 * time.Hour, 2 * time.Hour, nil},
		{"capped by max ttl", Entry{TTL: time.Hour, MaxTTL: 90 * time.Minute, Renewable: true}, 30 * time.Minute, 2 * time.Hour, time.Hour, nil},
		{"capped by explicit max", Entry{TTL: time.Hour, ExplicitMaxTTL: 70 * time.Minute, Renewable: true}, 30 * time.Minute, time.Hour, 40 * time.Minute, nil},
		{"periodic", Entry{TTL: time.Hour, Period: time.Hour, MaxTTL: time.Minute, Renewable: true}, 50 * time.Minute, 5 * time.Hour, time.Hour, nil},
		{"not renewable", Entry{TTL: time.Hour}, time.Minute, 0, 0, ErrNotRenewable},
		{"expired", Entry{TTL: time.Hour, Renewable: true}, 2 * time.Hour, 0, 0, ErrNotFound},
		{"at max", Entry{TTL: time.Hour, ExplicitMaxTTL: time.Hour, Renewable: true}, time.Hour - time.Second, time.Hour, time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			_, h := f.create(t, &e)
			got, err := f.s.Renew(ctx, h, tt.increment, t0.Add(tt.at))
			if tt.wantErr != nil {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr.Error()) {
					t.Fatalf("Renew error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.TTL != tt.wantTTL {
				t.Errorf("TTL after Renew = %v, want %v", got.TTL, tt.wantTTL)
			}
			if !got.ExpireTime().Equal(t0.Add(tt.at).Add(tt.wantTTL)) {
				t.Errorf("expire time = %v", got.ExpireTime())
			}
		})
	}
}

func TestBatchTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	_, parent := f.create(t, &Entry{})
	id, h, err := f.s.Create(ctx, "", &Entry{Type: TypeBatch, Policies: []string{"p"}, TTL: time.Hour, Parent: parent}, t0)
	if err != nil || h != "" || !strings.HasPrefix(string(id), BatchPrefix) {
		t.Fatalf("Create(batch) = %q, %q, %v", id[:4], h, err)
	}
	e := mustLookup(t, f.s, id)
	if e.Policies[0] != "p" || e.Type != TypeBatch {
		t.Errorf("batch entry = %+v", e)
	}
	if e, _, _ := f.s.Lookup(ctx, id, t0.Add(2*time.Hour)); e != nil {
		t.Error("expired batch token still valid")
	}
	// Tampering anywhere breaks it.
	raw := []byte(id)
	raw[len(raw)-3] ^= 1
	if e, _, _ := f.s.Lookup(ctx, ID(raw), t0); e != nil {
		t.Error("tampered batch token accepted")
	}
	// Nothing was stored for it.
	if n := len(allKeys(t, f.b, "sys/token/id/")); n != 1 {
		t.Errorf("%d tokens stored, want only the parent", n)
	}
	// Revoking the parent ends the batch token.
	if err := f.s.Revoke(ctx, parent); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := f.s.Lookup(ctx, id, t0); e != nil {
		t.Error("batch token outlived its parent")
	}
	if _, _, err := f.s.Create(ctx, "chosen", &Entry{Type: TypeBatch}, t0); err == nil {
		t.Error("a batch token with a chosen ID was made")
	}
}

func TestSweepAndTidy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	shortID, _ := f.create(t, &Entry{TTL: 2 * time.Second})
	longID, _ := f.create(t, &Entry{TTL: time.Hour})
	_, renewed := f.create(t, &Entry{TTL: 2 * time.Second, Renewable: true})
	if _, err := f.s.Renew(ctx, renewed, time.Hour, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := f.s.Sweep(ctx, t0.Add(3*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	// Gone from storage, so a restarted store cannot find it either.
	s2 := f.open(t)
	if e, _, _ := s2.Lookup(ctx, shortID, t0); e != nil {
		t.Error("swept token found after reload")
	}
	if e, _, _ := s2.Lookup(ctx, longID, t0.Add(3*time.Second)); e == nil {
		t.Error("unexpired token swept")
	}
	// Tidy: an accessor and child index left by an interrupted revocation.
	_, p := f.create(t, &Entry{})
	childID, c := f.create(t, &Entry{Parent: p})
	if err := f.b.Delete(ctx, "sys/token/id/"+p); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Tidy(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if e, _, _ := f.open(t).Lookup(ctx, childID, t0); e != nil {
		t.Error("child of a vanished parent survived tidy")
	}
	if _, ok := f.revoked.Load(c); !ok {
		t.Error("tidy did not revoke the orphaned child through OnRevoke")
	}
	accessors, _ := f.s.Accessors(ctx)
	for _, a := range accessors {
		if e, _, _ := f.s.LookupAccessor(ctx, a, t0); e == nil {
			t.Errorf("dangling accessor %s after tidy", a)
		}
	}
}

func TestChosenIDAndRedaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	for _, bad := range []ID{"has space", "cfb.looks-like-batch", ID(strings.Repeat("x", 257))} {
		if _, _, err := f.s.Create(ctx, bad, &Entry{}, t0); err == nil {
			t.Errorf("Create with ID %d bytes long was accepted", len(bad))
		}
	}
	id, _, err := f.s.Create(ctx, "dev-root", &Entry{Policies: []string{"root"}}, t0)
	if err != nil || id != "dev-root" {
		t.Fatalf("Create(dev-root) = %q, %v", id, err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", id)
	for _, out := range []string{fmt.Sprint(id), fmt.Sprintf("%v %s %#v", id, id, id), buf.String()} {
		if strings.Contains(out, "dev-root") {
			t.Errorf("token ID printed: %q", out)
		}
	}
	f.s.Reset()
	if _, _, err := f.s.Lookup(ctx, "cfs.x", t0); err == nil {
		t.Error("Lookup on a reset store succeeded")
	}
}

// TestInvalidate runs two stores on one storage, as two nodes of a
// cluster: the second keeps a revoked token in its cache until told, by
// hash or wholesale.
func TestInvalidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	other := f.open(t)
	tests := []struct {
		name       string
		invalidate func(hash string)
	}{
		{"by hash", other.Invalidate},
		{"everything", func(string) { other.InvalidateAll() }},
	}
	for _, tt := range tests {
		id, h := f.create(t, &Entry{Policies: []string{"default"}, TTL: time.Hour})
		if e, _, err := other.Lookup(ctx, id, t0); err != nil || e == nil {
			t.Fatalf("%s: other.Lookup before revoke = %v, %v", tt.name, e, err)
		}
		if err := f.s.Revoke(ctx, h); err != nil {
			t.Fatal(err)
		}
		if e, _, _ := other.Lookup(ctx, id, t0); e == nil {
			t.Fatalf("%s: other store forgot the token without being told; the test shows nothing", tt.name)
		}
		other.Invalidate("unrelated")
		if e, _, _ := other.Lookup(ctx, id, t0); e == nil {
			t.Fatalf("%s: an unrelated invalidation dropped the token", tt.name)
		}
		tt.invalidate(h)
		if e, _, err := other.Lookup(ctx, id, t0); err != nil || e != nil {
			t.Errorf("%s: Lookup after invalidation = %+v, %v; want nothing", tt.name, e, err)
		}
	}
}
