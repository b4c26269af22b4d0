// Package rotate serves sys/rotate/config, the automatic rotation policy
// of the barrier's data key, and runs that rotation on the active node:
// it adds a key term once the active one has encrypted max_operations
// values or is older than interval.
//
// It reaches the server through [Keyring] (the barrier) and an
// activity check; it imports no core package. A [Rotator] is safe for
// concurrent use; [Rotator.Run] is its only goroutine, started by the
// server's core at unseal on the active node.
package rotate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// configKey is where sys/rotate/config is kept, behind the barrier.
const configKey = "core/rotate-config"

// Bounds of sys/rotate/config.
const (
	// minOperations is the smallest max_operations Vault accepts.
	minOperations = 1_000_000
	// DefaultMinInterval is the shortest automatic rotation interval,
	// Vault's 24 hours; [Options.MinInterval] lowers it (dev mode, tests).
	DefaultMinInterval = 24 * time.Hour
	// DefaultCheckInterval is how often the active node checks whether the
	// key term is due for rotation.
	DefaultCheckInterval = time.Minute
)

// Keyring is what rotation needs of the barrier: storage behind it for
// the policy, and the active key term. [barrier.Barrier] implements it.
type Keyring interface {
	Get(ctx context.Context, key string) (*storage.Entry, error)
	Put(ctx context.Context, e *storage.Entry) error
	KeyInfo() (barrier.KeyInfo, error)
	Rotate(ctx context.Context) (barrier.KeyInfo, error)
}

// Options configures [New].
type Options struct {
	// Keyring is the barrier; required.
	Keyring Keyring
	// Active reports whether this node is unsealed and the active one;
	// only then does Run rotate. Required.
	Active func() bool
	// Clock tells the time; nil means the system clock.
	Clock logical.Clock
	// Logger receives rotations and their failures; nil discards them.
	Logger *slog.Logger
	// MinInterval is the shortest interval sys/rotate/config accepts;
	// zero means DefaultMinInterval.
	MinInterval time.Duration
	// CheckInterval is how often Run checks whether the key term is due;
	// zero means DefaultCheckInterval.
	CheckInterval time.Duration
}

// Rotator serves sys/rotate/config and rotates the key term when due.
type Rotator struct {
	opts Options
}

// New returns a Rotator; it starts nothing.
func New(opts Options) *Rotator {
	if opts.Clock == nil {
		opts.Clock = logical.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = DefaultMinInterval
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	return &Rotator{opts: opts}
}

// config is the automatic rotation policy of the barrier's data key. The
// barrier itself always rotates at [barrier.DefaultRotateAfter]
// encryptions, whatever this says.
type config struct {
	Enabled       bool          `json:"enabled"`
	MaxOperations int64         `json:"max_operations"`
	Interval      time.Duration `json:"interval"`
}

func defaultConfig() config {
	return config{Enabled: true, MaxOperations: int64(barrier.DefaultRotateAfter)}
}

// configInput is the body of POST sys/rotate/config; absent members keep
// their value.
type configInput struct {
	Enabled       *framework.Bool     `json:"enabled"`
	MaxOperations *framework.Int      `json:"max_operations"`
	Interval      *framework.Duration `json:"interval"`
}

// configOutput is what GET sys/rotate/config answers; interval is in
// seconds.
type configOutput struct {
	Enabled       bool  `json:"enabled"`
	MaxOperations int64 `json:"max_operations"`
	Interval      int64 `json:"interval"`
}

// Paths is sys/rotate/config, relative to sys/.
func (r *Rotator) Paths() []*framework.Path {
	return []*framework.Path{{
		Pattern: `rotate/config`,
		Operations: map[logical.Operation]framework.Handler{
			logical.ReadOperation:   r.readConfig,
			logical.UpdateOperation: framework.Typed(r.writeConfig),
		},
		Synopsis: "Configure automatic rotation of the barrier's encryption key.",
	}}
}

func (r *Rotator) loadConfig(ctx context.Context) (config, error) {
	cfg := defaultConfig()
	e, err := r.opts.Keyring.Get(ctx, configKey)
	if err != nil {
		return cfg, fmt.Errorf("read rotation config: %w", err)
	}
	if e != nil {
		if err := json.Unmarshal(e.Value, &cfg); err != nil {
			return cfg, fmt.Errorf("decode rotation config: %w", err)
		}
	}
	return cfg, nil
}

func (r *Rotator) readConfig(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	cfg, err := r.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: configOutput{Enabled: cfg.Enabled, MaxOperations: cfg.MaxOperations, Interval: int64(cfg.Interval / time.Second)}}, nil
}

func (r *Rotator) writeConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *configInput) (*logical.Response, error) {
	cfg, err := r.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if in.Enabled != nil {
		cfg.Enabled = bool(*in.Enabled)
	}
	if in.MaxOperations != nil {
		n := int64(*in.MaxOperations)
		if n < minOperations || n > int64(barrier.DefaultRotateAfter) {
			return nil, logical.InvalidRequest("max_operations must be between %d and %d", minOperations, barrier.DefaultRotateAfter)
		}
		cfg.MaxOperations = n
	}
	if in.Interval != nil {
		d := time.Duration(*in.Interval)
		if d != 0 && d < r.opts.MinInterval {
			return nil, logical.InvalidRequest("interval must be 0 (no time-based rotation) or at least %s", r.opts.MinInterval)
		}
		if d < 0 {
			return nil, logical.InvalidRequest("interval must not be negative")
		}
		cfg.Interval = d
	}
	buf, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.opts.Keyring.Put(ctx, &storage.Entry{Key: configKey, Value: buf}); err != nil {
		return nil, fmt.Errorf("write rotation config: %w", err)
	}
	return nil, nil
}

// Run checks every CheckInterval whether the active key term is due (by
// age or by encryption count) and rotates it, until ctx ends; then it
// returns nil. A failed check is logged and tried again at the next tick.
func (r *Rotator) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := r.rotateIfDue(ctx); err != nil && ctx.Err() == nil {
			r.opts.Logger.Error("automatic key rotation failed", "err", err)
		}
	}
}

// rotateIfDue rotates the key term once if the rotation config says it
// is due. Encryption counts err high after a restart (see package
// barrier), so a restart may bring a rotation forward, never delay it.
func (r *Rotator) rotateIfDue(ctx context.Context) error {
	// The caller holds no server lock: sealing waits for this work to
	// stop. A barrier sealed meanwhile answers barrier.ErrSealed, and a
	// node that lost leadership cannot write (its writes are fenced).
	if !r.opts.Active() {
		return nil
	}
	cfg, err := r.loadConfig(ctx)
	if errors.Is(err, barrier.ErrSealed) {
		return nil
	}
	if err != nil || !cfg.Enabled {
		return err
	}
	info, err := r.opts.Keyring.KeyInfo()
	if err != nil {
		return err
	}
	byCount := cfg.MaxOperations > 0 && info.Encryptions >= uint64(cfg.MaxOperations)
	byAge := cfg.Interval > 0 && r.opts.Clock.Now().UTC().Sub(info.InstallTime) >= cfg.Interval
	if !byCount && !byAge {
		return nil
	}
	next, err := r.opts.Keyring.Rotate(ctx)
	if err != nil {
		return err
	}
	reason := "interval"
	if byCount {
		reason = "max_operations"
	}
	r.opts.Logger.Info("rotated barrier key automatically", "term", next.Term, "reason", reason)
	return nil
}
