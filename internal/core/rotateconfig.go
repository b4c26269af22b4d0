package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// rotateConfigKey is where sys/rotate/config is kept, behind the barrier.
const rotateConfigKey = "core/rotate-config"

// Bounds of sys/rotate/config.
const (
	// minRotateOperations is the smallest max_operations Vault accepts.
	minRotateOperations = 1_000_000
	// DefaultMinRotationInterval is the shortest automatic rotation
	// interval, Vault's 24 hours; [Options.MinRotationInterval] lowers it
	// (dev mode, tests).
	DefaultMinRotationInterval = 24 * time.Hour
	// DefaultRotationCheckInterval is how often the active node checks
	// whether the key term is due for rotation.
	DefaultRotationCheckInterval = time.Minute
)

// rotateConfig is the automatic rotation policy of the barrier's data key.
// The barrier itself always rotates at [barrier.DefaultRotateAfter]
// encryptions, whatever this says.
type rotateConfig struct {
	Enabled       bool          `json:"enabled"`
	MaxOperations int64         `json:"max_operations"`
	Interval      time.Duration `json:"interval"`
}

func defaultRotateConfig() rotateConfig {
	return rotateConfig{Enabled: true, MaxOperations: int64(barrier.DefaultRotateAfter)}
}

// rotateConfigInput is the body of POST sys/rotate/config; absent members
// keep their value.
type rotateConfigInput struct {
	Enabled       *framework.Bool     `json:"enabled"`
	MaxOperations *framework.Int      `json:"max_operations"`
	Interval      *framework.Duration `json:"interval"`
}

// rotateConfigOutput is what GET sys/rotate/config answers; interval is
// in seconds.
type rotateConfigOutput struct {
	Enabled       bool  `json:"enabled"`
	MaxOperations int64 `json:"max_operations"`
	Interval      int64 `json:"interval"`
}

// rotateConfigPaths is sys/rotate/config.
func (c *Core) rotateConfigPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: `rotate/config`,
		Operations: map[logical.Operation]framework.Handler{
			logical.ReadOperation:   c.sysReadRotateConfig,
			logical.UpdateOperation: framework.Typed(c.sysWriteRotateConfig),
		},
		Synopsis: "Configure automatic rotation of the barrier's encryption key.",
	}}
}

func (c *Core) loadRotateConfig(ctx context.Context) (rotateConfig, error) {
	cfg := defaultRotateConfig()
	e, err := c.barrier.Get(ctx, rotateConfigKey)
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

func (c *Core) sysReadRotateConfig(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	cfg, err := c.loadRotateConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: rotateConfigOutput{Enabled: cfg.Enabled, MaxOperations: cfg.MaxOperations, Interval: int64(cfg.Interval / time.Second)}}, nil
}

func (c *Core) sysWriteRotateConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *rotateConfigInput) (*logical.Response, error) {
	cfg, err := c.loadRotateConfig(ctx)
	if err != nil {
		return nil, err
	}
	if in.Enabled != nil {
		cfg.Enabled = bool(*in.Enabled)
	}
	if in.MaxOperations != nil {
		n := int64(*in.MaxOperations)
		if n < minRotateOperations || n > int64(barrier.DefaultRotateAfter) {
			return nil, logical.InvalidRequest("max_operations must be between %d and %d", minRotateOperations, barrier.DefaultRotateAfter)
		}
		cfg.MaxOperations = n
	}
	if in.Interval != nil {
		d := time.Duration(*in.Interval)
		if d != 0 && d < c.opts.MinRotationInterval {
			return nil, logical.InvalidRequest("interval must be 0 (no time-based rotation) or at least %s", c.opts.MinRotationInterval)
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
	if err := c.barrier.Put(ctx, storageEntry(rotateConfigKey, buf)); err != nil {
		return nil, fmt.Errorf("write rotation config: %w", err)
	}
	return nil, nil
}

// runAutoRotate checks every RotationCheckInterval whether the active key
// term is due (by age or by encryption count) and rotates it. It runs on
// the active node only, with the other background work, until ctx ends.
func (c *Core) runAutoRotate(ctx context.Context) {
	t := time.NewTicker(c.opts.RotationCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.autoRotate(ctx); err != nil && ctx.Err() == nil {
			c.logger.Error("automatic key rotation failed", "err", err)
		}
	}
}

// autoRotate rotates the key term once if the rotation config says it is
// due. Encryption counts err high after a restart (see package barrier),
// so a restart may bring a rotation forward, never delay it.
func (c *Core) autoRotate(ctx context.Context) error {
	// No stateMu here: sealing holds it while it waits for this work to
	// stop. A barrier sealed meanwhile answers barrier.ErrSealed, and a
	// node that lost leadership cannot write (its writes are fenced).
	if c.Sealed() || c.standby() {
		return nil
	}
	cfg, err := c.loadRotateConfig(ctx)
	if errors.Is(err, barrier.ErrSealed) {
		return nil
	}
	if err != nil || !cfg.Enabled {
		return err
	}
	info, err := c.barrier.KeyInfo()
	if err != nil {
		return err
	}
	byCount := cfg.MaxOperations > 0 && info.Encryptions >= uint64(cfg.MaxOperations)
	byAge := cfg.Interval > 0 && c.now().Sub(info.InstallTime) >= cfg.Interval
	if !byCount && !byAge {
		return nil
	}
	next, err := c.barrier.Rotate(ctx)
	if err != nil {
		return err
	}
	reason := "interval"
	if byCount {
		reason = "max_operations"
	}
	c.logger.Info("rotated barrier key automatically", "term", next.Term, "reason", reason)
	return nil
}
