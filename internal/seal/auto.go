package seal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/shamir"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Auto seals.
//
// With an auto seal the root key is stored only wrapped by the seal's
// [Wrapper], as the JSON of a [Blob] at "core/wrapped-root-key"; it never
// reaches storage in the clear. Operators hold recovery key shares
// instead of unseal key shares: the recovery key is a random 32-byte key
// split with package shamir, of which only a check value (SHA-256 of a
// fixed label and the key) is stored, at "core/recovery-key". Recovery
// shares unlock nothing by themselves; they prove that a quorum of
// operators agrees (unsealing a server sealed by hand, seal migration,
// and the ceremonies that use [Shamir.VerifyRecoveryShares]).
//
// Seal migration keeps the operators' shares: from Shamir to an auto seal
// the unseal key becomes the recovery key, and back the recovery key
// becomes the unseal key. Every migration writes the new configuration and
// keys in one transaction.

// recoveryCheck is the stored check value of the recovery key.
type recoveryCheck struct {
	SHA256 []byte `json:"sha256"`
}

func recoveryHash(key []byte) []byte {
	h := sha256.New()
	h.Write([]byte("coffer recovery key v1\x00"))
	h.Write(key)
	return h.Sum(nil)
}

// InitializeAuto initializes an auto seal: it wraps rootKey with w, makes
// a random recovery key and stores cfg, the wrapped root key and the
// recovery key's check value in one transaction. It returns the recovery
// key split into cfg.RecoveryShares shares (the key itself for a single
// share); the caller owns them and should zero them. cfg.Type must be
// w.Type(). It returns [ErrAlreadyInitialized] if a seal is stored, and
// writes nothing on any error.
func (s *Shamir) InitializeAuto(ctx context.Context, cfg Config, rootKey []byte, w Wrapper) ([][]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Auto() || cfg.Type != w.Type() {
		return nil, fmt.Errorf("%w: configuration type %q, seal type %q", ErrWrongSeal, cfg.Type, w.Type())
	}
	if len(rootKey) == 0 {
		return nil, errors.New("seal: empty root key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{barrier.SealConfigPath, barrier.RootKeyPath, barrier.WrappedRootKeyPath} {
		e, err := s.phys.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("seal: read %s: %w", key, err)
		}
		if e != nil {
			return nil, ErrAlreadyInitialized
		}
	}
	recoveryKey, err := barrier.GenerateKey()
	if err != nil {
		return nil, err
	}
	defer clear(recoveryKey)
	shares, err := splitKey(recoveryKey, cfg.RecoveryShares, cfg.RecoveryThreshold)
	if err != nil {
		return nil, err
	}
	ops, err := autoOps(ctx, cfg, rootKey, w)
	if err == nil {
		var op storage.Op
		op, err = recoveryOp(recoveryKey)
		ops = append(ops, op)
	}
	if err == nil {
		err = s.phys.Txn(ctx, ops)
	}
	if err != nil {
		for _, sh := range shares {
			clear(sh)
		}
		return nil, fmt.Errorf("seal: initialize %s seal: %w", cfg.Type, err)
	}
	s.cfg = &cfg
	s.resetLocked()
	return shares, nil
}

// RootKey unwraps the stored root key with w, the configured auto seal.
// The caller owns the key and should zero it. It returns
// [ErrNotInitialized] before initialization, [ErrWrongSeal] when the
// stored seal is not w's type (a seal migration is pending), and the
// wrapper's errors ([ErrUnwrap], [ErrUnreachable]) as they are.
func (s *Shamir) RootKey(ctx context.Context, w Wrapper) ([]byte, error) {
	cfg, err := s.Config(ctx)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, ErrNotInitialized
	}
	if cfg.SealType() != w.Type() {
		return nil, fmt.Errorf("%w: the stored seal is %s, the configured one %s", ErrWrongSeal, cfg.SealType(), w.Type())
	}
	e, err := s.phys.Get(ctx, barrier.WrappedRootKeyPath)
	if err != nil {
		return nil, fmt.Errorf("seal: read wrapped root key: %w", err)
	}
	if e == nil {
		return nil, errors.New("seal: the wrapped root key is missing from storage")
	}
	var b Blob
	if err := json.Unmarshal(e.Value, &b); err != nil {
		return nil, fmt.Errorf("seal: decode wrapped root key: %w", err)
	}
	return w.Unwrap(ctx, &b)
}

