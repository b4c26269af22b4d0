package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/atomicfile"
)

// File names of scheduled snapshots: the prefix, a UTC time that sorts
// as it reads, and the suffix.
const (
	filePrefix = "coffer-snapshot-"
	fileSuffix = ".snap"
	timeLayout = "20060102T150405.000000000Z"
)

// ErrSkip, returned by [ScheduleOptions].Save, means "not now" (the node
// is sealed or a standby): no file is kept and no failure is reported.
var ErrSkip = errors.New("snapshot skipped: this node is not the active node")

// ScheduleOptions configures a [Scheduler].
type ScheduleOptions struct {
	// Dir is where snapshots are written; it is created (mode 0700) when
	// missing. Required.
	Dir string
	// Interval is the time between two snapshots. Required.
	Interval time.Duration
	// Retain is how many snapshots are kept, the newest; at least 1.
	Retain int
	// Save writes one snapshot to w, or returns [ErrSkip]. Required.
	Save func(ctx context.Context, w io.Writer) error
	// OnSuccess, when set, is called with the time of each snapshot
	// written (for the metric of the last success).
	OnSuccess func(time.Time)
	// Logger receives an error line for each failure; nil discards.
	Logger *slog.Logger
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Scheduler writes a snapshot into a directory every interval and keeps
// the newest few. Its methods are safe for concurrent use.
type Scheduler struct {
	opts ScheduleOptions
}

// NewScheduler checks opts and returns a scheduler. It starts nothing.
func NewScheduler(opts ScheduleOptions) (*Scheduler, error) {
	switch {
	case opts.Dir == "":
		return nil, errors.New("snapshot schedule: no directory")
	case opts.Interval <= 0:
		return nil, errors.New("snapshot schedule: interval must be positive")
	case opts.Retain < 1:
		return nil, errors.New("snapshot schedule: retain must be at least 1")
	case opts.Save == nil:
		return nil, errors.New("snapshot schedule: no save function")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Logger = opts.Logger.With("component", "snapshot")
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scheduler{opts: opts}, nil
}

// Run takes a snapshot every interval until ctx ends; it returns nil then.
// A failed snapshot is logged at error level and retried at the next tick.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := s.SaveNow(ctx); err != nil && !errors.Is(err, ErrSkip) && ctx.Err() == nil {
			s.opts.Logger.Error("scheduled snapshot failed", "dir", s.opts.Dir, "err", err)
		}
	}
}

// SaveNow writes one snapshot and removes the oldest beyond Retain. The
// file appears under its final name only complete and fsynced (temporary
// file, fsync, rename, fsync of the directory). It returns the file's
// path, or an error matching [ErrSkip] when Save skipped.
func (s *Scheduler) SaveNow(ctx context.Context) (string, error) {
	if err := os.MkdirAll(s.opts.Dir, 0o700); err != nil {
		return "", fmt.Errorf("create snapshot directory: %w", err)
	}
	now := s.opts.Now().UTC()
	final := filepath.Join(s.opts.Dir, filePrefix+now.Format(timeLayout)+fileSuffix)
	if err := atomicfile.Write(final, 0o600, func(w io.Writer) error { return s.opts.Save(ctx, w) }); err != nil {
		return "", err
	}
	s.opts.Logger.Info("snapshot saved", "path", final)
	if s.opts.OnSuccess != nil {
		s.opts.OnSuccess(now)
	}
	if err := s.prune(); err != nil {
		s.opts.Logger.Error("remove old snapshots", "dir", s.opts.Dir, "err", err)
	}
	return final, nil
}

// prune removes the oldest scheduled snapshots beyond Retain, and the
// temporary files that a crash left behind.
func (s *Scheduler) prune() error {
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return err
	}
	var snaps []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		switch {
		case !e.Type().IsRegular():
		case strings.HasPrefix(name, filePrefix) && strings.HasSuffix(name, fileSuffix):
			snaps = append(snaps, name)
		case strings.HasPrefix(name, "."+filePrefix) && strings.Contains(name, fileSuffix+".tmp-"):
			// atomicfile's temporary file, left by a crash
			if info, err := e.Info(); err == nil && s.opts.Now().Sub(info.ModTime()) > s.opts.Interval+time.Hour {
				errs = append(errs, ignoreMissing(os.Remove(filepath.Join(s.opts.Dir, name))))
			}
		}
	}
	slices.Sort(snaps) // the time in the name sorts as it reads
	for len(snaps) > s.opts.Retain {
		errs = append(errs, ignoreMissing(os.Remove(filepath.Join(s.opts.Dir, snaps[0]))))
		snaps = snaps[1:]
	}
	return errors.Join(errs...)
}
