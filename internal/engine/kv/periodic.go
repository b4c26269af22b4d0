package kv

import (
	"context"
	"errors"
)

// Periodic does a version 2 mount's scheduled work, about once a minute
// on the active node: the secret lifecycle sweep (expiry events, purge of
// deleted secrets past their recovery window) and the write of the
// last-read times recorded since the last run.
func (b *backendV2) Periodic(ctx context.Context) error {
	return errors.Join(b.sweepLifecycle(ctx), b.flushLastReads(ctx))
}

// Cleanup implements [logical.Cleaner] for a mount going away (disabled,
// or the server sealing): it stops the rotation scheduler, then writes
// the last-read times recorded since the last flush.
func (b *backendV2) Cleanup(ctx context.Context) {
	b.stopScheduler()
	if err := b.flushLastReads(ctx); err != nil {
		b.logger.Warn("kv: last-read times not saved", "err", err)
	}
}