// SubmitRecovery adds one recovery key share to the current attempt, as
// [Shamir.Submit] does with unseal key shares (same progress, same
// refusals). The share that reaches the threshold ends the attempt: the
// shares are combined and checked against the stored check value; the
// recovery key is returned (the caller owns it and should zero it), or
// [ErrBadKey]. It returns [ErrWrongSeal] when the stored seal is Shamir.
func (s *Shamir) SubmitRecovery(ctx context.Context, share []byte) (recoveryKey []byte, p Progress, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.configLocked(ctx)
	if err != nil {
		return nil, s.progressLocked(), err
	}
	if cfg == nil {
		return nil, s.progressLocked(), ErrNotInitialized
	}
	if !cfg.Auto() {
		return nil, s.progressLocked(), fmt.Errorf("%w: the stored seal is shamir, which has unseal keys, not recovery keys", ErrWrongSeal)
	}
	check, err := s.recoveryCheckLocked(ctx)
	if err != nil {
		return nil, s.progressLocked(), err
	}
	key, err := s.collectLocked(cfg, share)
	if err != nil || key == nil {
		return nil, s.progressLocked(), err
	}
	if subtle.ConstantTimeCompare(recoveryHash(key), check) != 1 {
		clear(key)
		return nil, s.progressLocked(), ErrBadKey
	}
	return key, s.progressLocked(), nil
}

// VerifyRecoveryShares reports whether shares (at least the threshold of
// them, base shares as [Shamir.SubmitRecovery] takes them) combine to the
// stored recovery key: nil if they do, [ErrBadKey] if not, an error
// wrapping [ErrInvalidShare] for a malformed share, [ErrWrongSeal] for a
// Shamir seal. It keeps no state and does not touch the progress of an
// unseal attempt, so that ceremonies (generate-root, rekey) which collect
// recovery shares themselves can check them. shares are not retained.
func (s *Shamir) VerifyRecoveryShares(ctx context.Context, shares [][]byte) error {
	cfg, err := s.Config(ctx)
	if err != nil {
		return err
	}
	if cfg == nil {
		return ErrNotInitialized
	}
	if !cfg.Auto() {
		return fmt.Errorf("%w: the stored seal is shamir, which has no recovery keys", ErrWrongSeal)
	}
	n, t := cfg.Shares()
	want := barrier.KeySize
	if n > 1 {
		want++
	}
	for _, sh := range shares {
		if len(sh) != want {
			return fmt.Errorf("%w: share is %d bytes, want %d", ErrInvalidShare, len(sh), want)
		}
	}
	if len(shares) < t {
		return fmt.Errorf("%w: %d shares given, the threshold is %d", ErrInvalidShare, len(shares), t)
	}
	var key []byte
	if n == 1 {
		key = slices.Clone(shares[0])
	} else if key, err = shamir.Combine(shares); err != nil {
		return ErrBadKey
	}
	defer clear(key)
	return s.VerifyRecoveryKey(ctx, key)
}

// VerifyRecoveryKey reports whether key is the stored recovery key: nil
// if it is, [ErrBadKey] if not. The comparison is constant-time.
func (s *Shamir) VerifyRecoveryKey(ctx context.Context, key []byte) error {
	s.mu.Lock()
	check, err := s.recoveryCheckLocked(ctx)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(recoveryHash(key), check) != 1 {
		return ErrBadKey
	}
	return nil
}

func (s *Shamir) recoveryCheckLocked(ctx context.Context) ([]byte, error) {
	e, err := s.phys.Get(ctx, barrier.RecoveryKeyPath)
	if err != nil {
		return nil, fmt.Errorf("seal: read recovery key check: %w", err)
	}
	if e == nil {
		return nil, errors.New("seal: the recovery key check is missing from storage")
	}
	var rc recoveryCheck
	if err := json.Unmarshal(e.Value, &rc); err != nil || len(rc.SHA256) != sha256.Size {
		return nil, errors.New("seal: the stored recovery key check is corrupt")
	}
	return rc.SHA256, nil
}

// MigrateToAuto moves a Shamir seal to the auto seal w: rootKey is wrapped
// by w and unsealKey (the combined Shamir key, from
// [Shamir.SubmitUnsealKey]) becomes the recovery key, with the same
// number of shares and threshold, so operators keep their shares. The new
// configuration, the wrapped root key and the recovery check are written
// and the Shamir-encrypted root key deleted in one transaction.
func (s *Shamir) MigrateToAuto(ctx context.Context, rootKey, unsealKey []byte, w Wrapper) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.configLocked(ctx)
	if err != nil {
		return err
	}
	if old == nil || old.Auto() {
		return fmt.Errorf("%w: migration to %s needs a stored Shamir seal", ErrWrongSeal, w.Type())
	}
	cfg := Config{Type: w.Type(), RecoveryShares: old.SecretShares, RecoveryThreshold: old.SecretThreshold}
	ops, err := autoOps(ctx, cfg, rootKey, w)
	if err != nil {
		return fmt.Errorf("seal: migrate to %s: %w", cfg.Type, err)
	}
	op, err := recoveryOp(unsealKey)
	if err != nil {
		return err
	}
	ops = append(ops, op, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: barrier.RootKeyPath}})
	if err := s.phys.Txn(ctx, ops); err != nil {
		return fmt.Errorf("seal: migrate to %s: write: %w", cfg.Type, err)
	}
	s.cfg = &cfg
	s.resetLocked()
	return nil
}

