package kv

import "context"

// Periodic does a version 2 mount's scheduled work, about once a minute
// on the active node: the secret lifecycle sweep (expiry events, purge of
// deleted secrets past their recovery window).
func (b *backendV2) Periodic(ctx context.Context) error {
	return b.sweepLifecycle(ctx)
}
