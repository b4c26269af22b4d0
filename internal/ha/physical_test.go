package ha

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/google/go-cmp/cmp"
)

// notices is a Backend that records what is sent; the election methods
// are not used by these tests.
type notices struct {
	Backend
	mu   sync.Mutex
	sent []string // "channel payload"; guarded by mu
}

func (b *notices) Notify(_ context.Context, channel, payload string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, channel+" "+payload)
	return nil
}

func (b *notices) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sent
	b.sent = nil
	return s
}

// unsealedHost is an unsealed server; the tests here need nothing else.
type unsealedHost struct{ Host }

func (unsealedHost) Sealed() bool { return false }

// TestPhysical checks the write gate of a cluster node's storage: a
// standby refuses writes (except while the cluster is initialized), and
// the active node announces each committed write, once per transaction.
func TestPhysical(t *testing.T) {
	t.Parallel()
	be := &notices{}
	n, err := New(Options{Backend: be, NodeID: "n1", APIAddr: "http://127.0.0.1:8200"}, Env{Host: unsealedHost{}, State: new(sync.RWMutex)})
	if err != nil {
		t.Fatal(err)
	}
	inner := inmem.New()
	p := n.Physical(inner)
	ctx := t.Context()
	put := func(key string) error { return p.Put(ctx, &storage.Entry{Key: key, Value: []byte("v")}) }

	if err := put("a"); !errors.Is(err, ErrStandby) {
		t.Errorf("standby Put = %v, want ErrStandby", err)
	}
	if err := p.Delete(ctx, "a"); !errors.Is(err, ErrStandby) {
		t.Errorf("standby Delete = %v, want ErrStandby", err)
	}
	if err := p.Txn(ctx, []storage.Op{{Kind: storage.OpPut, Entry: storage.Entry{Key: "a", Value: []byte("v")}}}); !errors.Is(err, ErrStandby) {
		t.Errorf("standby Txn = %v, want ErrStandby", err)
	}
	if e, _ := inner.Get(ctx, "a"); e != nil {
		t.Errorf("a refused write was stored: %q", e.Value)
	}

	n.BeginInit()
	if err := put("init"); err != nil {
		t.Errorf("Put while initializing = %v", err)
	}
	n.EndInit()
	if err := put("after-init"); !errors.Is(err, ErrStandby) {
		t.Errorf("Put after initializing = %v, want ErrStandby", err)
	}
	if got := be.take(); len(got) != 0 {
		t.Errorf("a standby sent notices: %q", got)
	}

	n.active.Store(true)
	if err := put("k1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "k3", Value: []byte("v")}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "k2", Value: []byte("v")}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	// Each notice starts with its index: term 0 here (no election), seq
	// counting from 1.
	want := []string{"invalidate 1\nk1", "invalidate 2\nk2\nk3", "invalidate 3\nk1"}
	if diff := cmp.Diff(want, be.take()); diff != "" {
		t.Errorf("notices (-want +got):\n%s", diff)
	}
}
