package core

import (
	"context"
	"errors"
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
	nonce    string
	otp      []byte // zeroed when the attempt ends
	progress shareSet
}

func (a *genRootAttempt) zero() {
	a.progress.zero()
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

func (c *Core) genRootStatus(ctx context.Context, _ *Request) (any, error) {
	cur, err := c.ceremonyShareConfig(ctx)
	if err != nil {
		return nil, err
	}
	c.cer.mu.Lock()
	defer c.cer.mu.Unlock()
	return c.genRootStatusLocked(cur), nil
}

// genRootStatusLocked describes the attempt, never with its pad; c.cer.mu
// is held.
func (c *Core) genRootStatusLocked(cur seal.Config) genRootStatusOutput {
	out := genRootStatusOutput{Required: cur.SecretThreshold, OTPLength: otpLength()}
	if a := c.cer.genRoot; a != nil {
		out.Started = true
		out.Nonce = a.nonce
		out.Progress = a.progress.len()
	}
	return out
}

func (c *Core) genRootInit(ctx context.Context, req *Request) (any, error) {
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
	cur, err := c.ceremonyShareConfig(ctx)
	if err != nil {
		return nil, err
	}
	c.cer.mu.Lock()
	defer c.cer.mu.Unlock()
	if c.cer.genRoot != nil {
		return nil, logical.InvalidRequest("root generation already in progress")
	}
	a := &genRootAttempt{nonce: NewUUID()}
	generated := in.OTP == ""
	if generated {
		a.otp = []byte(otp.New(n))
	} else {
		a.otp = []byte(in.OTP)
	}
	c.cer.genRoot = a
	c.logger.Info("root token generation started", "nonce", a.nonce)
	out := c.genRootStatusLocked(cur)
	if generated {
		// Only the caller who started the attempt sees the pad, once.
		out.OTP = string(a.otp)
	}
	return out, nil
}

func (c *Core) genRootCancel(ctx context.Context, req *Request) (any, error) {
	nonce, err := cancelNonce(req)
	if err != nil {
		return nil, err
	}
	c.cer.mu.Lock()
	defer c.cer.mu.Unlock()
	a := c.cer.genRoot
	if a == nil {
		return nil, nil
	}
	if err := checkNonce(nonce, a.nonce); err != nil {
		return nil, err
	}
	a.zero()
	c.cer.genRoot = nil
	c.logger.Info("root token generation cancelled", "nonce", a.nonce)
	return nil, nil
}

func (c *Core) genRootUpdate(ctx context.Context, req *Request) (any, error) {
	in, share, err := readKeyInput(req)
	defer clear(share)
	if err != nil {
		return nil, err
	}
	cur, err := c.ceremonyShareConfig(ctx)
	if err != nil {
		return nil, err
	}
	c.cer.mu.Lock()
	defer c.cer.mu.Unlock()
	a := c.cer.genRoot
	if a == nil {
		return nil, logical.InvalidRequest("no root generation in progress")
	}
	if err := checkNonce(in.Nonce, a.nonce); err != nil {
		return nil, err
	}
	if err := a.progress.add(cur, share); err != nil {
		return nil, err
	}
	if a.progress.len() < cur.SecretThreshold {
		return c.genRootStatusLocked(cur), nil
	}
	err = c.verifyCeremonyShares(ctx, a.progress.shares)
	a.progress.zero()
	if err != nil {
		if errors.Is(err, seal.ErrBadKey) {
			return nil, logical.InvalidRequest("root generation aborted: the key shares do not open the barrier; progress was reset")
		}
		return nil, err
	}
	id, _, err := c.tokens.Create(ctx, "", &token.Entry{
		Policies:    []string{"root"},
		DisplayName: "root",
		Path:        "auth/token/root",
	}, c.now())
	if err != nil {
		return nil, fmt.Errorf("create root token: %w", err)
	}
	encoded, err := otp.Encode(string(id), string(a.otp))
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
	a.zero()
	c.cer.genRoot = nil
	c.logger.Info("root token generated", "nonce", out.Nonce)
	return out, nil
}
