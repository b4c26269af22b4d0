package seal

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/shamir"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// rootKeyTerm is the term written in the header of the encrypted root key;
// it is not a barrier data term.
const rootKeyTerm = 0

// Shamir is the Shamir seal. It is safe for concurrent use; one mutex
// serializes initialization and share submission.
type Shamir struct {
	phys storage.Storage

	mu     sync.Mutex
	cfg    *Config  // guarded by mu; last configuration read or written
	shares [][]byte // guarded by mu; shares of the current attempt, zeroed on reset
	nonce  string   // guarded by mu; empty when shares is empty
}

// NewShamir returns a Shamir seal keeping its data in phys.
func NewShamir(phys storage.Storage) *Shamir {
	return &Shamir{phys: phys}
}

// Config returns the stored seal configuration, or (nil, nil) when the seal
// is not initialized.
func (s *Shamir) Config(ctx context.Context) (*Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.configLocked(ctx)
	if err != nil || cfg == nil {
		return nil, err
	}
	c := *cfg
	return &c, nil
}

func (s *Shamir) configLocked(ctx context.Context) (*Config, error) {
	e, err := s.phys.Get(ctx, barrier.SealConfigPath)
	if err != nil {
		return nil, fmt.Errorf("seal: read seal config: %w", err)
	}
	if e == nil {
		return nil, nil
	}
	var cfg Config
	if err := json.Unmarshal(e.Value, &cfg); err != nil {
		return nil, fmt.Errorf("seal: decode seal config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("seal: stored seal config: %w", err)
	}
	s.cfg = &cfg
	return &cfg, nil
}

// Initialize generates a random unseal key, stores rootKey encrypted with
// it together with cfg in one storage transaction, and returns the unseal
// key split into cfg.SecretShares shares (the key itself when there is a
// single share). The caller owns the shares and should hand them out and
// zero them. rootKey is not retained. It returns [ErrAlreadyInitialized] if
// a configuration or root key is stored, and writes nothing on any error.
func (s *Shamir) Initialize(ctx context.Context, cfg Config, rootKey []byte) ([][]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Auto() {
		return nil, fmt.Errorf("%w: use InitializeAuto for seal type %s", ErrWrongSeal, cfg.Type)
	}
	if len(rootKey) == 0 {
		return nil, fmt.Errorf("seal: empty root key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{barrier.SealConfigPath, barrier.RootKeyPath} {
		e, err := s.phys.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("seal: read %s: %w", key, err)
		}
		if e != nil {
			return nil, ErrAlreadyInitialized
		}
	}

	unsealKey, err := barrier.GenerateKey()
	if err != nil {
		return nil, err
	}
	defer clear(unsealKey)
	encrypted, err := barrier.Encrypt(unsealKey, rootKeyTerm, barrier.RootKeyPath, rootKey)
	if err != nil {
		return nil, fmt.Errorf("seal: encrypt root key: %w", err)
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("seal: encode seal config: %w", err)
	}

	var shares [][]byte
	if cfg.SecretShares == 1 {
		shares = [][]byte{slices.Clone(unsealKey)}
	} else {
		shares, err = shamir.Split(unsealKey, cfg.SecretShares, cfg.SecretThreshold)
		if err != nil {
			return nil, fmt.Errorf("seal: split unseal key: %w", err)
		}
	}

	err = s.phys.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.SealConfigPath, Value: cfgJSON}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: barrier.RootKeyPath, Value: encrypted}},
	})
	if err != nil {
		for _, sh := range shares {
			clear(sh)
		}
		return nil, fmt.Errorf("seal: write seal config and root key: %w", err)
	}
	s.cfg = &cfg
	s.resetLocked()
	return shares, nil
}

// Submit adds one share to the current unseal attempt. Before the
// threshold is reached it returns a nil root key and the progress. The
// share that reaches the threshold ends the attempt: the shares are
// combined, the root key is decrypted and returned (the caller owns it and
// should zero it), and the progress is reset. If the shares do not combine
// to the right unseal key, Submit returns [ErrBadKey] and resets the
// progress; storage is never written.
//
// A share already submitted in this attempt is ignored: Submit returns the
// unchanged progress and no error, since operators and scripts re-send
// keys (Vault does the same). A share of the wrong length or with a zero
// index returns an error wrapping [ErrInvalidShare]; a different share with
// an index already submitted returns one wrapping [ErrDuplicateShare].
// Neither counts or resets the progress, and neither does a storage error. Submit returns
// [ErrNotInitialized] before Initialize, and [ErrWrongSeal] when the stored
// seal is an auto seal. share is copied, not retained; the copies and the
// combined unseal key are zeroed when the attempt ends.
func (s *Shamir) Submit(ctx context.Context, share []byte) (rootKey []byte, p Progress, err error) {
	unsealKey, rootKey, p, err := s.SubmitUnsealKey(ctx, share)
	clear(unsealKey)
	return rootKey, p, err
}

