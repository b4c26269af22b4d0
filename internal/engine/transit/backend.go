package transit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// lockStripes is how many mutexes serialise the writers of keys; writers
// of different keys rarely share one.
const lockStripes = 256

// keyPrefix is where key rings live in the mount's storage.
const keyPrefix = "keys/"

var _ logical.Invalidator = (*backend)(nil)

// backend is one transit mount.
type backend struct {
	framework.Backend
	storage logical.Storage
	clock   logical.Clock
	logger  *slog.Logger

	// cache maps a key name to its loaded *key. An entry is stored or
	// replaced only while the name's stripe of locks is held, after the
	// matching storage write, so it never goes back to an older state.
	cache sync.Map
	seed  maphash.Seed
	locks [lockStripes]sync.Mutex // locks[i] serialises changes to the keys hashing to i
}

// Factory builds a transit backend for one mount. env.Storage is required;
// a nil Clock means the system clock and a nil Logger discards. The
// backend also implements [logical.ExistenceChecker], [logical.Invalidator]
// and [logical.Periodic].
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("transit: no storage")
	}
	b := &backend{storage: env.Storage, clock: env.Clock, logger: env.Logger, seed: maphash.MakeSeed()}
	if b.clock == nil {
		b.clock = logical.SystemClock{}
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	b.Paths = b.paths()
	if err := b.Compile(); err != nil {
		return nil, fmt.Errorf("transit: %w", err)
	}
	return b, nil
}

func (b *backend) paths() []*framework.Path {
	ops := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	keyExists := func(ctx context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
		name := m.Get("name")
		if checkName(name) != nil {
			return false, nil
		}
		k, err := b.key(ctx, name)
		return k != nil, err
	}
	paths := []*framework.Path{
		{
			Pattern:    `keys/?`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.ListOperation: b.listKeys}),
			Synopsis:   "List the named keys.",
		},
		{
			Pattern: `keys/(?P<name>[^/]+)`,
			Operations: ops(map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readKey,
				logical.UpdateOperation: framework.Typed(b.createKey),
				logical.DeleteOperation: b.deleteKey,
			}),
			ExistenceCheck: keyExists,
			Synopsis:       "Create, read and delete a named key.",
		},
		{
			Pattern: `config/keys`,
			Operations: ops(map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readConfigKeys,
				logical.UpdateOperation: framework.Typed(b.writeConfigKeys),
			}),
			Synopsis: "Configure the mount-wide key settings, such as disable_upsert.",
		},
		{
			Pattern:    `keys/(?P<name>[^/]+)/config`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.configKey)}),
			Synopsis:   "Configure a named key.",
		},
		{
			Pattern:    `keys/(?P<name>[^/]+)/rotate`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.rotateKey)}),
			Synopsis:   "Add a new version to a named key.",
		},
		{
			Pattern:    `keys/(?P<name>[^/]+)/trim`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.trimKey)}),
			Synopsis:   "Delete the versions of a key below a minimum.",
		},
		{
			Pattern:    `export/(?P<type>[^/]+)/(?P<name>[^/]+)(?:/(?P<version>[^/]+))?`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.ReadOperation: b.exportKey}),
			Synopsis:   "Export the versions of an exportable key, or public keys.",
		},
		{
			Pattern:    `backup/(?P<name>[^/]+)`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.ReadOperation: b.backupKey}),
			Synopsis:   "Back up a key ring in plaintext.",
		},
		{
			Pattern:    `restore(?:/(?P<name>[^/]+))?`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.restoreKey)}),
			Synopsis:   "Restore a key ring from a backup.",
		},
		{
			Pattern:        `encrypt/(?P<name>[^/]+)`,
			Operations:     ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.encrypt)}),
			ExistenceCheck: keyExists,
			Synopsis:       "Encrypt with a named key, creating it if allowed.",
		},
		{
			Pattern:    `decrypt/(?P<name>[^/]+)`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.decrypt)}),
			Synopsis:   "Decrypt with a named key.",
		},
		{
			Pattern:    `rewrap/(?P<name>[^/]+)`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.rewrap)}),
			Synopsis:   "Re-encrypt ciphertext under a newer key version.",
		},
		{
			Pattern:    `datakey/(?P<kind>plaintext|wrapped)/(?P<name>[^/]+)`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.datakey)}),
			Synopsis:   "Generate a data key encrypted with a named key.",
		},
		{
			Pattern:    `hmac/(?P<name>[^/]+)(?:/(?P<algorithm>[^/]+))?`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.hmac)}),
			Synopsis:   "Compute an HMAC with a named key.",
		},
		{
			Pattern:    `sign/(?P<name>[^/]+)(?:/(?P<algorithm>[^/]+))?`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.sign)}),
			Synopsis:   "Sign data with a named key.",
		},
		{
			Pattern:    `verify/(?P<name>[^/]+)(?:/(?P<algorithm>[^/]+))?`,
			Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(b.verify)}),
			Synopsis:   "Verify a signature or an HMAC with a named key.",
		},
	}
	// random and hash are Vault's utilities, the same as sys/tools serves.
	return append(paths, framework.ToolPaths("")...)
}

// maxNameLen is the longest key name accepted.
const maxNameLen = 128

// checkName refuses a key name that is not up to maxNameLen ASCII
// letters, digits, "_", "-", "." or "@" starting with a letter, digit or
// "_". Names become storage keys, so nothing path-like gets through.
func checkName(name string) error {
	ok := name != "" && len(name) <= maxNameLen && name[0] != '-' && name[0] != '.' && name[0] != '@'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == '@'
	}
	if !ok {
		return logical.InvalidRequest("invalid key name: use up to 128 letters, digits, \"_\", \"-\", \".\" or \"@\"")
	}
	return nil
}

