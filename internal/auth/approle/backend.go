package approle

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys and prefixes; see the package comment.
const (
	saltKey        = "salt"
	rolePrefix     = "role/"
	roleIDPrefix   = "role_id/"
	secretIDPrefix = "secret_id/"
	accessorPrefix = "accessor/"
)

// saltBytes is the size of the mount's HMAC key.
const saltBytes = 32

// lockStripes is how many mutexes guard the secret IDs of roles.
const lockStripes = 256

// backend is one AppRole mount.
type backend struct {
	framework.Backend
	storage logical.Storage
	clock   logical.Clock

	saltMu sync.Mutex
	salt   []byte // guarded by saltMu; read-only once set

	rolesMu sync.Mutex // serialises role writes and deletes
	roles   framework.Collection[role]

	seed  maphash.Seed
	locks [lockStripes]sync.Mutex // locks[i] guards the secret IDs of the role keys hashing to i
}

// Factory builds an AppRole backend for one mount. The mount's HMAC key is
// created by Initialize (or the first request) and kept in its storage.
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("approle: no storage")
	}
	env = env.WithDefaults()
	b := &backend{storage: env.Storage, clock: env.Clock, seed: maphash.MakeSeed()}
	b.roles = framework.Collection[role]{Storage: env.Storage, Prefix: rolePrefix}
	b.Paths = slices.Concat([]*framework.Path{
		{
			Pattern: `login`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with a role ID and a secret ID.",
		},
	}, b.roles.Paths(framework.CollectionPaths[role]{
		Base: "role", Capture: "role_name", Name: roleName, Data: (*role).response,
		Write: framework.Typed(b.writeRole), Noun: "role",
		Operations: map[logical.Operation]framework.Handler{logical.DeleteOperation: b.deleteRole},
	}), []*framework.Path{
		{
			Pattern: `role/(?P<role_name>[^/]+)/role-id`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readRoleID,
				logical.UpdateOperation: framework.Typed(b.writeRoleID),
			},
			Synopsis: "Read or set a role's role ID.",
		},
		{
			Pattern: `role/(?P<role_name>[^/]+)/secret-id/?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.generateSecretID),
				logical.ListOperation:   b.listSecretIDs,
			},
			Synopsis: "Generate a secret ID for a role, or list the accessors of its secret IDs.",
		},
		{
			Pattern: `role/(?P<role_name>[^/]+)/custom-secret-id`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.customSecretID),
			},
			Synopsis: "Give a role a secret ID chosen by the caller.",
		},
		{
			Pattern: `role/(?P<role_name>[^/]+)/secret-id/lookup`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.lookupSecretID),
			},
			Synopsis: "Read the properties of a secret ID.",
		},
		{
			Pattern: `role/(?P<role_name>[^/]+)/secret-id/destroy`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.destroySecretID),
				logical.DeleteOperation: framework.Typed(b.destroySecretID),
			},
			Synopsis: "Destroy a secret ID.",
		},
		{
			Pattern: `role/(?P<role_name>[^/]+)/secret-id-accessor/lookup`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.lookupAccessor),
			},
			Synopsis: "Read the properties of a secret ID by its accessor.",
		},
		{
			Pattern: `role/(?P<role_name>[^/]+)/secret-id-accessor/destroy`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.destroyAccessor),
				logical.DeleteOperation: framework.Typed(b.destroyAccessor),
			},
			Synopsis: "Destroy a secret ID by its accessor.",
		},
		{
			Pattern: `tidy/secret-id`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.tidy),
			},
			Synopsis: "Remove expired secret IDs and dangling index entries.",
		},
	})
	return b, b.Compile()
}

// Initialize implements [logical.Initializer]: it loads the mount's HMAC
// key, creating it on first use.
func (b *backend) Initialize(ctx context.Context) error {
	_, err := b.key(ctx)
	return err
}

// LoginPaths implements [logical.LoginPaths]: logging in needs no token.
func (b *backend) LoginPaths() []string {
	return []string{"login"}
}

// LookaheadAlias implements [logical.AliasLookahead]: the alias of a login
// is the role_id in its body, and it exists when a role has that role_id
// (one HMAC and one storage read either way). The result is zero for
// other paths and for a body without a role_id; a malformed body or a
// role_id or secret_id over Vault's 4096-byte limit is an
// [logical.ErrInvalidRequest] error, before any hashing.
func (b *backend) LookaheadAlias(ctx context.Context, req *logical.Request) (logical.LookaheadResult, error) {
	if req.Path != "login" {
		return logical.LookaheadResult{}, nil
	}
	var in loginInput
	if err := framework.DecodeBody(req.Body, &in); err != nil {
		return logical.LookaheadResult{}, err
	}
	if err := in.check(); err != nil {
		return logical.LookaheadResult{}, err
	}
	key, err := b.key(ctx)
	if err != nil {
		return logical.LookaheadResult{}, err
	}
	found, err := framework.GetJSON(ctx, b.storage, roleIDPrefix+mac(key, "role_id", in.RoleID), &roleIndex{})
	if err != nil {
		return logical.LookaheadResult{}, err
	}
	return logical.LookaheadResult{Name: in.RoleID, Exists: found}, nil
}

// key returns the mount's HMAC key, loading or creating it on first use.
func (b *backend) key(ctx context.Context) ([]byte, error) {
	b.saltMu.Lock()
	defer b.saltMu.Unlock()
	if b.salt != nil {
		return b.salt, nil
	}
	e, err := b.storage.Get(ctx, saltKey)
	if err != nil {
		return nil, fmt.Errorf("read hmac key: %w", err)
	}
	if e != nil {
		if len(e.Value) != saltBytes {
			return nil, fmt.Errorf("stored hmac key is %d bytes, want %d", len(e.Value), saltBytes)
		}
		b.salt = e.Value
		return b.salt, nil
	}
	salt := make([]byte, saltBytes)
	_, _ = rand.Read(salt) // never fails since Go 1.24
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: saltKey, Value: salt}); err != nil {
		return nil, fmt.Errorf("write hmac key: %w", err)
	}
	b.salt = salt
	return b.salt, nil
}

// mac returns the hex HMAC-SHA256 of v under key, separated by kind so
// that a value of one kind never collides with another kind's.
func mac(key []byte, kind, v string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(v))
	return hex.EncodeToString(h.Sum(nil))
}

// roleKey names a role's folders under secret_id/ and accessor/.
func roleKey(key []byte, name string) string { return mac(key, "role", name) }

// lock takes the lock guarding the secret IDs of the role with key rk and
// returns its unlock.
func (b *backend) lock(rk string) func() {
	mu := &b.locks[maphash.String(b.seed, rk)%lockStripes]
	mu.Lock()
	return mu.Unlock
}

// deleteOp is a transaction step deleting key.
func deleteOp(key string) logical.TxnOp {
	return logical.TxnOp{Key: key, Delete: true}
}
