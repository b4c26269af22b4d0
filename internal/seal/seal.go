// Package seal protects the barrier's root key.
//
// The Shamir seal generates a random unseal key, encrypts the root key with
// it (in the barrier's ciphertext format, bound to the path
// "core/root-key") and hands the unseal key to operators split into shares
// with package shamir. Unsealing collects shares until the threshold is
// reached, combines them and decrypts the root key; a wrong combination is
// detected by authenticated decryption and reported as [ErrBadKey].
//
// The seal keeps two entries directly in physical storage, outside the
// barrier: the seal configuration at "core/seal-config" (plain JSON, not
// secret) and the encrypted root key at "core/root-key". They are always
// written together in one transaction.
//
// This package imports the standard library and internal/barrier,
// internal/shamir and internal/storage. A [Shamir] is safe for concurrent
// use.
package seal

import (
	"errors"
	"fmt"

	"github.com/coffer-secrets/coffer/internal/shamir"
)

// Errors returned by the seal. Match them with errors.Is.
var (
	// ErrBadKey reports shares that combine to a wrong unseal key. It never
	// says which share or step was wrong.
	ErrBadKey = errors.New("invalid unseal key")
	// ErrNotInitialized is returned when no seal configuration is stored.
	ErrNotInitialized = errors.New("seal is not initialized")
	// ErrAlreadyInitialized is returned by Initialize when a seal
	// configuration or root key is already stored.
	ErrAlreadyInitialized = errors.New("seal is already initialized")
	// ErrInvalidConfig reports a configuration that Validate rejects.
	ErrInvalidConfig = errors.New("invalid seal configuration")
	// ErrInvalidShare reports a share that cannot be used at all (wrong
	// length or a zero index). It does not reset the unseal progress.
	ErrInvalidShare = errors.New("invalid unseal key share")
	// ErrDuplicateShare reports a share whose index was already used by a
	// different share in the current unseal attempt. It does not count and
	// does not reset the progress. (The very same share sent again is not
	// an error: see [Shamir.Submit].)
	ErrDuplicateShare = errors.New("unseal key share index already submitted")
)

// Config is the seal configuration, stored as plain JSON at
// "core/seal-config".
type Config struct {
	// SecretShares is how many shares the unseal key is split into.
	SecretShares int `json:"secret_shares"`
	// SecretThreshold is how many shares are needed to unseal.
	SecretThreshold int `json:"secret_threshold"`
}

// Validate reports whether c is usable: 1 to 255 shares, a threshold
// between 1 and the number of shares, and a threshold of 1 only with a
// single share. Errors wrap [ErrInvalidConfig].
func (c Config) Validate() error {
	switch {
	case c.SecretShares < 1 || c.SecretShares > shamir.MaxParts:
		return fmt.Errorf("%w: secret_shares must be between 1 and %d, got %d", ErrInvalidConfig, shamir.MaxParts, c.SecretShares)
	case c.SecretThreshold < 1 || c.SecretThreshold > c.SecretShares:
		return fmt.Errorf("%w: secret_threshold must be between 1 and secret_shares (%d), got %d", ErrInvalidConfig, c.SecretShares, c.SecretThreshold)
	case c.SecretThreshold == 1 && c.SecretShares > 1:
		return fmt.Errorf("%w: secret_threshold must be greater than 1 when secret_shares is greater than 1", ErrInvalidConfig)
	}
	return nil
}

// Progress is the state of an unseal attempt.
type Progress struct {
	// Progress is how many distinct shares have been accepted.
	Progress int
	// Threshold is how many shares are needed; 0 before the configuration
	// has been read.
	Threshold int
	// Nonce identifies the current attempt; empty when Progress is 0.
	Nonce string
}
