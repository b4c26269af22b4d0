package core

import (
	"context"
	"errors"

	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/sys/ceremony"
	"github.com/coffer-secrets/coffer/internal/token"
)

// The key ceremonies (sys/rekey/*, sys/generate-root/*) live in package
// ceremony; core routes them from its pipeline without a token check and
// lends them the seal, the barrier's root key and the token store through
// ceremonyCore.

// isCeremonyPath reports whether path is one of the unauthenticated key
// ceremony endpoints.
func isCeremonyPath(path string) bool { return ceremony.IsPath(path) }

// handleCeremony serves a ceremony endpoint. The caller holds stateMu for
// reading and has audited the request.
func (c *Core) handleCeremony(ctx context.Context, req *Request) (*Response, error) {
	resp, err := c.cer.Handle(ctx, req.Request)
	if err != nil || resp == nil {
		return nil, err
	}
	return &Response{Response: resp, MountType: "system"}, nil
}

// ceremonyCore is the [ceremony.Core] a core lends its ceremonies.
type ceremonyCore struct{ c *Core }

func (cc ceremonyCore) SealConfig(ctx context.Context) (seal.Config, error) {
	cfg, err := cc.c.sealConfig(ctx)
	if err != nil {
		return seal.Config{}, err
	}
	if cfg == nil {
		return seal.Config{}, errors.New("seal configuration missing while unsealed")
	}
	return *cfg, nil
}

func (cc ceremonyCore) VerifyShares(ctx context.Context, shares [][]byte) ([]byte, error) {
	return cc.c.seal.VerifyShares(ctx, shares)
}

func (cc ceremonyCore) VerifyRecoveryShares(ctx context.Context, shares [][]byte) error {
	return cc.c.seal.VerifyRecoveryShares(ctx, shares)
}

func (cc ceremonyCore) RootKey() ([]byte, error) { return cc.c.barrier.RootKey() }

func (cc ceremonyCore) Rekey(ctx context.Context, cfg seal.Config, newKey, rootKey []byte) error {
	if err := cc.c.seal.Rekey(ctx, cfg, newKey, rootKey); err != nil {
		return err
	}
	cc.c.sealCfg.Store(&cfg)
	return nil
}

func (cc ceremonyCore) CreateRootToken(ctx context.Context) (string, error) {
	id, _, err := cc.c.tokens.Create(ctx, "", &token.Entry{
		Policies:    []string{"root"},
		DisplayName: "root",
		Path:        "auth/token/root",
	}, cc.c.now())
	return string(id), err
}