// lock takes the writer lock for the key name and returns its unlock.
func (b *backend) lock(name string) func() {
	mu := &b.locks[maphash.String(b.seed, name)%lockStripes]
	mu.Lock()
	return mu.Unlock
}

// key returns the named key from the cache, loading it from storage on a
// miss. It returns (nil, nil) when there is no such key.
func (b *backend) key(ctx context.Context, name string) (*key, error) {
	if k, ok := b.cache.Load(name); ok {
		return k.(*key), nil
	}
	unlock := b.lock(name)
	defer unlock()
	return b.keyLocked(ctx, name)
}

// keyLocked is key for a caller holding name's lock.
func (b *backend) keyLocked(ctx context.Context, name string) (*key, error) {
	if k, ok := b.cache.Load(name); ok {
		return k.(*key), nil
	}
	e, err := b.storage.Get(ctx, keyPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("read key %q: %w", name, err)
	}
	if e == nil {
		return nil, nil
	}
	var r ring
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return nil, fmt.Errorf("decode key %q: %w", name, err)
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("stored key %q: %w", name, err)
	}
	k, err := newKey(&r, nil)
	if err != nil {
		return nil, fmt.Errorf("load key %q: %w", name, err)
	}
	b.cache.Store(name, k)
	return k, nil
}

// The words of the error for an operation on a key that does not exist;
// they are Vault's exact messages, which some clients compare whole.
const (
	errEncryptionKeyNotFound   = "encryption key not found"
	errSigningKeyNotFound      = "signing key not found"
	errVerificationKeyNotFound = "signature verification key not found"
)

// mustKey is key for the operations on an existing key: a missing one is
// an ErrInvalidRequest error with the message missing, as in Vault (one
// of the errXxxNotFound constants).
func (b *backend) mustKey(ctx context.Context, name, missing string) (*key, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	k, err := b.key(ctx, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, logical.InvalidRequest("%s", missing)
	}
	return k, nil
}

// errUnchanged tells update that the change function left the ring as it
// was, so nothing is written.
var errUnchanged = errors.New("unchanged")

// update applies change to a copy of the named key's ring under the key's
// lock, stores the result with one write and replaces the cached key. It
// returns the new key, or the unchanged one when change returns
// errUnchanged. A missing key is an ErrInvalidRequest error saying "key not
// found", as Vault answers a rotation of a missing key.
func (b *backend) update(ctx context.Context, name string, change func(r *ring) error) (*key, error) {
	unlock := b.lock(name)
	defer unlock()
	old, err := b.keyLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, logical.InvalidRequest("key not found: %q", name)
	}
	r := old.ring.clone()
	if err := change(r); err != nil {
		if errors.Is(err, errUnchanged) {
			return old, nil
		}
		return nil, err
	}
	return b.storeLocked(ctx, r, old)
}

// storeLocked writes r and caches it; prev is the key it replaces (or
// nil), whose prepared versions are reused. The caller holds r.Name's lock.
func (b *backend) storeLocked(ctx context.Context, r *ring, prev *key) (*key, error) {
	k, err := newKey(r, prev)
	if err != nil {
		return nil, fmt.Errorf("prepare key %q: %w", r.Name, err)
	}
	buf, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode key %q: %w", r.Name, err)
	}
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: keyPrefix + r.Name, Value: buf}); err != nil {
		// The write may or may not have happened: forget the cached
		// state so the next use reads storage again.
		b.cache.Delete(r.Name)
		return nil, fmt.Errorf("store key %q: %w", r.Name, err)
	}
	b.cache.Store(r.Name, k)
	return k, nil
}

// Invalidate implements [logical.Invalidator]: when key is a stored key
// ring that another node changed, the cached copy is dropped, so the next
// use reads the new version (a rotation, a changed minimum version or a
// deleted key). It takes the key's lock, so a load that raced with the
// change cannot put the old ring back afterwards.
func (b *backend) Invalidate(_ context.Context, key string) {
	name, ok := strings.CutPrefix(key, keyPrefix)
	if !ok || name == "" {
		return
	}
	unlock := b.lock(name)
	defer unlock()
	b.cache.Delete(name)
}

// Periodic implements [logical.Periodic]: it rotates every key whose
// auto_rotate_period has passed since its last rotation. The time of the
// last rotation is stored with the key, so the schedule survives restarts.
func (b *backend) Periodic(ctx context.Context) error {
	names, err := b.storage.List(ctx, keyPrefix)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	var errs []error
	for _, name := range names {
		if checkName(name) != nil {
			continue
		}
		k, err := b.key(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if k == nil || !rotationDue(k.ring, b.clock) {
			continue
		}
		_, err = b.update(ctx, name, func(r *ring) error {
			if !rotationDue(r, b.clock) {
				return errUnchanged
			}
			return r.rotate(b.clock.Now())
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("auto-rotate key %q: %w", name, err))
			continue
		}
		b.logger.Info("rotated key", "key", name)
	}
	return errors.Join(errs...)
}

func rotationDue(r *ring, c logical.Clock) bool {
	return r.AutoRotatePeriod > 0 && !c.Now().Before(r.LastRotated.Add(r.AutoRotatePeriod))
}

// decodeB64 decodes a base64 request field, naming it in the error
// without quoting it.
func decodeB64(field, s string) ([]byte, error) {
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, logical.InvalidRequest("invalid %q: not base64", field)
	}
	return out, nil
}
