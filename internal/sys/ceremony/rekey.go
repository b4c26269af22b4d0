package ceremony

import (
	"context"
	"encoding/base64"
	"encoding/hex"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/seal"
)

// rekeyAttempt is a rekey of the unseal key in progress (sys/rekey/*).
type rekeyAttempt struct {
	progress                 // current shares given so far
	cfg          seal.Config // the new split
	verification bool        // require_verification

	// Set once the current shares were verified when verification is
	// required: the new unseal key waits until a threshold of its shares
	// comes back.
	newKey      []byte
	verifyNonce string
	verify      shareSet
}

func (a *rekeyAttempt) accepting() error {
	if a.newKey != nil {
		return logical.InvalidRequest("rekey operation already finished; verification must be performed; nonce for the verification operation is %q", a.verifyNonce)
	}
	return nil
}

func (a *rekeyAttempt) zero() {
	a.shares.zero()
	a.verify.zero()
	clear(a.newKey)
	a.newKey = nil
}

// rekeyInitInput is the body of PUT sys/rekey/init.
type rekeyInitInput struct {
	SecretShares        framework.Int  `json:"secret_shares"`
	SecretThreshold     framework.Int  `json:"secret_threshold"`
	StoredShares        framework.Int  `json:"stored_shares"`
	PGPKeys             []string       `json:"pgp_keys"`
	Backup              framework.Bool `json:"backup"`
	RequireVerification framework.Bool `json:"require_verification"`
}

