package token

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// gateStorage holds the first read of one key after it has read it, until
// release is closed, so that a test can revoke the token in between.
type gateStorage struct {
	storage.Storage
	key     string
	reached chan struct{}
	release chan struct{}
	held    atomic.Bool
}

func (g *gateStorage) Get(ctx context.Context, key string) (*storage.Entry, error) {
	e, err := g.Storage.Get(ctx, key)
	if key == g.key && g.held.CompareAndSwap(false, true) {
		close(g.reached)
		<-g.release
	}
	return e, err
}

// TestLookupDoesNotRecacheARevokedToken: a lookup that read a token from
// storage just before its revocation must not put it back in the cache
// after it, where later lookups would accept the revoked token.
func TestLookupDoesNotRecacheARevokedToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id, h, err := f.s.Create(ctx, "", &Entry{Policies: []string{"p"}, TTL: time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateStorage{Storage: f.b, key: idPrefix + h, reached: make(chan struct{}), release: make(chan struct{})}
	s := New(Options{Storage: g, Crypter: f.b, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan *Entry)
	go func() {
		e, _, err := s.Lookup(ctx, id, t0)
		if err != nil {
			t.Error(err)
		}
		done <- e
	}()
	<-g.reached // the lookup has read the live entry and not cached it yet
	if err := s.Revoke(ctx, h); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	<-done // it may answer the entry it read before the revocation
	if e, _, err := s.Lookup(ctx, id, t0); err != nil || e != nil {
		t.Fatalf("lookup after the revocation = %v, %v; want nothing: the stale read was cached", e, err)
	}
}
