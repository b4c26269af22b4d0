package seal

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/shamir"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// ValidateShare reports whether share can be a share of an unseal key
// split as cfg says: the key size (plus the x-coordinate when there are
// several shares) and a non-zero index. Errors wrap [ErrInvalidShare] and
// never hold share bytes.
func ValidateShare(cfg Config, share []byte) error {
	want := barrier.KeySize
	if cfg.SecretShares > 1 {
		want++
	}
	if len(share) != want {
		return fmt.Errorf("%w: share is %d bytes, want %d", ErrInvalidShare, len(share), want)
	}
	if cfg.SecretShares > 1 && share[want-1] == 0 {
		return fmt.Errorf("%w: share index is 0", ErrInvalidShare)
	}
	return nil
}

// SameIndex reports whether two valid shares of a key split as cfg says
// carry the same x-coordinate (so they cannot both be used). Indexes are
// not secret.
func SameIndex(cfg Config, a, b []byte) bool {
	return cfg.SecretShares > 1 && len(a) > 0 && len(a) == len(b) && a[len(a)-1] == b[len(b)-1]
}

// CombineShares rebuilds the key that shares were split from as cfg says
// (with a single share, the share is the key). The caller owns the result
// and should zero it. It does not check that the key is right: use
// [Shamir.VerifyShares] or compare with the expected key.
func CombineShares(cfg Config, shares [][]byte) ([]byte, error) {
	if cfg.SecretShares == 1 {
		if len(shares) != 1 {
			return nil, ErrBadKey
		}
		return slices.Clone(shares[0]), nil
	}
	key, err := shamir.Combine(shares)
	if err != nil {
		return nil, ErrBadKey
	}
	return key, nil
}

// VerifyShares checks, without changing anything, that shares (at least
// the threshold of the stored configuration) combine to the unseal key
// that opens the stored root key, and returns that root key, which the
// caller owns and should zero. A wrong combination returns [ErrBadKey],
// never saying which share was wrong. The unseal attempt in progress, if
// any, is not touched.
func (s *Shamir) VerifyShares(ctx context.Context, shares [][]byte) ([]byte, error) {
	cfg, err := s.Config(ctx)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, ErrNotInitialized
	}
	e, err := s.phys.Get(ctx, barrier.RootKeyPath)
	if err != nil {
		return nil, fmt.Errorf("seal: read root key: %w", err)
	}
	if e == nil {
		return nil, fmt.Errorf("seal: encrypted root key is missing from storage")
	}
	unsealKey, err := CombineShares(*cfg, shares)
	if err != nil {
		return nil, err
	}
	defer clear(unsealKey)
	term, rootKey, err := barrier.Decrypt(unsealKey, barrier.RootKeyPath, e.Value)
	if err != nil || term != rootKeyTerm {
		clear(rootKey)
		return nil, ErrBadKey
	}
	return rootKey, nil
}

// NewUnsealKey generates a random unseal key and splits it as cfg says
// (the key itself is the one share when cfg has a single share). Nothing
// is stored; hand the key to [Shamir.Rekey] to make it the unseal key.
// The caller owns both and should zero them.
func NewUnsealKey(cfg Config) (key []byte, shares [][]byte, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	key, err = barrier.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	if cfg.SecretShares == 1 {
		return key, [][]byte{slices.Clone(key)}, nil
	}
	shares, err = shamir.Split(key, cfg.SecretShares, cfg.SecretThreshold)
	if err != nil {
		clear(key)
		return nil, nil, fmt.Errorf("seal: split unseal key: %w", err)
	}
	return key, shares, nil
}

// KeyMatches reports, in constant time, whether shares combine (as cfg
// says) to key. It is how a rekey's new shares are verified before they
// replace the old ones.
func KeyMatches(cfg Config, key []byte, shares [][]byte) bool {
	got, err := CombineShares(cfg, shares)
	if err != nil {
		return false
	}
	defer clear(got)
	return subtle.ConstantTimeCompare(got, key) == 1
}

// Rekey replaces the unseal key: it stores rootKey encrypted with
// unsealKey and cfg, together in one storage transaction, so that a crash
// leaves either the old shares or the new ones working, never neither.
// The root key itself (and so the keyring) does not change. Any unseal
// attempt in progress is reset. Neither key is retained. The seal must
// have been initialized.
func (s *Shamir) Rekey(ctx context.Context, cfg Config, unsealKey, rootKey []byte) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(unsealKey) != barrier.KeySize || len(rootKey) == 0 {
		return fmt.Errorf("seal: rekey: bad key sizes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.configLocked(ctx)
	if err != nil {
		return err
	}
	if old == nil {
		return ErrNotInitialized
	}
	encrypted, err := barrier.Encrypt(unsealKey, rootKeyTerm, barrier.RootKeyPath, rootKey)
	if err != nil {
		return fmt.Errorf("seal: encrypt root key: %w", err)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("seal: encode seal config: %w", err)
	}
	err = s.phys.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.SealConfigPath, Value: cfgJSON}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.RootKeyPath, Value: encrypted}},
	})
	if err != nil {
		return fmt.Errorf("seal: write seal config and root key: %w", err)
	}
	s.cfg = &cfg
	s.resetLocked()
	return nil
}
