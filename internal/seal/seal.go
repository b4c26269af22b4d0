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
// An auto seal (a [Wrapper]: static, transit, pkcs11 in subpackages)
// replaces the unseal key: the root key is stored wrapped by it, and
// operators hold recovery key shares (see auto.go). The same [Shamir]
// value keeps the stored keys of every seal type, collects unseal or
// recovery shares, and migrates between seal types.
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
	// ErrWrongSeal reports a call that does not fit the stored seal type,
	// such as unseal key shares for an auto seal.
	ErrWrongSeal = errors.New("wrong seal type")
)

// TypeShamir is the seal type of Shamir key shares, the default. It is
// stored as an empty type, so that configurations written before auto
// seals existed read the same.
const TypeShamir = "shamir"

// Config is the seal configuration, stored as plain JSON at
// "core/seal-config".
type Config struct {
	// Type is the seal type that protects the root key: "" (or "shamir")
	// for Shamir key shares, else the [Wrapper]'s type ("static",
	// "transit", "pkcs11").
	Type string `json:"type,omitempty"`
	// SecretShares is how many shares the unseal key is split into (Shamir
	// only; 0 with an auto seal).
	SecretShares int `json:"secret_shares"`
	// SecretThreshold is how many shares are needed to unseal (Shamir
	// only).
	SecretThreshold int `json:"secret_threshold"`
	// RecoveryShares is how many shares the recovery key is split into
	// (auto seals only).
	RecoveryShares int `json:"recovery_shares,omitempty"`
	// RecoveryThreshold is how many recovery shares prove the recovery key
	// (auto seals only).
	RecoveryThreshold int `json:"recovery_threshold,omitempty"`
}

// SealType returns c's seal type, "shamir" when Type is empty.
func (c Config) SealType() string {
	if c.Type == "" {
		return TypeShamir
	}
	return c.Type
}

// Auto reports whether c is an auto seal's configuration (one with
// recovery keys).
func (c Config) Auto() bool { return c.SealType() != TypeShamir }

// Shares returns how many shares and which threshold operators hold: the
// unseal key's for Shamir, the recovery key's for an auto seal.
func (c Config) Shares() (n, threshold int) {
	if c.Auto() {
		return c.RecoveryShares, c.RecoveryThreshold
	}
	return c.SecretShares, c.SecretThreshold
}

// Validate reports whether c is usable: for Shamir, 1 to 255 shares, a
// threshold between 1 and the number of shares, a threshold of 1 only with
// a single share, and no recovery shares; for an auto seal, the same rules
// for the recovery shares and no unseal key shares. Errors wrap
// [ErrInvalidConfig].
func (c Config) Validate() error {
	if c.Auto() {
		if c.SecretShares != 0 || c.SecretThreshold != 0 {
			return fmt.Errorf("%w: secret_shares and secret_threshold do not apply to seal type %s", ErrInvalidConfig, c.Type)
		}
		return validateShares("recovery_shares", "recovery_threshold", c.RecoveryShares, c.RecoveryThreshold)
	}
	if c.RecoveryShares != 0 || c.RecoveryThreshold != 0 {
		return fmt.Errorf("%w: parameters recovery_shares,recovery_threshold not applicable to seal type shamir", ErrInvalidConfig)
	}
	return validateShares("secret_shares", "secret_threshold", c.SecretShares, c.SecretThreshold)
}

func validateShares(sharesName, thresholdName string, n, t int) error {
	switch {
	case n < 1 || n > shamir.MaxParts:
		return fmt.Errorf("%w: %s must be between 1 and %d, got %d", ErrInvalidConfig, sharesName, shamir.MaxParts, n)
	case t < 1 || t > n:
		return fmt.Errorf("%w: %s must be between 1 and %s (%d), got %d", ErrInvalidConfig, thresholdName, sharesName, n, t)
	case t == 1 && n > 1:
		return fmt.Errorf("%w: %s must be greater than 1 when %s is greater than 1", ErrInvalidConfig, thresholdName, sharesName)
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
