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
	return errors.Join(b.sweepLifecycle(ctx), b.lastRead.flush(ctx, b.storage))
}
