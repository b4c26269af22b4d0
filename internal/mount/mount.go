// Package mount is the mount table as it is stored and the rules for it:
// the rows (secrets engines and auth methods), the built-in mounts every
// server has, how a user-given path becomes a router path, which paths
// are reserved or protected, how TTL settings are checked, and how the
// table is read from and written to the barrier.
//
// It holds no state and takes no locks: core owns the live table,
// serializes changes to it and mounts the backends into the router.
package mount

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// TableKey is where the mount table is stored inside the barrier.
const TableKey = "core/mounts"

// AuthPrefix starts the router path of every auth method mount.
const AuthPrefix = "auth/"

// reserved are mount points that core serves itself or keeps for later
// built-ins; users cannot mount there or under them.
func reserved() []string {
	return []string{"sys/", "auth/", "cubbyhole/", "identity/", "audit/"}
}

// Lockout is an auth mount's user lockout setting (Vault's
// user_lockout_config). Zero values mean the defaults.
type Lockout struct {
	// Threshold is how many failed logins lock an alias out (default 5).
	Threshold int `json:"lockout_threshold,omitempty"`
	// Duration is how long a lockout lasts (default 15m).
	Duration time.Duration `json:"lockout_duration,omitempty"`
	// CounterReset is the window failures are counted in (default 15m).
	CounterReset time.Duration `json:"lockout_counter_reset,omitempty"`
	// Disable turns lockout off for the mount.
	Disable bool `json:"lockout_disable,omitempty"`
}

// WithDefaults returns l with the defaults in place of its zero fields.
func (l Lockout) WithDefaults() Lockout {
	if l.Threshold <= 0 {
		l.Threshold = 5
	}
	if l.Duration <= 0 {
		l.Duration = 15 * time.Minute
	}
	if l.CounterReset <= 0 {
		l.CounterReset = 15 * time.Minute
	}
	return l
}

// Over returns l with the fields o sets (non-zero) taking their place.
func (l Lockout) Over(o Lockout) Lockout {
	if o.Threshold > 0 {
		l.Threshold = o.Threshold
	}
	if o.Duration > 0 {
		l.Duration = o.Duration
	}
	if o.CounterReset > 0 {
		l.CounterReset = o.CounterReset
	}
	if o.Disable {
		l.Disable = true
	}
	return l
}

// Config is a mount's tunable settings.
type Config struct {
	DefaultLeaseTTL time.Duration `json:"default_lease_ttl"`
	MaxLeaseTTL     time.Duration `json:"max_lease_ttl"`
	// Lockout configures locking out an alias after failed logins; auth
	// mounts only.
	Lockout Lockout `json:"user_lockout_config,omitzero"`
	// AuditNonHMACRequestKeys are the top-level request body keys audit
	// devices record in clear for requests to the mount.
	AuditNonHMACRequestKeys []string `json:"audit_non_hmac_request_keys,omitempty"`
	// AuditNonHMACResponseKeys are the top-level response data keys
	// audit devices record in clear for requests to the mount.
	AuditNonHMACResponseKeys []string `json:"audit_non_hmac_response_keys,omitempty"`
}

// Entry is one row of the mount table. Secrets engines and auth
// methods share the table; an auth method's Path starts with "auth/".
type Entry struct {
	// Path is the router path with a trailing slash: "secret/", or
	// "auth/approle/" for an auth method.
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	UUID        string            `json:"uuid"`
	Accessor    string            `json:"accessor"`
	Config      Config            `json:"config"`
	Options     map[string]string `json:"options,omitempty"`
	Local       bool              `json:"local"`
	SealWrap    bool              `json:"seal_wrap"`
	// Builtin marks the mounts core makes itself (token/, cubbyhole/,
	// identity/): they cannot be disabled or moved.
	Builtin bool `json:"builtin,omitempty"`
}

// IsAuth reports whether m is an auth method mount.
func (m *Entry) IsAuth() bool { return strings.HasPrefix(m.Path, AuthPrefix) }

// StoragePrefix is where the mount's data lives inside the barrier.
func (m *Entry) StoragePrefix() string {
	if m.IsAuth() {
		return "auth/" + m.UUID + "/"
	}
	return "logical/" + m.UUID + "/"
}

