package core

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/seal"
)

// The key ceremonies (rekey and root token generation) are served without
// a token, as Vault serves them: a threshold of key shares is the
// authority. They still go through HandleRequest, so they need the server
// unsealed and active and they are audited like any request (the audit
// devices HMAC every string in the bodies, key shares, OTP and encoded
// token included). Each kind has at most one attempt in memory, holding
// at most a threshold of shares (255 at most, each checked for size before
// it is kept); every share is zeroed when its attempt ends, is cancelled
// or the server seals. Cancelling a running attempt needs its nonce, so
// that whoever can reach the listener cannot disrupt a ceremony they do not
// take part in.

// ceremonies holds the attempts in progress.
type ceremonies struct {
	mu      sync.Mutex
	rekey   *rekeyAttempt   // guarded by mu; nil when none
	genRoot *genRootAttempt // guarded by mu; nil when none
}

// reset forgets every attempt, zeroing what they hold.
func (cs *ceremonies) reset() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.rekey != nil {
		cs.rekey.zero()
		cs.rekey = nil
	}
	if cs.genRoot != nil {
		cs.genRoot.zero()
		cs.genRoot = nil
	}
}

// shareVerifier checks a threshold of the current key shares and returns
// the root key they open (the caller zeroes it), or an error wrapping
// [seal.ErrBadKey]. The Shamir seal's unseal key shares are one; the
// recovery keys of an auto-unseal seal will be another.
type shareVerifier interface {
	VerifyShares(ctx context.Context, shares [][]byte) ([]byte, error)
}

// shareSet collects the distinct shares of one attempt.
type shareSet struct {
	shares [][]byte
}

// add keeps a copy of share after checking it against cfg and the shares
// already given; it never keeps more than cfg.SecretThreshold shares.
func (s *shareSet) add(cfg seal.Config, share []byte) error {
	if err := seal.ValidateShare(cfg, share); err != nil {
		return logical.InvalidRequest("invalid key share: %s", strings.TrimPrefix(err.Error(), seal.ErrInvalidShare.Error()+": "))
	}
	for _, prev := range s.shares {
		if subtle.ConstantTimeCompare(prev, share) == 1 {
			return logical.InvalidRequest("given key has already been provided during this generation operation")
		}
		if seal.SameIndex(cfg, prev, share) {
			return logical.InvalidRequest("a key share with the same index has already been provided during this operation")
		}
	}
	if len(s.shares) >= cfg.SecretThreshold {
		return logical.InvalidRequest("enough key shares were already provided")
	}
	s.shares = append(s.shares, append([]byte(nil), share...))
	return nil
}

func (s *shareSet) len() int { return len(s.shares) }

// zero forgets the shares, zeroing them.
func (s *shareSet) zero() {
	for _, sh := range s.shares {
		clear(sh)
	}
	s.shares = nil
}

// keyInput is the body of the update endpoints.
type keyInput struct {
	Key   string `json:"key"`
	Nonce string `json:"nonce"`
}

// nonceInput is the body (or query) of a cancel.
type nonceInput struct {
	Nonce string `json:"nonce"`
}

// decodeShare accepts a key share in hex or standard base64, as Vault does.
func decodeShare(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, logical.InvalidRequest("missing required parameter: key")
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) > 0 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) > 0 {
		return b, nil
	}
	return nil, logical.InvalidRequest("the key must be hex or base64 encoded")
}

// readKeyInput decodes an update body and its key share; the caller zeroes
// the share.
func readKeyInput(req *Request) (keyInput, []byte, error) {
	var in keyInput
	if err := framework.DecodeBody(req.Body, &in); err != nil {
		return in, nil, err
	}
	share, err := decodeShare(in.Key)
	return in, share, err
}

// cancelNonce is the nonce a cancel names, from the body or the query.
func cancelNonce(req *Request) (string, error) {
	var in nonceInput
	if len(req.Body) > 0 {
		if err := framework.DecodeBody(req.Body, &in); err != nil {
			return "", err
		}
	}
	if in.Nonce == "" {
		in.Nonce = req.Query.Get("nonce")
	}
	return in.Nonce, nil
}

