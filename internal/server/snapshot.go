package server

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/metrics"
	"github.com/coffer-secrets/coffer/internal/snapshot"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// newScheduler builds the scheduled snapshots of the configuration's
// snapshot block, or returns nil when there is none. Snapshots are taken
// on the active node only: a sealed node or a standby skips its turn.
func (s *Server) newScheduler(c *core.Core, m *metrics.Metrics) (*snapshot.Scheduler, error) {
	sc := s.cfg.Snapshot
	if sc == nil {
		return nil, nil
	}
	return snapshot.NewScheduler(snapshot.ScheduleOptions{
		Dir:      sc.Path,
		Interval: sc.Interval,
		Retain:   int(min(sc.Retain, 1<<20)),
		Save: func(ctx context.Context, w io.Writer) error {
			_, err := c.WriteSnapshot(ctx, w)
			if errors.Is(err, core.ErrSealed) || errors.Is(err, ha.ErrStandby) {
				return snapshot.ErrSkip
			}
			return err
		},
		OnSuccess: func(at time.Time) { m.SnapshotSaved(at) },
		Logger:    s.logger,
	})
}

// Unwrap returns the PostgreSQL storage, whose snapshot and restore
// methods core reaches through this wrapper ([storage.As]).
func (f fencedStorage) Unwrap() storage.Storage { return f.Storage }