// Table is the mount table as stored.
type Table struct {
	Entries []*Entry `json:"entries"`
}

// Clone returns a deep enough copy to modify one entry safely.
func (t *Table) Clone() *Table {
	out := &Table{Entries: make([]*Entry, len(t.Entries))}
	for i, e := range t.Entries {
		cp := *e
		cp.Options = maps.Clone(e.Options)
		out.Entries[i] = &cp
	}
	return out
}

// Find returns the entry at router path path, or nil.
func (t *Table) Find(path string) *Entry {
	for _, e := range t.Entries {
		if e.Path == path {
			return e
		}
	}
	return nil
}

// Persist writes t to s at [TableKey].
func Persist(ctx context.Context, s storage.Storage, t *Table) error {
	buf, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode mount table: %w", err)
	}
	if err := s.Put(ctx, &storage.Entry{Key: TableKey, Value: buf}); err != nil {
		return fmt.Errorf("write mount table: %w", err)
	}
	return nil
}

// Load reads the mount table from s; an absent table is an empty one.
func Load(ctx context.Context, s storage.Storage) (*Table, error) {
	e, err := s.Get(ctx, TableKey)
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	t := &Table{}
	if e != nil {
		if err := json.Unmarshal(e.Value, t); err != nil {
			return nil, fmt.Errorf("decode mount table: %w", err)
		}
	}
	return t, nil
}

// builtins are the mounts every server has; [EnsureBuiltins] adds any
// that are missing when the mount table is loaded.
func builtins() []Entry {
	return []Entry{
		{Path: "cubbyhole/", Type: "cubbyhole", Description: "per-token private secret storage"},
		{Path: "identity/", Type: "identity", Description: "identity store"},
		{Path: "auth/token/", Type: "token", Description: "token based credentials"},
	}
}

// EnsureBuiltins adds the missing built-in mounts to t, each with a UUID
// from newID, and reports whether it added any.
func EnsureBuiltins(t *Table, newID func() string) bool {
	added := false
	for _, b := range builtins() {
		if t.Find(b.Path) != nil {
			continue
		}
		m := b
		m.Builtin = true
		m.UUID = newID()
		m.Accessor = Accessor(m.IsAuth(), m.Type)
		t.Entries = append(t.Entries, &m)
		added = true
	}
	return added
}

// Accessor makes a mount accessor, e.g. "kv_1a2b3c4d" or
// "auth_approle_1a2b3c4d".
func Accessor(auth bool, typ string) string {
	if auth {
		return "auth_" + typ + "_" + randomHex(4)
	}
	return typ + "_" + randomHex(4)
}

// Path normalizes a user-given mount path and returns the router path:
// "secret/" or "auth/approle/". Reserved paths are refused.
func Path(auth bool, p string) (string, error) {
	path, err := router.CleanMountPath(p)
	if err != nil {
		return "", err
	}
	if auth {
		if path == "token/" {
			return "", logical.InvalidRequest("cannot use auth path %q: it is reserved for the token store", path)
		}
		return AuthPrefix + path, nil
	}
	if err := CheckReserved(path); err != nil {
		return "", err
	}
	return path, nil
}

// CheckTTLs refuses a mount's TTL settings whose default lease TTL is
// above its max lease TTL (the mount's own, or serverMax, the server's,
// when the mount has none), with Vault's words.
func CheckTTLs(cfg Config, serverMax time.Duration) error {
	if cfg.DefaultLeaseTTL < 0 || cfg.MaxLeaseTTL < 0 {
		return logical.InvalidRequest("lease TTLs must not be negative")
	}
	// A mount may allow longer leases than the server's default maximum,
	// as Vault's PKI set-ups do with tune -max-lease-ttl=87600h.
	if cfg.MaxLeaseTTL == 0 {
		if cfg.DefaultLeaseTTL > serverMax {
			return logical.InvalidRequest("given default lease TTL of %d greater than system max lease TTL of %d", int64(cfg.DefaultLeaseTTL/time.Second), int64(serverMax/time.Second))
		}
		return nil
	}
	if cfg.DefaultLeaseTTL > cfg.MaxLeaseTTL {
		return logical.InvalidRequest("backend max lease TTL of %d would be less than backend default lease TTL of %d", int64(cfg.MaxLeaseTTL/time.Second), int64(cfg.DefaultLeaseTTL/time.Second))
	}
	return nil
}

