package ceremony

import (
	"context"
	"fmt"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/token"
	"github.com/coffer-secrets/coffer/internal/token/otp"
)

// genRootAttempt is a root token generation in progress
// (sys/generate-root/*). The new token is handed out XORed with the
// one-time pad, so that the key holders who see the answer cannot use it;
// only whoever started the attempt holds the pad.
type genRootAttempt struct {
	progress
	otp []byte // zeroed when the attempt ends
}

func (a *genRootAttempt) accepting() error { return nil }

func (a *genRootAttempt) zero() {
	a.shares.zero()
	clear(a.otp)
	a.otp = nil
}

// genRootInitInput is the body of PUT sys/generate-root/attempt.
type genRootInitInput struct {
	OTP    string `json:"otp"`
	PGPKey string `json:"pgp_key"`
}

// genRootStatusOutput is Vault's root generation status shape.
type genRootStatusOutput struct {
	Nonce            string `json:"nonce"`
	Started          bool   `json:"started"`
	Progress         int    `json:"progress"`
	Required         int    `json:"required"`
	Complete         bool   `json:"complete"`
	EncodedToken     string `json:"encoded_token"`
	EncodedRootToken string `json:"encoded_root_token"`
	PGPFingerprint   string `json:"pgp_fingerprint"`
	OTP              string `json:"otp"`
	OTPLength        int    `json:"otp_length"`
}

// otpLength is the length of a root token ID, which the one-time pad must
// match: XOR is applied byte by byte.
func otpLength() int { return token.IDLength() }

// genRootLocked is the root generation in progress, or nil; cs.mu is held.
func (cs *Ceremonies) genRootLocked() *genRootAttempt {
	a, _ := cs.running[generateRoot].(*genRootAttempt)
	return a
}

func (cs *Ceremonies) genRootStatus(ctx context.Context, _ *logical.Request) (any, error) {
	return cs.status(ctx, generateRoot)
}

// genRootStatusLocked describes the attempt, never with its pad; cs.mu is
// held.
func (cs *Ceremonies) genRootStatusLocked(cur seal.Config) genRootStatusOutput {
	out := genRootStatusOutput{Required: cur.SecretThreshold, OTPLength: otpLength()}
	if a := cs.genRootLocked(); a != nil {
		out.Started = true
		out.Nonce = a.nonce
		out.Progress = a.shares.len()
	}
	return out
}

func (cs *Ceremonies) genRootInit(ctx context.Context, req *logical.Request) (any, error) {
	var in genRootInitInput
	if err := framework.DecodeBody(req.Body, &in); err != nil {
		return nil, err
	}
	if in.PGPKey != "" {
		return nil, logical.InvalidRequest("PGP-encrypted root tokens are not supported; use an OTP")
	}
	n := otpLength()
	if in.OTP != "" && len(in.OTP) != n {
		return nil, logical.InvalidRequest("OTP string has incorrect length: want %d characters", n)
	}
	cur, err := cs.shareConfig(ctx, generateRoot)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := &genRootAttempt{progress: progress{nonce: cs.newID()}}
	generated := in.OTP == ""
	if generated {
		a.otp = []byte(otp.New(n))
	} else {
		a.otp = []byte(in.OTP)
	}
	if err := cs.startLocked(generateRoot, a); err != nil {
		return nil, err
	}
	out := cs.genRootStatusLocked(cur)
	if generated {
		// Only the caller who started the attempt sees the pad, once.
		out.OTP = string(a.otp)
	}
	return out, nil
}

func (cs *Ceremonies) genRootUpdate(ctx context.Context, req *logical.Request) (any, error) {
	return cs.update(ctx, generateRoot, req, cs.completeGenRootLocked)
}

// completeGenRootLocked runs once a threshold of shares is in: they are
// checked and a root token is made, handed out encoded with the pad. A
// wrong combination resets the progress and keeps the attempt. cs.mu is
// held.
func (cs *Ceremonies) completeGenRootLocked(ctx context.Context, cur seal.Config) (any, error) {
	a := cs.genRootLocked()
	_, err := checked(&a.progress, "root generation aborted", func(shares [][]byte) (struct{}, error) {
		return struct{}{}, cs.verifyAuthority(ctx, shares)
	})
	if err != nil {
		return nil, err
	}
	id, err := cs.core.CreateRootToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("create root token: %w", err)
	}
	encoded, err := otp.Encode(id, string(a.otp))
	if err != nil {
		return nil, err
	}
	out := genRootStatusOutput{
		Nonce:            a.nonce,
		Started:          true,
		Progress:         cur.SecretThreshold,
		Required:         cur.SecretThreshold,
		Complete:         true,
		EncodedToken:     encoded,
		EncodedRootToken: encoded,
		OTPLength:        len(a.otp),
	}
	cs.endLocked(generateRoot)
	cs.logger.Info("root token generated", "nonce", out.Nonce)
	return out, nil
}

// verifyAuthority checks a threshold of the shares generate-root collects
// (see shareConfig); the error wraps [seal.ErrBadKey] when they do not
// prove the key.
func (cs *Ceremonies) verifyAuthority(ctx context.Context, shares [][]byte) error {
	cur, err := cs.core.SealConfig(ctx)
	if err != nil {
		return err
	}
	if cur.Auto() {
		return cs.core.VerifyRecoveryShares(ctx, shares)
	}
	rootKey, err := cs.core.VerifyShares(ctx, shares)
	clear(rootKey)
	return err
}
