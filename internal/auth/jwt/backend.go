package jwt

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys; see the package comment.
const (
	configKey  = "config"
	rolePrefix = "role/"
)

// backend is one JWT auth mount.
type backend struct {
	framework.Backend
	storage logical.Storage
	clock   logical.Clock
	logger  *slog.Logger

	rolesMu sync.Mutex // serialises role read-modify-writes
	roles   framework.Collection[role]

	srcMu  sync.Mutex
	src    keySource // guarded by srcMu: the key source built from the config whose digest is srcFor
	srcFor [sha256.Size]byte
}

// Factory builds a JWT auth backend for one mount. It does no I/O: keys
// are fetched when the config is written and when logins need them.
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("jwt: no storage")
	}
	env = env.WithDefaults()
	b := &backend{storage: env.Storage, clock: env.Clock, logger: env.Logger}
	b.roles = framework.Collection[role]{Storage: env.Storage, Prefix: rolePrefix, Lock: b.roleLock}
	b.Paths = slices.Concat([]*framework.Path{
		{
			Pattern: `config`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readConfig,
				logical.UpdateOperation: framework.Typed(b.writeConfig),
			},
			Synopsis: "Configure how tokens are verified: keys, issuer, algorithms.",
		},
	}, b.roles.Paths(framework.CollectionPaths[role]{
		Base: "role", Capture: "name", Name: roleName, Data: (*role).response,
		Write: framework.Typed(b.writeRole), Noun: "role",
	}), []*framework.Path{
		{
			Pattern: `login`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with a signed JWT.",
		},
	})
	return b, b.Compile()
}

// LoginPaths implements [logical.LoginPaths]: logging in needs no token.
func (b *backend) LoginPaths() []string {
	return []string{"login"}
}

// Cleanup implements [logical.Cleaner]: it closes idle connections to the
// JWKS and discovery endpoints.
func (b *backend) Cleanup(context.Context) {
	b.srcMu.Lock()
	defer b.srcMu.Unlock()
	if b.src != nil {
		b.src.close()
	}
	b.src = nil
}

// roleLock returns the mutex of every role: role writes are rare.
func (b *backend) roleLock(string) sync.Locker { return &b.rolesMu }

// roleName returns the lowercased, validated role name captured from the
// path: letters, digits, "_", "-" and ".", not "." or "..".
func roleName(m *framework.Match) (string, error) {
	return framework.Name("role", m.Get("name"))
}