// SubmitUnsealKey is [Shamir.Submit] that also returns the combined unseal
// key when the threshold is reached, for a seal migration from Shamir to
// an auto seal (where it becomes the recovery key). The caller owns both
// keys and should zero them.
func (s *Shamir) SubmitUnsealKey(ctx context.Context, share []byte) (unsealKey, rootKey []byte, p Progress, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := s.configLocked(ctx)
	if err != nil {
		return nil, nil, s.progressLocked(), err
	}
	if cfg == nil {
		return nil, nil, s.progressLocked(), ErrNotInitialized
	}
	if cfg.Auto() {
		return nil, nil, s.progressLocked(), fmt.Errorf("%w: the stored seal is %s, which has recovery keys, not unseal keys", ErrWrongSeal, cfg.Type)
	}
	e, err := s.phys.Get(ctx, barrier.RootKeyPath)
	if err != nil {
		return nil, nil, s.progressLocked(), fmt.Errorf("seal: read root key: %w", err)
	}
	if e == nil {
		return nil, nil, s.progressLocked(), fmt.Errorf("seal: encrypted root key is missing from storage")
	}
	unsealKey, err = s.collectLocked(cfg, share)
	if err != nil || unsealKey == nil {
		return nil, nil, s.progressLocked(), err
	}
	term, rootKey, err := barrier.Decrypt(unsealKey, barrier.RootKeyPath, e.Value)
	if err != nil || term != rootKeyTerm {
		clear(rootKey)
		clear(unsealKey)
		return nil, nil, s.progressLocked(), ErrBadKey
	}
	return unsealKey, rootKey, s.progressLocked(), nil
}

// collectLocked adds share to the current attempt. It returns nil until
// the threshold of cfg's shares (unseal or recovery) is reached; the share
// that reaches it ends the attempt, and the shares combined are returned
// (unchecked: the caller verifies the key and owns it). A combination that
// fails is [ErrBadKey]. Malformed and duplicate shares are refused as
// [Shamir.Submit] says.
func (s *Shamir) collectLocked(cfg *Config, share []byte) ([]byte, error) {
	n, t := cfg.Shares()
	dup, err := s.checkShareLocked(n, share)
	if err != nil || dup {
		return nil, err
	}
	if len(s.shares) == 0 {
		s.nonce = uuid.New()
	}
	s.shares = append(s.shares, slices.Clone(share))
	if len(s.shares) < t {
		return nil, nil
	}
	var key []byte
	if n == 1 {
		key = slices.Clone(s.shares[0])
	} else {
		key, err = shamir.Combine(s.shares)
	}
	s.resetLocked()
	if err != nil {
		return nil, ErrBadKey
	}
	return key, nil
}

// checkShareLocked rejects a share that is malformed or whose index is
// taken by another share of the current attempt, and reports dup when the
// very same share was already submitted. n is how many shares the key was
// split into. Share indexes are not secret; share contents are compared in
// constant time.
func (s *Shamir) checkShareLocked(n int, share []byte) (dup bool, err error) {
	want := barrier.KeySize
	if n > 1 {
		want++ // trailing x-coordinate
	}
	if len(share) != want {
		return false, fmt.Errorf("%w: share is %d bytes, want %d", ErrInvalidShare, len(share), want)
	}
	if n > 1 && share[want-1] == 0 {
		return false, fmt.Errorf("%w: share index is 0", ErrInvalidShare)
	}
	for _, prev := range s.shares {
		if subtle.ConstantTimeCompare(prev, share) == 1 {
			return true, nil
		}
		if n > 1 && prev[want-1] == share[want-1] {
			return false, fmt.Errorf("%w: a share with index %d was already submitted", ErrDuplicateShare, share[want-1])
		}
	}
	return false, nil
}

// Reset forgets the shares submitted so far, zeroing them.
func (s *Shamir) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// Progress returns the state of the current unseal attempt.
func (s *Shamir) Progress() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progressLocked()
}

func (s *Shamir) resetLocked() {
	for _, sh := range s.shares {
		clear(sh)
	}
	s.shares = nil
	s.nonce = ""
}

func (s *Shamir) progressLocked() Progress {
	p := Progress{Progress: len(s.shares), Nonce: s.nonce}
	if s.cfg != nil {
		_, p.Threshold = s.cfg.Shares()
	}
	return p
}
