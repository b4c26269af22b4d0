package ceremony

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/seal"
)

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
func readKeyInput(req *logical.Request) (keyInput, []byte, error) {
	var in keyInput
	if err := framework.DecodeBody(req.Body, &in); err != nil {
		return in, nil, err
	}
	share, err := decodeShare(in.Key)
	return in, share, err
}

// cancelNonce is the nonce a cancel names, from the body or the query.
func cancelNonce(req *logical.Request) (string, error) {
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
