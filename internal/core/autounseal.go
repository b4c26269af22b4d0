package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-secrets/coffer/internal/backoff"
	"github.com/coffer-secrets/coffer/internal/seal"
)

// Auto-unseal backoff: the first retry waits autoUnsealMin, each further
// one twice as long, up to autoUnsealMax. An uninitialized server is
// polled every autoUnsealPoll.
const (
	autoUnsealMin  = time.Second
	autoUnsealMax  = 30 * time.Second
	autoUnsealPoll = time.Second
)

// RunAutoUnseal unseals the core with its configured auto seal, without
// an operator, and returns once it is unsealed, when it cannot be (the
// seal does not unwrap the stored root key, or a seal migration waits for
// operators: both are logged), or when ctx ends. With a Shamir seal it
// only logs a pending migration and returns. Before initialization it waits for it (another node
// of a cluster may initialize). Any other failure, such as a transit
// server that is down or sealed, or storage that is away during a
// failover, is logged and retried with backoff. Logs name the seal type
// and the cause, never key material. Every node of a cluster runs it at
// start; a standby that becomes active is already unsealed.
func (c *Core) RunAutoUnseal(ctx context.Context) error {
	w := c.opts.Seal
	if w == nil {
		// Shamir: only say whether a migration from an auto seal waits.
		if cfg, err := c.sealConfig(ctx); err == nil && cfg != nil && cfg.Auto() && c.Sealed() {
			c.logger.Warn("seal migration is pending: unseal with coffer operator unseal -migrate and the recovery keys; staying sealed",
				"from", cfg.SealType(), "to", seal.TypeShamir)
		}
		return nil
	}
	retry := backoff.Backoff{Min: autoUnsealMin, Max: autoUnsealMax}
	waiting := false
	for {
		if c.Sealed() {
			again, err := c.autoUnsealOnce(ctx, w)
			switch {
			case err == nil && !again:
				return nil
			case err == nil: // not initialized yet
				if !waiting {
					c.logger.Info("waiting for initialization to unseal with the " + w.Type() + " seal (coffer operator init)")
					waiting = true
				}
				if !backoff.Sleep(ctx.Done(), autoUnsealPoll) {
					return nil
				}
				continue
			case !again:
				return nil
			}
			wait := retry.Next()
			if errors.Is(err, seal.ErrUnreachable) {
				c.logger.Warn(fmt.Sprintf("cannot reach the %s seal, retrying in %s", w.Type(), wait), "err", err)
			} else {
				c.logger.Warn(fmt.Sprintf("cannot unseal with the %s seal, retrying in %s", w.Type(), wait), "err", err)
			}
			if !backoff.Sleep(ctx.Done(), wait) {
				return nil
			}
			continue
		}
		return nil
	}
}

// autoUnsealOnce makes one attempt. It returns retry with a nil error
// before initialization, retry with the error for a failure worth
// retrying, and no retry when the attempt succeeded or cannot succeed
// (logged here).
func (c *Core) autoUnsealOnce(ctx context.Context, w seal.Wrapper) (retry bool, err error) {
	cfg, err := c.sealConfig(ctx)
	if err != nil {
		return true, err
	}
	if cfg == nil {
		return true, nil
	}
	if cfg.SealType() != w.Type() {
		c.logger.Warn("seal migration is pending: unseal with coffer operator unseal -migrate and the "+keysOf(cfg)+"; staying sealed",
			"from", cfg.SealType(), "to", w.Type())
		return false, nil
	}
	rootKey, err := c.seal.RootKey(ctx, w)
	if errors.Is(err, seal.ErrUnwrap) {
		c.logger.Error("the "+w.Type()+" seal cannot unwrap the stored root key (another key?); staying sealed", "err", err)
		return false, nil
	}
	if err != nil {
		return true, err
	}
	defer clear(rootKey)
	if err := c.unsealWithRootKey(ctx, rootKey); err != nil {
		return true, err
	}
	c.logger.Info("unsealed with the " + w.Type() + " seal")
	return false, nil
}

// keysOf names the shares a migration from cfg's seal takes.
func keysOf(cfg *seal.Config) string {
	if cfg.Auto() {
		return "recovery keys"
	}
	return "unseal keys"
}