// MaxAuditKeys and MaxAuditKeyLen bound a mount's
// audit_non_hmac_request_keys and audit_non_hmac_response_keys lists.
const (
	MaxAuditKeys   = 64
	MaxAuditKeyLen = 256
)

// AuditKeys checks a mount's audit_non_hmac_request_keys or
// audit_non_hmac_response_keys list (field names it in the error) and
// returns the list to store: nil for an empty list or Vault's [""],
// which clears it; duplicates are dropped.
func AuditKeys(field string, keys []string) ([]string, error) {
	if len(keys) == 0 || len(keys) == 1 && keys[0] == "" {
		return nil, nil
	}
	if len(keys) > MaxAuditKeys {
		return nil, logical.InvalidRequest("%s: at most %d keys may be given, not %d", field, MaxAuditKeys, len(keys))
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		switch {
		case k == "":
			return nil, logical.InvalidRequest("%s: keys must not be empty", field)
		case len(k) > MaxAuditKeyLen:
			return nil, logical.InvalidRequest("%s: a key is %d bytes long, at most %d are allowed", field, len(k), MaxAuditKeyLen)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// CheckProtected refuses to disable a mount core serves itself (sys/,
// the built-in mounts), with Vault's words.
func CheckProtected(path string) error {
	if path == AuthPrefix+"token/" {
		return logical.InvalidRequest("token credential backend cannot be disabled")
	}
	if path == "sys/" || slices.ContainsFunc(builtins(), func(b Entry) bool { return b.Path == path }) {
		return logical.InvalidRequest("cannot unmount %q", path)
	}
	return nil
}

// CheckReserved refuses a mount path that overlaps a reserved one.
func CheckReserved(path string) error {
	for _, r := range reserved() {
		if strings.HasPrefix(path, r) || strings.HasPrefix(r, path) {
			return logical.InvalidRequest("cannot use mount path %q: %q is reserved", path, r)
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// SystemView answers a mounted backend's questions about its TTLs and
// makes its passwords; it is the backend's [logical.SystemView].
type SystemView struct {
	// Config is the mount's settings; a zero TTL means the server's.
	Config Config
	// ServerDefaultTTL and ServerMaxTTL are the server-wide TTL settings.
	ServerDefaultTTL, ServerMaxTTL time.Duration
	// Passwords makes a password with a password policy.
	Passwords func(ctx context.Context, policy string) (string, error)
	// DatabasePasswords, when set, sets a database user's password
	// through a database engine mount (see
	// [logical.DatabasePasswordSetter]).
	DatabasePasswords func(ctx context.Context, mountPath, connection, username, password string) error
}

// SetDatabasePassword implements [logical.DatabasePasswordSetter].
func (v SystemView) SetDatabasePassword(ctx context.Context, mountPath, connection, username, password string) error {
	if v.DatabasePasswords == nil {
		return logical.InvalidRequest("this server cannot reach database mounts from here")
	}
	return v.DatabasePasswords(ctx, mountPath, connection, username, password)
}

// DefaultLeaseTTL is the mount's default lease TTL, or else the server's.
func (v SystemView) DefaultLeaseTTL() time.Duration {
	if v.Config.DefaultLeaseTTL > 0 {
		return v.Config.DefaultLeaseTTL
	}
	return v.ServerDefaultTTL
}

// MaxLeaseTTL is the mount's max lease TTL, or else the server's.
func (v SystemView) MaxLeaseTTL() time.Duration {
	if v.Config.MaxLeaseTTL > 0 {
		return v.Config.MaxLeaseTTL
	}
	return v.ServerMaxTTL
}

// GeneratePassword makes a password with a password policy.
func (v SystemView) GeneratePassword(ctx context.Context, policy string) (string, error) {
	return v.Passwords(ctx, policy)
}
