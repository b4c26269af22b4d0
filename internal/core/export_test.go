package core

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/access"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/lease"
	"github.com/coffer-secrets/coffer/internal/token"
)

// BuildTokenTreeForBench stores a token with n child tokens, each holding
// one lease of a mount that no longer exists, and returns the parent's
// accessor.
func BuildTokenTreeForBench(ctx context.Context, tb testing.TB, c *Core, n int) string {
	tb.Helper()
	now := c.now()
	parent := &token.Entry{Policies: []string{"default"}, Path: "auth/token/create", TTL: time.Hour, Renewable: true}
	_, ph, err := c.tokens.Create(ctx, "", parent, now)
	if err != nil {
		tb.Fatal(err)
	}
	// Concurrent writers share storage commits, as in production.
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < n; i += 32 {
				e := &token.Entry{Policies: []string{"default"}, Path: "auth/token/create", Parent: ph, TTL: time.Hour, Renewable: true}
				_, h, err := c.tokens.Create(ctx, "", e, now)
				if err == nil {
					_, err = c.leases.Register(ctx, lease.Request{MountPath: "gone/", Path: "creds/app", TokenHash: h, TTL: time.Hour})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return parent.Accessor
}

// AccessDirectoryUncounted is the directory the who and what answers
// build: without credential counts.
func (c *Core) AccessDirectoryUncounted(ctx context.Context) (*access.Directory, error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	return c.accessDirectoryLocked(ctx, false)
}
