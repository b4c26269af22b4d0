package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
)

// waitTimeout bounds every wait for an event that should come promptly.
const waitTimeout = 10 * time.Second

func newElector(t *testing.T, s *postgres.Storage, nodeID string) *postgres.Elector {
	t.Helper()
	e, err := postgres.NewElector(s, postgres.ElectorOptions{NodeID: nodeID, Addr: "https://" + nodeID + ":8200"})
	if err != nil {
		t.Fatalf("NewElector(%q) = %v", nodeID, err)
	}
	return e
}

func acquire(t *testing.T, e *postgres.Elector) *postgres.Leadership {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	l, err := e.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire = %v", err)
	}
	t.Cleanup(l.Release)
	return l
}

func waitLost(t *testing.T, l *postgres.Leadership, what string) {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(waitTimeout):
		t.Fatalf("Lost() still open %s after %s", what, waitTimeout)
	}
}

func wantLeader(t *testing.T, s *postgres.Storage, nodeID string, epoch int64) {
	t.Helper()
	id, addr, ep, err := s.CurrentLeader(t.Context())
	if err != nil || id != nodeID || addr != "https://"+nodeID+":8200" || ep != epoch {
		t.Errorf("CurrentLeader = %q, %q, %d, %v; want %q at epoch %d", id, addr, ep, err, nodeID, epoch)
	}
}

// TestElection runs two electors: one wins, the other blocks until the
// winner's dedicated session is terminated, and then wins with a higher
// epoch while the first sees Lost close.
func TestElection(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	conn := admin(t)
	sa, sb := open(t, url), open(t, url)
	idA, idB := "node-a-"+randomSuffix(t), "node-b-"+randomSuffix(t)
	ea, eb := newElector(t, sa, idA), newElector(t, sb, idB)

	if _, _, _, err := sa.CurrentLeader(t.Context()); !errors.Is(err, postgres.ErrNoLeader) {
		t.Errorf("CurrentLeader before any election = %v, want ErrNoLeader", err)
	}
	la := acquire(t, ea)
	if la.Epoch != 1 {
		t.Errorf("first Acquire epoch = %d, want 1", la.Epoch)
	}
	wantLeader(t, sb, idA, la.Epoch)

	type result struct {
		l   *postgres.Leadership
		err error
	}
	got := make(chan result, 1)
	go func() {
		l, err := eb.Acquire(t.Context())
		got <- result{l, err}
	}()
	// B must still be waiting while A leads and is healthy (several of A's
	// ping intervals).
	select {
	case r := <-got:
		t.Fatalf("second Acquire returned (%v) while the first leader is alive", r.err)
	case <-time.After(2 * time.Second):
	}
	select {
	case <-la.Lost():
		t.Fatal("healthy leader's Lost() closed")
	default:
	}

	if n := terminate(t, conn, "coffer-leader:"+idA); n != 1 {
		t.Fatalf("terminated %d sessions of leader A, want 1", n)
	}
	waitLost(t, la, "after its session was terminated")
	var lb *postgres.Leadership
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("second Acquire = %v", r.err)
		}
		lb = r.l
		t.Cleanup(lb.Release)
	case <-time.After(waitTimeout):
		t.Fatal("second Acquire still blocked after the leader's session ended")
	}
	if lb.Epoch <= la.Epoch {
		t.Errorf("new leader's epoch %d, want more than %d", lb.Epoch, la.Epoch)
	}
	wantLeader(t, sa, idB, lb.Epoch)

	lb.Release()
	waitLost(t, lb, "after Release")
	lb.Release() // a second Release is harmless
	if _, _, ep, err := sa.CurrentLeader(t.Context()); !errors.Is(err, postgres.ErrNoLeader) || ep != lb.Epoch {
		t.Errorf("CurrentLeader after Release = epoch %d, %v; want epoch %d, ErrNoLeader", ep, err, lb.Epoch)
	}
	// After a release, A can lead again, with yet another epoch.
	la2 := acquire(t, ea)
	if la2.Epoch != lb.Epoch+1 {
		t.Errorf("Acquire after Release epoch = %d, want %d", la2.Epoch, lb.Epoch+1)
	}
}

// TestAcquireCanceled checks that a blocked Acquire returns when its
// context ends.
func TestAcquireCanceled(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	s := open(t, url)
	acquire(t, newElector(t, s, "holder-"+randomSuffix(t)))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newElector(t, s, "waiter-"+randomSuffix(t)).Acquire(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire with an expiring context = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Acquire returned %s after its deadline of 300ms", d)
	}
}

// TestLostOnEpochMove checks that a leader whose epoch was bumped behind
// its back (the lock still held) steps down.
func TestLostOnEpochMove(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	s := open(t, url)
	l := acquire(t, newElector(t, s, "node-"+randomSuffix(t)))
	exec(t, admin(t), schema, "UPDATE coffer_kv_ha SET epoch = epoch + 1")
	waitLost(t, l, "after the epoch moved on")
}

