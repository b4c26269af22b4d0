package ha

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestWaitApplied checks the revocation barrier's decisions on the active
// node: a standby that acknowledged the index, or whose last lease
// expired, is not waited for; one holding a live lease is waited for until
// it acknowledges.
func TestWaitApplied(t *testing.T) {
	t.Parallel()
	const lag = 2 * time.Second
	idx := MakeIndex(3, 10)
	tests := []struct {
		name     string
		acked    uint64
		pongAgo  time.Duration
		ackLater bool // the standby acknowledges after the wait began
	}{
		{name: "acknowledged", acked: idx, pongAgo: 0},
		{name: "lease expired", acked: idx - 5, pongAgo: 3 * lag},
		{name: "live lease, acknowledges later", acked: idx - 5, pongAgo: 0, ackLater: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := New(Options{Backend: &notices{}, NodeID: "n1", APIAddr: "http://127.0.0.1:8200", MaxStandbyLag: lag}, Env{Host: unsealedHost{}, State: new(sync.RWMutex)})
			if err != nil {
				t.Fatal(err)
			}
			n.active.Store(true)
			old := time.Now().Add(-time.Hour)
			n.termStart.Store(&old)
			n.peers["s1"] = &peer{acked: tt.acked, lastPong: time.Now().Add(-tt.pongAgo)}
			done := make(chan error, 1)
			go func() { done <- n.WaitApplied(t.Context(), idx) }()
			if tt.ackLater {
				select {
				case err := <-done:
					t.Fatalf("WaitApplied returned %v before the standby acknowledged", err)
				case <-time.After(50 * time.Millisecond):
				}
				n.leaseMessage(t.Context(), leaseMsg{Type: "ack", Node: "s1", Applied: idx})
			}
			if err := <-done; err != nil {
				t.Fatalf("WaitApplied = %v", err)
			}
		})
	}

	// A request whose client leaves stops waiting.
	n, err := New(Options{Backend: &notices{}, NodeID: "n1", APIAddr: "http://127.0.0.1:8200", MaxStandbyLag: time.Minute}, Env{Host: unsealedHost{}, State: new(sync.RWMutex)})
	if err != nil {
		t.Fatal(err)
	}
	n.active.Store(true)
	start := time.Now()
	n.termStart.Store(&start)
	n.peers["s1"] = &peer{lastPong: time.Now()}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := n.WaitApplied(ctx, idx); err == nil {
		t.Error("WaitApplied with an ended context = nil, want its error")
	}
}

// TestWaitAppliedAfterTerm checks the barrier of a node that stopped
// being active between a request's commit and its barrier (step-down,
// seal, lost term): the leases it granted in that term are still waited
// for, and a change no notice announced waits for every one of them. A
// node that never began a term waits for nothing.
func TestWaitAppliedAfterTerm(t *testing.T) {
	t.Parallel()
	idx := MakeIndex(3, 10)
	tests := []struct {
		name  string
		term  bool   // the node began a term
		acked uint64 // what the standby acknowledged
		wait  uint64 // the index waited for
		waits bool
	}{
		{name: "never active", term: false, wait: idx, waits: false},
		{name: "demoted, standby behind", term: true, acked: idx - 1, wait: idx, waits: true},
		{name: "demoted, standby acknowledged", term: true, acked: idx, wait: idx, waits: false},
		{name: "demoted, change without a notice", term: true, acked: idx, wait: Unnumbered, waits: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := New(Options{Backend: &notices{}, NodeID: "n1", APIAddr: "http://127.0.0.1:8200", MaxStandbyLag: time.Minute}, Env{Host: unsealedHost{}, State: new(sync.RWMutex)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.term {
				n.beginTerm(newFakeTerm(time.Now().Add(time.Hour)))
				old := time.Now().Add(-time.Hour) // the previous term's leases are over
				n.termStart.Store(&old)
				now := time.Now()
				n.activeSince.Store(&now)
				n.active.Store(true)
				n.leaseMessage(t.Context(), leaseMsg{Type: "ping", Node: "s1", Nonce: 1, Applied: tt.acked})
				// Demoted as becomeStandby does it.
				n.leadership.Store(nil)
				n.active.Store(false)
				n.activeSince.Store(nil)
				n.endTerm()
			}
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			err = n.WaitApplied(ctx, tt.wait)
			if tt.waits && err == nil {
				t.Error("WaitApplied returned at once while a lease granted in the term may still run")
			}
			if !tt.waits && err != nil {
				t.Errorf("WaitApplied = %v, want nil", err)
			}
		})
	}
}

// TestFresh checks when a standby's lease is usable: not expired and its
// index applied.
func TestFresh(t *testing.T) {
	t.Parallel()
	n, err := New(Options{Backend: &notices{}, NodeID: "n1", APIAddr: "http://127.0.0.1:8200"}, Env{Host: unsealedHost{}, State: new(sync.RWMutex)})
	if err != nil {
		t.Fatal(err)
	}
	if n.Fresh() {
		t.Fatal("a standby without a lease is fresh")
	}
	n.resetIndex(MakeIndex(2, 5))
	sent := time.Now()
	n.pings[7] = sent
	n.leaseMessage(t.Context(), leaseMsg{Type: "pong", Node: "n1", Nonce: 7, Index: MakeIndex(2, 6)})
	if n.Fresh() {
		t.Error("fresh before the pong's index was applied")
	}
	n.noticeReceived(MakeIndex(2, 6))
	if !n.Fresh() {
		t.Error("not fresh with a live lease whose index was applied")
	}
	if until, ok := n.FreshUntil(); !ok || !until.Equal(sent.Add(n.maxLag)) {
		t.Errorf("FreshUntil = %v, %v; want the ping's send time plus the lag bound", until, ok)
	}
	n.leaseMessage(t.Context(), leaseMsg{Type: "pong", Node: "n1", Nonce: 8, Index: MakeIndex(2, 6)})
	n.leaseMu.Lock()
	count := len(n.leases)
	n.leaseMu.Unlock()
	if count != 1 {
		t.Errorf("a pong for a ping never sent made a lease (%d leases)", count)
	}
}
