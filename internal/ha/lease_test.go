package ha

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// fakeTerm is a Leadership whose lease ends at a set time; its Lost
// never closes, as for a leader whose database session outlives a pause.
type fakeTerm struct {
	until    atomic.Pointer[time.Time]
	lost     chan struct{}
	released atomic.Bool
}

func newFakeTerm(until time.Time) *fakeTerm {
	l := &fakeTerm{lost: make(chan struct{})}
	l.until.Store(&until)
	return l
}

func (l *fakeTerm) Lost() <-chan struct{} { return l.lost }
func (l *fakeTerm) Release()              { l.released.Store(true) }
func (l *fakeTerm) ValidUntil() time.Time { return *l.until.Load() }

// TestLeaseBoundsActive checks that an active node whose lease has lapsed
// answers as a standby at once, before any goroutine has noticed: not
// active, no local reads, writes refused.
func TestLeaseBoundsActive(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name    string
		term    Leadership // nil: no term recorded
		leading bool
	}{
		{name: "lease runs", term: newFakeTerm(now.Add(time.Hour)), leading: true},
		{name: "lease lapsed", term: newFakeTerm(now.Add(-time.Millisecond)), leading: false},
		{name: "backend keeps no lease", term: newFakeTerm(time.Time{}), leading: true},
		{name: "no term recorded", leading: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := New(Options{Backend: &notices{}, NodeID: "n1", APIAddr: "http://127.0.0.1:8200"}, Env{Host: unsealedHost{}, State: new(sync.RWMutex)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.term != nil {
				n.held.Store(&heldTerm{tt.term})
			}
			n.activeSince.Store(&now)
			n.active.Store(true)

			if got := n.Standby(); got != !tt.leading {
				t.Errorf("Standby() = %v, want %v", got, !tt.leading)
			}
			if got := n.Status().Active; got != tt.leading {
				t.Errorf("Status().Active = %v, want %v", got, tt.leading)
			}
			if got := n.ServesReads(); got != tt.leading {
				t.Errorf("ServesReads() = %v, want %v (a lapsed node forwards everything)", got, tt.leading)
			}
			err = n.Physical(inmem.New()).Put(t.Context(), &storage.Entry{Key: "k", Value: []byte("v")})
			if tt.leading && err != nil {
				t.Errorf("Put = %v, want nil", err)
			}
			if !tt.leading && !errors.Is(err, ErrStandby) {
				t.Errorf("Put = %v, want ErrStandby", err)
			}
		})
	}
}

// renewing is a Leadership whose ValidUntil answers the times in order,
// then keeps the last: a lease renewed a few times, then no more.
type renewing struct {
	mu    sync.Mutex
	times []time.Time // guarded by mu
	calls int         // guarded by mu
}

func (l *renewing) Lost() <-chan struct{} { return nil }
func (l *renewing) Release()              {}
func (l *renewing) ValidUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.times[min(l.calls, len(l.times)-1)]
	l.calls++
	return t
}

// TestLapsed checks the channel the election loop steps down on: it
// closes once the lease has passed its last renewal, never before, and
// never for a backend without a lease.
func TestLapsed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		offset []time.Duration // ValidUntil readings, from the start
		closes bool
	}{
		{name: "lapsed already", offset: []time.Duration{-time.Second}, closes: true},
		{name: "renewed twice, then not", offset: []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond}, closes: true},
		{name: "no lease", closes: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			l := &renewing{times: []time.Time{{}}}
			if tt.offset != nil {
				l.times = nil
				for _, d := range tt.offset {
					l.times = append(l.times, start.Add(d))
				}
			}
			stop := make(chan struct{})
			defer close(stop)
			ch := lapsed(l, stop)
			wait := 10 * time.Second
			if !tt.closes {
				wait = 200 * time.Millisecond
			}
			select {
			case <-ch:
				if !tt.closes {
					t.Fatal("lapsed closed for a backend without a lease")
				}
				if last := l.times[len(l.times)-1]; time.Now().Before(last) {
					t.Errorf("lapsed closed before the last ValidUntil")
				}
			case <-time.After(wait):
				if tt.closes {
					t.Fatalf("lapsed still open %s after the lease ended", wait)
				}
			}
		})
	}
}