// TestFencing: node A leads at epoch 1 with its fence set; its session
// dies and B is elected at epoch 2 before A notices. Every write A tries
// then fails with ErrFenced and changes nothing, while B writes freely.
func TestFencing(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	conn := admin(t)
	sa, sb := open(t, url), open(t, url)
	idA := "node-a-" + randomSuffix(t)
	ea, eb := newElector(t, sa, idA), newElector(t, sb, "node-b-"+randomSuffix(t))
	ctx := t.Context()

	la := acquire(t, ea)
	sa.SetFence(la.Fence())
	for _, k := range []string{"f/keep", "f/gone"} {
		if err := sa.Put(ctx, &storage.Entry{Key: k, Value: []byte("a1")}); err != nil {
			t.Fatalf("leader A Put(%q) = %v, want nil", k, err)
		}
	}
	if err := sa.Delete(ctx, "f/gone"); err != nil {
		t.Fatalf("leader A Delete = %v, want nil", err)
	}

	terminate(t, conn, "coffer-leader:"+idA)
	lb := acquire(t, eb)
	if lb.Epoch != la.Epoch+1 {
		t.Fatalf("B's epoch = %d, want %d", lb.Epoch, la.Epoch+1)
	}
	sb.SetFence(lb.Fence())

	writes := []struct {
		name string
		fn   func() error
	}{
		{"Put", func() error { return sa.Put(ctx, &storage.Entry{Key: "f/keep", Value: []byte("a2")}) }},
		{"Put new", func() error { return sa.Put(ctx, &storage.Entry{Key: "f/new", Value: []byte("a2")}) }},
		{"Delete", func() error { return sa.Delete(ctx, "f/keep") }},
		{"Txn", func() error {
			return sa.Txn(ctx, []storage.Op{
				{Kind: storage.OpPut, Entry: storage.Entry{Key: "f/txn", Value: []byte("a2")}},
				{Kind: storage.OpDelete, Entry: storage.Entry{Key: "f/keep"}},
			})
		}},
	}
	for _, w := range writes {
		if err := w.fn(); !errors.Is(err, postgres.ErrFenced) {
			t.Errorf("deposed leader A %s = %v, want ErrFenced", w.name, err)
		}
	}
	names, err := sb.List(ctx, "f/")
	if err != nil || len(names) != 1 || names[0] != "keep" {
		t.Errorf("List(f/) after fenced writes = %q, %v; want [keep]", names, err)
	}
	if e, err := sb.Get(ctx, "f/keep"); err != nil || e == nil || string(e.Value) != "a1" {
		t.Errorf("Get(f/keep) after fenced writes = %v, %v; want a1", e, err)
	}
	if err := sb.Put(ctx, &storage.Entry{Key: "f/keep", Value: []byte("b2")}); err != nil {
		t.Errorf("leader B Put = %v, want nil", err)
	}
	// Reads are never fenced, and removing the fence lets A write again
	// (as a standby that was told to, e.g. in tests or tooling).
	if _, err := sa.Get(ctx, "f/keep"); err != nil {
		t.Errorf("deposed leader A Get = %v, want nil", err)
	}
	sa.SetFence(nil)
	if err := sa.Put(ctx, &storage.Entry{Key: "f/unfenced", Value: nil}); err != nil {
		t.Errorf("Put without a fence = %v, want nil", err)
	}
}

// TestFencingRace writes from leader A continuously while B is elected:
// every write A saw succeed is in the database, and none succeeds once B's
// Acquire has returned.
func TestFencingRace(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	conn := admin(t)
	sa, sb := open(t, url), open(t, url)
	idA := "node-a-" + randomSuffix(t)
	la := acquire(t, newElector(t, sa, idA))
	sa.SetFence(la.Fence())

	var (
		elected   atomic.Bool
		lateWrite atomic.Int64
		mu        sync.Mutex
		acked     []string
		wg        sync.WaitGroup
		stop      = make(chan struct{})
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("race/%d/%06d", w, i)
				after := elected.Load()
				err := sa.Put(t.Context(), &storage.Entry{Key: key, Value: []byte("v")})
				switch {
				case err == nil && after:
					lateWrite.Add(1)
				case err == nil:
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				case !errors.Is(err, postgres.ErrFenced):
					t.Errorf("Put during election = %v, want nil or ErrFenced", err)
					return
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // let A's writers get going
	terminate(t, conn, "coffer-leader:"+idA)
	acquire(t, newElector(t, sb, "node-b-"+randomSuffix(t)))
	elected.Store(true)
	time.Sleep(300 * time.Millisecond) // A keeps trying after the election
	close(stop)
	wg.Wait()

	if n := lateWrite.Load(); n > 0 {
		t.Errorf("%d writes of the deposed leader succeeded after the new leader was elected", n)
	}
	if len(acked) == 0 {
		t.Fatal("no write of leader A succeeded before the election; the test proves nothing")
	}
	for _, k := range acked {
		if e, err := sb.Get(t.Context(), k); err != nil || e == nil {
			t.Errorf("acknowledged write %q missing after election: %v, %v", k, e, err)
		}
	}
	t.Logf("%d writes acknowledged before the election", len(acked))
}