// rekeyStatusOutput is Vault's rekey status shape.
type rekeyStatusOutput struct {
	Nonce                string   `json:"nonce"`
	Started              bool     `json:"started"`
	T                    int      `json:"t"`
	N                    int      `json:"n"`
	Progress             int      `json:"progress"`
	Required             int      `json:"required"`
	PGPFingerprints      []string `json:"pgp_fingerprints"`
	Backup               bool     `json:"backup"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
}

// rekeyUpdateOutput is Vault's answer to the share that completes a rekey.
type rekeyUpdateOutput struct {
	Nonce                string   `json:"nonce"`
	Complete             bool     `json:"complete"`
	Keys                 []string `json:"keys"`
	KeysBase64           []string `json:"keys_base64"`
	PGPFingerprints      []string `json:"pgp_fingerprints"`
	Backup               bool     `json:"backup"`
	VerificationRequired bool     `json:"verification_required"`
	VerificationNonce    string   `json:"verification_nonce,omitempty"`
}

// rekeyVerifyOutput is Vault's rekey verification status shape; Complete
// is set on the share that completes the verification.
type rekeyVerifyOutput struct {
	Nonce    string `json:"nonce"`
	Started  bool   `json:"started"`
	T        int    `json:"t"`
	N        int    `json:"n"`
	Progress int    `json:"progress"`
	Complete bool   `json:"complete,omitempty"`
}

// rekeyLocked is the rekey in progress, or nil; cs.mu is held.
func (cs *Ceremonies) rekeyLocked() *rekeyAttempt {
	a, _ := cs.running[rekey].(*rekeyAttempt)
	return a
}

func (cs *Ceremonies) rekeyStatus(ctx context.Context, _ *logical.Request) (any, error) {
	return cs.status(ctx, rekey)
}

// rekeyStatusLocked describes the attempt; cs.mu is held.
func (cs *Ceremonies) rekeyStatusLocked(cur seal.Config) rekeyStatusOutput {
	out := rekeyStatusOutput{Required: cur.SecretThreshold}
	if a := cs.rekeyLocked(); a != nil {
		out.Started = true
		out.Nonce = a.nonce
		out.T, out.N = a.cfg.SecretThreshold, a.cfg.SecretShares
		out.Progress = a.shares.len()
		out.VerificationRequired = a.verification
		out.VerificationNonce = a.verifyNonce
	}
	return out
}

func (cs *Ceremonies) rekeyInit(ctx context.Context, req *logical.Request) (any, error) {
	var in rekeyInitInput
	if err := framework.DecodeBody(req.Body, &in); err != nil {
		return nil, err
	}
	if len(in.PGPKeys) > 0 {
		return nil, logical.InvalidRequest("PGP-encrypted key shares are not supported")
	}
	if in.Backup {
		return nil, logical.InvalidRequest("key backup needs PGP-encrypted key shares, which are not supported")
	}
	cfg := seal.Config{SecretShares: int(in.SecretShares), SecretThreshold: int(in.SecretThreshold)}
	if cfg.SecretThreshold > cfg.SecretShares {
		return nil, logical.InvalidRequest("provided threshold greater than the total shares")
	}
	if err := cfg.Validate(); err != nil {
		return nil, logical.InvalidRequest("invalid rekey seal configuration: %s", err.Error())
	}
	cur, err := cs.shareConfig(ctx, rekey)
	if err != nil {
		return nil, err
	}
	if cur.Auto() {
		return nil, logical.InvalidRequest("rekeying the barrier is not supported with the %s seal, and rekeying recovery keys (sys/rekey-recovery-key) is not served yet", cur.SealType())
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := &rekeyAttempt{progress: progress{nonce: cs.newID()}, cfg: cfg, verification: bool(in.RequireVerification)}
	if err := cs.startLocked(rekey, a, "shares", cfg.SecretShares, "threshold", cfg.SecretThreshold, "verification_required", a.verification); err != nil {
		return nil, err
	}
	return cs.rekeyStatusLocked(cur), nil
}

func (cs *Ceremonies) rekeyUpdate(ctx context.Context, req *logical.Request) (any, error) {
	return cs.update(ctx, rekey, req, cs.completeRekeyLocked)
}

// completeRekeyLocked runs once a threshold of current shares is in: they
// are checked, a new unseal key is made, and it replaces the old one at
// once or, with verification, once a threshold of its own shares comes
// back. A wrong combination resets the progress and keeps the attempt.
// cs.mu is held.
func (cs *Ceremonies) completeRekeyLocked(ctx context.Context, _ seal.Config) (any, error) {
	a := cs.rekeyLocked()
	rootKey, err := checked(&a.progress, "root key verification failed", func(shares [][]byte) ([]byte, error) {
		return cs.core.VerifyShares(ctx, shares)
	})
	if err != nil {
		return nil, err
	}
	defer clear(rootKey)
	newKey, shares, err := seal.NewUnsealKey(a.cfg)
	if err != nil {
		return nil, err
	}
	out := rekeyUpdateOutput{Nonce: a.nonce, Complete: true, Keys: []string{}, KeysBase64: []string{}}
	for _, s := range shares {
		out.Keys = append(out.Keys, hex.EncodeToString(s))
		out.KeysBase64 = append(out.KeysBase64, base64.StdEncoding.EncodeToString(s))
		clear(s)
	}
	if a.verification {
		a.newKey = newKey
		a.verifyNonce = cs.newID()
		out.VerificationRequired = true
		out.VerificationNonce = a.verifyNonce
		cs.logger.Info("rekey awaits verification of the new key shares", "nonce", a.nonce)
		return out, nil
	}
	defer clear(newKey)
	if err := cs.core.Rekey(ctx, a.cfg, newKey, rootKey); err != nil {
		return nil, err
	}
	cs.endLocked(rekey)
	cs.logger.Info("rekey finished: new unseal key shares are in force", "nonce", a.nonce, "shares", a.cfg.SecretShares, "threshold", a.cfg.SecretThreshold)
	return out, nil
}

// rekeyVerifyAttemptLocked is the attempt awaiting verification, or a 400.
func (cs *Ceremonies) rekeyVerifyAttemptLocked() (*rekeyAttempt, error) {
	a := cs.rekeyLocked()
	if a == nil {
		return nil, logical.InvalidRequest("no rekey configuration found")
	}
	if a.newKey == nil {
		return nil, logical.InvalidRequest("no rekey verification in progress")
	}
	return a, nil
}

func (a *rekeyAttempt) verifyStatus() rekeyVerifyOutput {
	return rekeyVerifyOutput{Nonce: a.verifyNonce, Started: true, T: a.cfg.SecretThreshold, N: a.cfg.SecretShares, Progress: a.verify.len()}
}

func (cs *Ceremonies) rekeyVerifyStatus(context.Context, *logical.Request) (any, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a, err := cs.rekeyVerifyAttemptLocked()
	if err != nil {
		return nil, err
	}
	return a.verifyStatus(), nil
}

func (cs *Ceremonies) rekeyVerifyUpdate(ctx context.Context, req *logical.Request) (any, error) {
	in, share, err := readKeyInput(req)
	defer clear(share)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a, err := cs.rekeyVerifyAttemptLocked()
	if err != nil {
		return nil, err
	}
	if err := checkNonce(in.Nonce, a.verifyNonce); err != nil {
		return nil, err
	}
	if err := a.verify.add(a.cfg, share); err != nil {
		return nil, err
	}
	if a.verify.len() < a.cfg.SecretThreshold {
		return a.verifyStatus(), nil
	}
	ok := seal.KeyMatches(a.cfg, a.newKey, a.verify.shares)
	a.verify.zero()
	if !ok {
		return nil, logical.InvalidRequest("rekey verification failed: the key shares do not combine to the new key; progress was reset")
	}
	rootKey, err := cs.core.RootKey()
	if err != nil {
		return nil, err
	}
	defer clear(rootKey)
	if err := cs.core.Rekey(ctx, a.cfg, a.newKey, rootKey); err != nil {
		return nil, err
	}
	out := rekeyVerifyOutput{Nonce: a.verifyNonce, Complete: true}
	cs.endLocked(rekey)
	cs.logger.Info("rekey verified and finished: new unseal key shares are in force", "nonce", a.nonce, "shares", a.cfg.SecretShares, "threshold", a.cfg.SecretThreshold)
	return out, nil
}

// rekeyVerifyCancel restarts the verification (the new shares stay
// pending, with a new verification nonce), as Vault does; it needs the
// current verification nonce.
func (cs *Ceremonies) rekeyVerifyCancel(_ context.Context, req *logical.Request) (any, error) {
	nonce, err := cancelNonce(req)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a, err := cs.rekeyVerifyAttemptLocked()
	if err != nil {
		return nil, err
	}
	if err := checkNonce(nonce, a.verifyNonce); err != nil {
		return nil, err
	}
	a.verify.zero()
	a.verifyNonce = cs.newID()
	return a.verifyStatus(), nil
}