// oneTerm is a Backend that grants one term, then blocks further
// Acquires until their context ends; it sends and hears nothing.
type oneTerm struct {
	Backend
	term    *fakeTerm
	granted atomic.Bool
}

func (b *oneTerm) Acquire(ctx context.Context) (Leadership, error) {
	if b.granted.CompareAndSwap(false, true) {
		return b.term, nil
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (b *oneTerm) Notify(context.Context, string, string) error { return nil }

// TestLeaseLapseStepsDown runs the election loop with a term whose lease
// is not renewed and whose Lost never closes: the node becomes active,
// then steps down and releases the term when the lease lapses.
func TestLeaseLapseStepsDown(t *testing.T) {
	t.Parallel()
	be := &oneTerm{term: newFakeTerm(time.Now().Add(500 * time.Millisecond))}
	var (
		mu          sync.Mutex
		transitions []bool // guarded by mu
	)
	n, err := New(Options{
		Backend: be, NodeID: "n1", APIAddr: "http://127.0.0.1:8200",
		OnTransition: func(tr Transition) {
			mu.Lock()
			transitions = append(transitions, tr.Active)
			mu.Unlock()
		},
	}, Env{Host: &recordingHost{st: inmem.New()}, State: new(sync.RWMutex)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.runElection(ctx)
	}()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(10 * time.Second)
	for !be.term.released.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the term was not released after its lease lapsed")
		}
		time.Sleep(10 * time.Millisecond) // polling a fake's flag
	}
	mu.Lock()
	got := append([]bool(nil), transitions...)
	mu.Unlock()
	if len(got) != 2 || !got[0] || got[1] {
		t.Errorf("transitions = %v, want [true false]", got)
	}
	if !n.Standby() || n.held.Load() != nil {
		t.Errorf("after the lapse: Standby() = %v, term recorded = %v; want true, false", n.Standby(), n.held.Load() != nil)
	}
}

// TestLapsedActiveKeepsRole checks that an active node whose lease has
// lapsed (and is renewed late) never turns itself into a standby: its own
// notices, a due reload and a mount reload leave its active state alone,
// and it is active again once the lease runs.
func TestLapsedActiveKeepsRole(t *testing.T) {
	t.Parallel()
	h := &recordingHost{st: inmem.New()}
	n, err := New(Options{Backend: &notices{}, NodeID: "n1", APIAddr: "http://127.0.0.1:8200"}, Env{Host: h, State: new(sync.RWMutex)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	term := newFakeTerm(now.Add(-time.Millisecond)) // lapsed
	n.held.Store(&heldTerm{term})
	n.beginTerm(term)
	n.activeSince.Store(&now)
	n.active.Store(true)

	ctx := t.Context()
	// Its own notices, one of them past a gap (a reload would be due on
	// a standby), and the reloads a standby would run.
	n.applyNotice(ctx, encodeNotice(MakeIndex(n.term.Load(), 1), "sys/token/x"))
	n.applyNotice(ctx, encodeNotice(MakeIndex(n.term.Load(), 5), "*"))
	n.heardIndex(MakeIndex(n.term.Load()+1, 9))
	n.reloadStandby(ctx)
	n.reloadStandbyMounts(ctx)
	n.invalidate(ctx, "*")

	h.mu.Lock()
	calls := append([]string(nil), h.calls...)
	h.mu.Unlock()
	if len(calls) != 0 {
		t.Errorf("a lapsed active node asked its host for %q, want nothing", calls)
	}
	if !n.active.Load() {
		t.Fatal("a lapsed active node dropped its role")
	}
	later := time.Now().Add(time.Hour)
	term.until.Store(&later) // renewed late
	if n.Standby() || !n.Status().Active {
		t.Errorf("after the late renewal: Standby() = %v, Active = %v; want false, true", n.Standby(), n.Status().Active)
	}
}
