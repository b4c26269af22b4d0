package wrapping

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/coffer-secrets/coffer/internal/token"
)

const cubbyhole = "logical/cubby/"

// newWrapper returns a Wrapper over a real token store in memory; a
// revoked token's cubbyhole goes with it, as core arranges.
func newWrapper(t *testing.T, clock logical.Clock) *Wrapper {
	t.Helper()
	st := inmem.New()
	logger := slog.New(slog.DiscardHandler)
	tokens := token.New(token.Options{Storage: st, Logger: logger, OnRevoke: func(ctx context.Context, hash string, _ *token.Entry) error {
		return router.Clear(ctx, st, cubbyhole+hash+"/")
	}})
	if err := tokens.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	return New(Options{Tokens: tokens, Storage: st, Cubbyhole: func() string { return cubbyhole }, MaxTTL: time.Hour, Clock: clock, Logger: logger})
}

func TestWrapUnwrap(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := logicaltest.NewClock(time.Now())
	w := newWrapper(t, clock)
	body := []byte(`{"data":{"password":"hunter2"}}`)
	info, err := w.Wrap(ctx, body, 5*time.Minute, "secret/data/app", "")
	if err != nil {
		t.Fatal(err)
	}
	if info.Token == "" || info.TTL != 300 || info.CreationPath != "secret/data/app" {
		t.Fatalf("Wrap = %+v", info)
	}
	req := func(path, tok string) *logical.Request {
		return &logical.Request{Operation: logical.UpdateOperation, Path: path, Body: []byte(`{"token":"` + tok + `"}`)}
	}
	resp, _, err := w.Handle(ctx, req("sys/wrapping/lookup", info.Token), "")
	if err != nil || resp.Data.(map[string]any)["creation_path"] != "secret/data/app" {
		t.Fatalf("lookup = %v, %v", resp, err)
	}
	// Rewrap hands out a new token for the same response.
	_, info2, err := w.Handle(ctx, req("sys/wrapping/rewrap", info.Token), "")
	if err != nil || info2 == nil || info2.Token == info.Token || info2.TTL != 300 {
		t.Fatalf("rewrap = %+v, %v", info2, err)
	}
	// Unwrap with the token as the request's own token; only once.
	un := &logical.Request{Operation: logical.UpdateOperation, Path: "sys/wrapping/unwrap"}
	resp, _, err = w.Handle(ctx, un, info2.Token)
	if err != nil || string(resp.Raw.Body) != string(body) {
		t.Fatalf("unwrap = %v, %v", resp, err)
	}
	refused := []struct {
		name string
		req  *logical.Request
	}{
		{"second unwrap", req("sys/wrapping/unwrap", info2.Token)},
		{"the rewrapped token", req("sys/wrapping/unwrap", info.Token)},
		{"no token", req("sys/wrapping/lookup", "")},
	}
	for _, tt := range refused {
		if _, _, err := w.Handle(ctx, tt.req, ""); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("%s: error = %v, want an invalid-request error", tt.name, err)
		}
	}

	// An expired wrapping token unwraps nothing.
	info3, err := w.Wrap(ctx, body, time.Minute, "x", "")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if _, _, err := w.Handle(ctx, req("sys/wrapping/unwrap", info3.Token), ""); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("unwrap of an expired token error = %v, want an invalid-request error", err)
	}
}

func TestWrapRefuses(t *testing.T) {
	t.Parallel()
	w := newWrapper(t, logical.SystemClock{})
	for _, ttl := range []time.Duration{0, -time.Second, 2 * time.Hour} {
		if _, err := w.Wrap(t.Context(), []byte(`{}`), ttl, "x", ""); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("Wrap with TTL %s error = %v, want an invalid-request error", ttl, err)
		}
	}
}
