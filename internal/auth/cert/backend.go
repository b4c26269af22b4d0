package cert

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
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

	entries   framework.Collection[certEntry] // locked by writeMu
	storedCRL framework.Collection[storedCRL] // locked by writeMu
}

// Factory builds a cert auth backend for one mount. env.Storage is
// required; a nil Clock means the system clock and a nil Logger discards.
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("cert: no storage")
	}
	env = env.WithDefaults()
	b := &backend{
		storage: env.Storage,
		clock:   env.Clock,
		logger:  env.Logger,
	}
	lock := func(string) sync.Locker { return &b.writeMu }
	b.entries = framework.Collection[certEntry]{Storage: env.Storage, Prefix: certPrefix, Lock: lock}
	b.storedCRL = framework.Collection[storedCRL]{Storage: env.Storage, Prefix: crlPrefix, Lock: lock}
	b.Paths = slices.Concat([]*framework.Path{
		{
			Pattern: `login`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with the TLS client certificate of the connection.",
		},
	}, b.entries.Paths(framework.CollectionPaths[certEntry]{
		Base: "certs", Capture: "name", Name: entryName, Data: (*certEntry).response,
		Write: framework.Typed(b.writeCert), Noun: "trusted certificate entry", ListSynopsis: "List trusted certificate entries.",
	}), b.storedCRL.Paths(framework.CollectionPaths[storedCRL]{
		Base: "crls", Capture: "name", Name: entryName, Data: (*storedCRL).response,
		Write: framework.Typed(b.writeCRL), ListSynopsis: "List stored CRLs.",
		Synopsis: "Write, read and delete a CRL whose revoked serials logins refuse.",
	}), []*framework.Path{
		{
			Pattern: `config`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readConfig,
				logical.UpdateOperation: framework.Typed(b.writeConfig),
			},
			Synopsis: "Read or change the mount's settings.",
		},
	})
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