// checkNonce compares a nonce given by a client with the attempt's. Nonces
// are not secret (status endpoints show them); they make sure every key
// holder acts on the same attempt.
func checkNonce(got, want string) error {
	if got == "" {
		return logical.InvalidRequest("missing required parameter: nonce")
	}
	if got != want {
		return logical.InvalidRequest("incorrect nonce supplied; nonce for this operation is %q", want)
	}
	return nil
}

// isCeremonyPath reports whether path is one of the unauthenticated key
// ceremony endpoints.
func isCeremonyPath(path string) bool {
	switch path {
	case "sys/rekey/init", "sys/rekey/update", "sys/rekey/verify",
		"sys/generate-root/attempt", "sys/generate-root/update":
		return true
	}
	return false
}

// handleCeremony serves a ceremony endpoint. The caller holds stateMu for
// reading and has audited the request.
func (c *Core) handleCeremony(ctx context.Context, req *Request) (*Response, error) {
	type route struct {
		path string
		op   logical.Operation
	}
	handlers := map[route]func(context.Context, *Request) (any, error){
		{"sys/rekey/init", logical.ReadOperation}:              c.rekeyStatus,
		{"sys/rekey/init", logical.UpdateOperation}:            c.rekeyInit,
		{"sys/rekey/init", logical.DeleteOperation}:            c.rekeyCancel,
		{"sys/rekey/update", logical.UpdateOperation}:          c.rekeyUpdate,
		{"sys/rekey/verify", logical.ReadOperation}:            c.rekeyVerifyStatus,
		{"sys/rekey/verify", logical.UpdateOperation}:          c.rekeyVerifyUpdate,
		{"sys/rekey/verify", logical.DeleteOperation}:          c.rekeyVerifyCancel,
		{"sys/generate-root/attempt", logical.ReadOperation}:   c.genRootStatus,
		{"sys/generate-root/attempt", logical.UpdateOperation}: c.genRootInit,
		{"sys/generate-root/attempt", logical.DeleteOperation}: c.genRootCancel,
		{"sys/generate-root/update", logical.UpdateOperation}:  c.genRootUpdate,
	}
	op := req.Operation
	if op == logical.CreateOperation {
		op = logical.UpdateOperation
	}
	h, ok := handlers[route{req.Path, op}]
	if !ok {
		return nil, logical.Unsupported(req.Operation, req.Path)
	}
	out, err := h(ctx, req)
	if err != nil || out == nil {
		return nil, err
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode %s answer: %w", req.Path, err)
	}
	// Vault answers these endpoints with the object itself, not in the
	// response envelope.
	return &Response{Response: &logical.Response{Raw: &logical.RawResponse{ContentType: "application/json", Body: body}}, MountType: "system"}, nil
}

// currentSealConfig is the stored seal configuration; an uninitialized
// server cannot be unsealed, so it is an internal error here.
func (c *Core) currentSealConfig(ctx context.Context) (seal.Config, error) {
	cfg, err := c.sealConfig(ctx)
	if err != nil {
		return seal.Config{}, err
	}
	if cfg == nil {
		return seal.Config{}, errors.New("seal configuration missing while unsealed")
	}
	return *cfg, nil
}

// ceremonyShareConfig is the share configuration generate-root collects:
// the unseal key's with Shamir, the recovery key's with an auto seal (as
// in Vault, where the recovery keys are the authority then).
func (c *Core) ceremonyShareConfig(ctx context.Context) (seal.Config, error) {
	cur, err := c.currentSealConfig(ctx)
	if err != nil || !cur.Auto() {
		return cur, err
	}
	return seal.Config{SecretShares: cur.RecoveryShares, SecretThreshold: cur.RecoveryThreshold}, nil
}

// verifyCeremonyShares checks a threshold of shares of the configuration
// ceremonyShareConfig returns; an error wraps [seal.ErrBadKey] when they
// do not prove the key.
func (c *Core) verifyCeremonyShares(ctx context.Context, shares [][]byte) error {
	cur, err := c.currentSealConfig(ctx)
	if err != nil {
		return err
	}
	if cur.Auto() {
		return c.seal.VerifyRecoveryShares(ctx, shares)
	}
	rootKey, err := c.seal.VerifyShares(ctx, shares)
	clear(rootKey)
	return err
}
