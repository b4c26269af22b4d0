package core

import (
	"context"
	"errors"
	"log/slog"
)

// task is background work that runs while the core is unsealed: the token
// and lease sweeps, periodic functions, key auto-rotation and audit
// checkpoints.
type task struct {
	name string // for the log and the metric label: no secrets
	run  func(context.Context) error
}

// runTask runs t until ctx ends. A task should only return once ctx has
// ended; one that returns an error, or returns at all, while ctx still
// runs has stopped doing its work with the core unsealed. That is logged at
// error level and reported to obs (which may be nil), so that it shows in
// the logs and in coffer_background_failures_total instead of vanishing.
func runTask(ctx context.Context, logger *slog.Logger, obs Observer, t task) {
	err := t.run(ctx)
	if ctx.Err() != nil && (err == nil || errors.Is(err, ctx.Err())) {
		return // stopped at seal, as it should
	}
	if err == nil {
		err = errors.New("it returned while the server was unsealed")
	}
	logger.Error("background task stopped", "task", t.name, "err", err)
	if obs != nil {
		obs.BackgroundFailure(t.name)
	}
}
