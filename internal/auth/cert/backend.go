package cert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys and prefixes; see the package comment.
const (
	configKey  = "config"
	certPrefix = "cert/"
	crlPrefix  = "crl/"
)

// maxNameBytes bounds an entry or CRL name.
const maxNameBytes = 256

// backend is one cert auth mount.
type backend struct {
	framework.Backend
	storage logical.Storage
	clock   logical.Clock
	logger  *slog.Logger

	// writeMu serialises read-modify-write of entries and config.
	writeMu sync.Mutex

	certs memo[*trustEntry] // parsed certificate entries by storage key
	crls  memo[serialSet]   // parsed CRLs by storage key
}

// Factory builds a cert auth backend for one mount. env.Storage is
// required; a nil Clock means the system clock and a nil Logger discards.
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("cert: no storage")
	}
	if env.Clock == nil {
		env.Clock = logical.SystemClock{}
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	b := &backend{
		storage: env.Storage,
		clock:   env.Clock,
		logger:  env.Logger,
	}
	b.Paths = []*framework.Path{
		{
			Pattern: `login`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with the TLS client certificate of the connection.",
		},
		{
			Pattern: `certs/?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ListOperation: b.list(certPrefix),
			},
			Synopsis: "List trusted certificate entries.",
		},
		{
			Pattern: `certs/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readCert,
				logical.UpdateOperation: framework.Typed(b.writeCert),
				logical.DeleteOperation: b.remove(certPrefix),
			},
			ExistenceCheck: b.exists(certPrefix),
			Synopsis:       "Create, read, update and delete a trusted certificate entry.",
		},
		{
			Pattern: `crls/?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ListOperation: b.list(crlPrefix),
			},
			Synopsis: "List stored CRLs.",
		},
		{
			Pattern: `crls/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readCRL,
				logical.UpdateOperation: framework.Typed(b.writeCRL),
				logical.DeleteOperation: b.remove(crlPrefix),
			},
			ExistenceCheck: b.exists(crlPrefix),
			Synopsis:       "Write, read and delete a CRL whose revoked serials logins refuse.",
		},
		{
			Pattern: `config`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readConfig,
				logical.UpdateOperation: framework.Typed(b.writeConfig),
			},
			Synopsis: "Read or change the mount's settings.",
		},
	}
	return b, b.Compile()
}

// LoginPaths implements [logical.LoginPaths]: logging in needs no token.
func (b *backend) LoginPaths() []string {
	return []string{"login"}
}

// entryName returns the lowercased, validated name captured from the path.
func entryName(m *framework.Match) (string, error) {
	return checkName(m.Get("name"))
}

// checkName lowercases name and accepts it when it is made of letters,
// digits, "_", "-" and ".", does not start with "." or "-", and is at most
// maxNameBytes long.
func checkName(name string) (string, error) {
	name = toLowerASCII(name)
	ok := name != "" && len(name) <= maxNameBytes && name[0] != '.' && name[0] != '-'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return "", logical.InvalidRequest("invalid name: use letters, digits, \"_\", \"-\" and \".\", not starting with \".\" or \"-\", at most %d bytes", maxNameBytes)
	}
	return name, nil
}

// toLowerASCII lowercases ASCII letters only, so that a name's length and
// validity do not change with Unicode case mapping.
func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func (b *backend) list(prefix string) framework.Handler {
	return func(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
		keys, err := b.storage.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		return framework.ListResponse(keys)
	}
}

func (b *backend) remove(prefix string) framework.Handler {
	return func(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
		name, err := entryName(m)
		if err != nil {
			return nil, err
		}
		b.writeMu.Lock()
		defer b.writeMu.Unlock()
		if err := b.storage.Delete(ctx, prefix+name); err != nil {
			return nil, fmt.Errorf("delete %s%s: %w", prefix, name, err)
		}
		return nil, nil
	}
}

func (b *backend) exists(prefix string) func(context.Context, *logical.Request, *framework.Match) (bool, error) {
	return func(ctx context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
		name, err := entryName(m)
		if err != nil {
			return false, nil
		}
		e, err := b.storage.Get(ctx, prefix+name)
		if err != nil {
			return false, fmt.Errorf("read %s%s: %w", prefix, name, err)
		}
		return e != nil, nil
	}
}

// memo caches values parsed from storage entries. A cached value is used
// only while the stored bytes are unchanged, so it can never be stale.
// It is safe for concurrent use.
type memo[T any] struct {
	mu sync.Mutex
	m  map[string]memoItem[T] // guarded by mu
}

type memoItem[T any] struct {
	raw []byte
	val T
}

// load returns the value parsed from raw, stored at key, calling parse only
// when key's cached bytes differ from raw.
func (c *memo[T]) load(key string, raw []byte, parse func([]byte) (T, error)) (T, error) {
	c.mu.Lock()
	it, ok := c.m[key]
	c.mu.Unlock()
	if ok && bytes.Equal(it.raw, raw) {
		return it.val, nil
	}
	v, err := parse(raw)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]memoItem[T])
	}
	c.m[key] = memoItem[T]{raw: raw, val: v}
	return v, nil
}

// retain drops every cached key not in keep.
func (c *memo[T]) retain(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if !keep[k] {
			delete(c.m, k)
		}
	}
}
