package jwt

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	if env.Clock == nil {
		env.Clock = logical.SystemClock{}
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	b := &backend{storage: env.Storage, clock: env.Clock, logger: env.Logger}
	b.Paths = []*framework.Path{
		{
			Pattern: `config`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readConfig,
				logical.UpdateOperation: framework.Typed(b.writeConfig),
			},
			Synopsis: "Configure how tokens are verified: keys, issuer, algorithms.",
		},
		{
			Pattern: `role/?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ListOperation: b.listRoles,
			},
			Synopsis: "List roles.",
		},
		{
			Pattern: `role/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readRole,
				logical.UpdateOperation: framework.Typed(b.writeRole),
				logical.DeleteOperation: b.deleteRole,
			},
			ExistenceCheck: b.roleExists,
			Synopsis:       "Create, read, update and delete a role.",
		},
		{
			Pattern: `login`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with a signed JWT.",
		},
	}
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

// roleName returns the lowercased, validated role name captured from the
// path: letters, digits, "_", "-" and ".", not "." or "..".
func roleName(m *framework.Match) (string, error) {
	return framework.Name("role", m.Get("name"))
}

// loadJSON reads key into v and returns the raw entry. found is false when
// there is no entry.
func (b *backend) loadJSON(ctx context.Context, key string, v any) (raw []byte, err error) {
	e, err := b.storage.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if e == nil {
		return nil, nil
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	return e.Value, nil
}

// saveJSON stores v as JSON at key and returns the stored bytes.
func (b *backend) saveJSON(ctx context.Context, key string, v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: key, Value: data}); err != nil {
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	return data, nil
}