// MigrateToShamir moves an auto seal to Shamir key shares: recoveryKey
// (checked, from [Shamir.SubmitRecovery]) becomes the unseal key that
// encrypts rootKey, with the recovery shares' number and threshold, so
// operators keep their shares. The new configuration and encrypted root
// key are written and the wrapped root key and recovery check deleted in
// one transaction.
func (s *Shamir) MigrateToShamir(ctx context.Context, rootKey, recoveryKey []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.configLocked(ctx)
	if err != nil {
		return err
	}
	if old == nil || !old.Auto() {
		return fmt.Errorf("%w: migration to shamir needs a stored auto seal", ErrWrongSeal)
	}
	if len(recoveryKey) != barrier.KeySize {
		return fmt.Errorf("%w: the recovery key is %d bytes", ErrInvalidShare, len(recoveryKey))
	}
	cfg := Config{SecretShares: old.RecoveryShares, SecretThreshold: old.RecoveryThreshold}
	encrypted, err := barrier.Encrypt(recoveryKey, rootKeyTerm, barrier.RootKeyPath, rootKey)
	if err != nil {
		return fmt.Errorf("seal: encrypt root key: %w", err)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	err = s.phys.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.SealConfigPath, Value: cfgJSON}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.RootKeyPath, Value: encrypted}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: barrier.WrappedRootKeyPath}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: barrier.RecoveryKeyPath}},
	})
	if err != nil {
		return fmt.Errorf("seal: migrate to shamir: write: %w", err)
	}
	s.cfg = &cfg
	s.resetLocked()
	return nil
}

// MigrateAuto moves one auto seal to another, w: rootKey is wrapped by w;
// the recovery key and its shares stay. The configuration and the wrapped
// root key are written in one transaction.
func (s *Shamir) MigrateAuto(ctx context.Context, rootKey []byte, w Wrapper) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.configLocked(ctx)
	if err != nil {
		return err
	}
	if old == nil || !old.Auto() {
		return fmt.Errorf("%w: migration between auto seals needs a stored auto seal", ErrWrongSeal)
	}
	cfg := *old
	cfg.Type = w.Type()
	ops, err := autoOps(ctx, cfg, rootKey, w)
	if err != nil {
		return fmt.Errorf("seal: migrate to %s: %w", cfg.Type, err)
	}
	if err := s.phys.Txn(ctx, ops); err != nil {
		return fmt.Errorf("seal: migrate to %s: write: %w", cfg.Type, err)
	}
	s.cfg = &cfg
	s.resetLocked()
	return nil
}

// autoOps wraps rootKey with w and returns the writes of cfg and the
// wrapped key.
func autoOps(ctx context.Context, cfg Config, rootKey []byte, w Wrapper) ([]storage.Op, error) {
	blob, err := w.Wrap(ctx, rootKey)
	if err != nil {
		return nil, fmt.Errorf("wrap root key: %w", err)
	}
	blobJSON, err := json.Marshal(blob)
	if err != nil {
		return nil, err
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.SealConfigPath, Value: cfgJSON}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.WrappedRootKeyPath, Value: blobJSON}},
	}, nil
}

// recoveryOp is the write of key's check value.
func recoveryOp(key []byte) (storage.Op, error) {
	v, err := json.Marshal(recoveryCheck{SHA256: recoveryHash(key)})
	if err != nil {
		return storage.Op{}, err
	}
	return storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.RecoveryKeyPath, Value: v}}, nil
}

// splitKey splits key into n shares with threshold t (key itself, copied,
// when n is 1).
func splitKey(key []byte, n, t int) ([][]byte, error) {
	if n == 1 {
		return [][]byte{slices.Clone(key)}, nil
	}
	shares, err := shamir.Split(key, n, t)
	if err != nil {
		return nil, fmt.Errorf("seal: split key: %w", err)
	}
	return shares, nil
}
