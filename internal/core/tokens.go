package core

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/sys/tokenapi"
	"github.com/coffer-secrets/coffer/internal/token"
)

// tokenRolePrefix is where the token API keeps token roles.
const tokenRolePrefix = "sys/token/roles/"

// newTokenBackend returns the token store's API (package tokenapi),
// mounted at auth/token/.
func (c *Core) newTokenBackend() *framework.Backend {
	return tokenapi.New(tokenapi.Options{
		Core:   tokenCore{c},
		Tokens: c.tokens,
		Roles:  router.NewView(c.barrier, tokenRolePrefix),
		Clock:  c.clock,
	})
}

// tokenCore is the core as the token API sees it ([tokenapi.Core]).
type tokenCore struct{ c *Core }

func (t tokenCore) Caller(ctx context.Context) (tokenapi.Caller, bool) {
	cl := callerFrom(ctx)
	if cl == nil {
		return tokenapi.Caller{}, false
	}
	return tokenapi.Caller{ID: cl.id, Hash: cl.hash, Entry: cl.entry, Sudo: cl.sudo}, true
}

func (t tokenCore) PolicyExists(name string) bool { return t.c.policies.Exists(name) }

func (t tokenCore) TokenTTLs() (defaultTTL, maxTTL time.Duration) {
	sv := t.c.systemViewFor(tokenMountPath)
	return sv.DefaultLeaseTTL(), sv.MaxLeaseTTL()
}

func (t tokenCore) CreateToken(ctx context.Context, id token.ID, e *token.Entry) (*logical.Response, error) {
	ao, err := t.c.createToken(ctx, id, e, t.c.now())
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: ao}, nil
}

func (t tokenCore) AuthResponse(ctx context.Context, id token.ID, e *token.Entry) *logical.Response {
	return &logical.Response{Data: t.c.authOutput(ctx, id, e)}
}

func (t tokenCore) IdentityPolicies(ctx context.Context, entityID string) []string {
	if t.c.identity == nil {
		return nil
	}
	ip, err := t.c.identity.Policies(ctx, entityID)
	if err != nil {
		return nil
	}
	return ip
}

// tokenRuleError turns a refusal by the token rules (or a refused token
// ID) into an invalid request with the rule's message.
func tokenRuleError(err error) error {
	if errors.Is(err, token.ErrInvalidRequest) || errors.Is(err, token.ErrInvalidID) {
		return logical.InvalidRequest("%s", err.Error())
	}
	return err
}

// lookupToken finds a token given in a request body; see
// [tokenapi.LookupToken].
func (c *Core) lookupToken(ctx context.Context, id, msg string) (*token.Entry, string, error) {
	return tokenapi.LookupToken(ctx, c.tokens, id, c.now(), msg)
}

// lookupAccessor finds a token by the accessor in a request body; see
// [tokenapi.LookupAccessor].
func (c *Core) lookupAccessor(ctx context.Context, accessor string) (*token.Entry, string, error) {
	return tokenapi.LookupAccessor(ctx, c.tokens, accessor, c.now())
}

// onTokenRevoke runs for every revoked token: it revokes the token's
// leases (a lease whose backend fails stays and is retried) and deletes
// its cubbyhole.
func (c *Core) onTokenRevoke(ctx context.Context, hash string, e *token.Entry) error {
	if err := c.leases.RevokeByToken(ctx, hash); err != nil {
		return err
	}
	for _, m := range c.Mounts() {
		if m.Type == "cubbyhole" && m.Builtin {
			return router.Clear(ctx, c.barrier, m.StoragePrefix()+hash+"/")
		}
	}
	return nil
}

// onTokensRevoke is onTokenRevoke for a batch of tokens of a tree being
// revoked: their leases go with few storage transactions, their backends
// called concurrently.
func (c *Core) onTokensRevoke(ctx context.Context, hashes []string, _ []*token.Entry) error {
	if err := c.leases.RevokeByTokens(ctx, hashes); err != nil {
		return err
	}
	for _, m := range c.Mounts() {
		if m.Type == "cubbyhole" && m.Builtin {
			for _, h := range hashes {
				if err := router.Clear(ctx, c.barrier, m.StoragePrefix()+h+"/"); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return nil
}
