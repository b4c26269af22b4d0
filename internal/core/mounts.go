package core

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/mount"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/sys/passwords"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// MountEntry is one row of the mount table (see package mount).
type MountEntry = mount.Entry

// MountConfig is a mount's tunable settings (see package mount).
type MountConfig = mount.Config

// LockoutConfig is an auth mount's user lockout setting (see package
// mount).
type LockoutConfig = mount.Lockout

func storageEntry(key string, value []byte) *storage.Entry {
	return &storage.Entry{Key: key, Value: value}
}

// initMountTable writes an empty mount table at initialization.
func (c *Core) initMountTable(ctx context.Context) error {
	return c.persistMounts(ctx, &mount.Table{})
}

func (c *Core) persistMounts(ctx context.Context, t *mount.Table) error {
	return mount.Persist(ctx, c.barrier, t)
}

// loadMounts reads the mount table and builds every backend.
func (c *Core) loadMounts(ctx context.Context) error {
	return c.loadMountTable(ctx, true)
}

// loadMountsReadOnly is loadMounts for a standby: built-in mounts missing
// from the table are added in memory only (the active node stores them),
// and a backend whose set-up fails (it would have written) stays
// unmounted, so its requests are forwarded.
func (c *Core) loadMountsReadOnly(ctx context.Context) error {
	return c.loadMountTable(ctx, false)
}

func (c *Core) loadMountTable(ctx context.Context, persist bool) error {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	t, err := mount.Load(ctx, c.barrier)
	if err != nil {
		return err
	}
	if added := mount.EnsureBuiltins(t, uuid.New); added && persist {
		if err := c.persistMounts(ctx, t); err != nil {
			return err
		}
	}
	for _, m := range t.Entries {
		if err := c.mountBackend(ctx, m); err != nil {
			c.logger.Error("mount could not be loaded; it stays unavailable", "path", m.Path, "type", m.Type, "err", err)
		}
	}
	c.mounts = t
	return nil
}

// mountByAccessor finds a mount by its accessor, for the identity store.
func (c *Core) mountByAccessor(accessor string) (path, mountType string, ok bool) {
	for _, m := range c.Mounts() {
		if m.Accessor == accessor {
			return m.Path, m.Type, true
		}
	}
	return "", "", false
}

// unloadMounts cleans up every backend and empties the router.
func (c *Core) unloadMounts(ctx context.Context) {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	for _, r := range c.router.Reset() {
		if cl, ok := r.Backend.(logical.Cleaner); ok {
			cl.Cleanup(ctx)
		}
	}
	c.mounts = nil
}

// systemView is the [logical.SystemView] of a mount with settings cfg.
func (c *Core) systemView(cfg MountConfig) mount.SystemView {
	return mount.SystemView{Config: cfg, ServerDefaultTTL: c.opts.DefaultLeaseTTL, ServerMaxTTL: c.opts.MaxLeaseTTL, Passwords: passwords.New(c.barrier).Generate, DatabasePasswords: c.setDatabasePassword}
}

// observeEvents counts the failures a mount reports through its events
// ("rotation/failed") in the metrics, then passes every event on to next
// (nil: events off).
func (c *Core) observeEvents(mountPath string, next logical.EventSender) logical.EventSender {
	ro, ok := c.opts.Observer.(RotationObserver)
	if !ok {
		return next
	}
	return observedEvents{mount: mountPath, obs: ro, next: next}
}

// observedEvents is the [logical.EventSender] observeEvents returns.
type observedEvents struct {
	mount string
	obs   RotationObserver
	next  logical.EventSender // may be nil
}

// SendEvent implements [logical.EventSender].
func (o observedEvents) SendEvent(ctx context.Context, eventType string, metadata map[string]string) {
	if eventType == "rotation/failed" {
		o.obs.RotationFailure(o.mount)
	}
	if o.next != nil {
		o.next.SendEvent(ctx, eventType, metadata)
	}
}

// setDatabasePassword finds the database engine mounted at mountPath and
// has it set a user's password through one of its connections (KV
// rotation's database rotator).
func (c *Core) setDatabasePassword(ctx context.Context, mountPath, connection, username, password string) error {
	p, err := router.CleanMountPath(mountPath)
	if err != nil {
		return logical.InvalidRequest("invalid database mount path")
	}
	for _, r := range c.router.Routes() {
		if r.Path != p {
			continue
		}
		s, ok := r.Backend.(logical.UserPasswordSetter)
		if !ok || r.Type != "database" {
			return logical.InvalidRequest("the mount at %s is not a database secrets engine", p)
		}
		return s.SetUserPassword(ctx, connection, username, password)
	}
	return logical.InvalidRequest("no database secrets engine is mounted at %s", p)
}

// factory returns the factory for a mount's type, or nil.
func (c *Core) factory(auth bool, typ string) logical.Factory {
	if auth {
		return c.opts.AuthMethods[typ]
	}
	return c.opts.Engines[typ]
}

// mountBackend builds m's backend and adds it to the router.
func (c *Core) mountBackend(ctx context.Context, m *MountEntry) error {
	be, err := c.newBackend(ctx, m)
	if err != nil {
		return err
	}
	if in, ok := be.(logical.Initializer); ok {
		if err := in.Initialize(ctx); err != nil {
			return fmt.Errorf("initialize %s: %w", m.Path, err)
		}
	}
	if !c.router.Mount(&router.Route{Path: m.Path, Type: m.Type, Accessor: m.Accessor, Backend: be,
		AuditNonHMACRequestKeys: m.Config.AuditNonHMACRequestKeys, AuditNonHMACResponseKeys: m.Config.AuditNonHMACResponseKeys}) {
		return logical.InvalidRequest("path is already in use at %s", m.Path)
	}
	return nil
}

// newBackend builds the backend for m: a core built-in or one made by a
// factory.
func (c *Core) newBackend(ctx context.Context, m *MountEntry) (logical.Backend, error) {
	if m.Builtin {
		switch m.Type {
		case "token":
			return c.tokenAPI, nil
		case "identity":
			return c.identity, nil
		}
	}
	factory := c.factory(m.IsAuth(), m.Type)
	if factory == nil {
		return nil, logical.InvalidRequest("unknown type %q", m.Type)
	}
	env := logical.Env{
		Storage: router.NewView(c.barrier, m.StoragePrefix()),
		Logger:  c.opts.Logger.With("component", "engine", "mount", m.Path, "type", m.Type),
		Clock:   c.clock,
		System:  c.systemView(m.Config),
		Options: maps.Clone(m.Options),
		Events:  mountEvents{c: c, accessor: m.Accessor},
		Standby: c.standby(),
		Values:  mountValues{c: c, accessor: m.Accessor},
	}
	env.Events = c.observeEvents(m.Path, env.Events)
	return factory(ctx, env)
}

// MountInput is a request to enable a secrets engine or an auth method.
type MountInput struct {
	// Auth makes the mount an auth method, under auth/.
	Auth        bool
	Path        string
	Type        string
	Description string
	Config      MountConfig
	Options     map[string]string
	Local       bool
	SealWrap    bool
}

// Mount enables a secrets engine. It changes the mount table completely or
// not at all.
func (c *Core) Mount(ctx context.Context, in MountInput) error {
	path, err := mount.Path(in.Auth, in.Path)
	if err != nil {
		return err
	}
	typ := in.Type
	opts := maps.Clone(in.Options)
	if typ == "kv-v2" {
		// Vault's shorthand for a version 2 KV mount.
		typ = "kv"
		if opts == nil {
			opts = map[string]string{}
		}
		opts["version"] = "2"
	}
	if typ == "" {
		return logical.InvalidRequest("missing type")
	}
	if c.factory(in.Auth, typ) == nil || typ == "cubbyhole" {
		if in.Auth {
			return logical.InvalidRequest("unknown auth method type %q", typ)
		}
		return logical.InvalidRequest("unknown secrets engine type %q", typ)
	}
	if err := mount.CheckTTLs(in.Config, c.opts.MaxLeaseTTL); err != nil {
		return err
	}
	cfg := in.Config
	if cfg.AuditNonHMACRequestKeys, err = mount.AuditKeys("audit_non_hmac_request_keys", cfg.AuditNonHMACRequestKeys); err != nil {
		return err
	}
	if cfg.AuditNonHMACResponseKeys, err = mount.AuditKeys("audit_non_hmac_response_keys", cfg.AuditNonHMACResponseKeys); err != nil {
		return err
	}
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	if c.mounts == nil {
		return ErrSealed
	}
	if p := c.router.Conflict(path); p != "" {
		return logical.InvalidRequest("path is already in use at %s", p)
	}
	m := &MountEntry{
		Path:        path,
		Type:        typ,
		Description: in.Description,
		UUID:        uuid.New(),
		Accessor:    mount.Accessor(in.Auth, typ),
		Config:      cfg,
		Options:     opts,
		Local:       in.Local,
		SealWrap:    in.SealWrap,
	}
	if err := c.mountBackend(ctx, m); err != nil {
		return err
	}
	t := c.mounts.Clone()
	t.Entries = append(t.Entries, m)
	if err := c.persistMounts(ctx, t); err != nil {
		c.router.Unmount(path)
		return err
	}
	c.mounts = t
	c.logger.Info("mounted", "path", path, "type", typ)
	return nil
}

// Unmount disables the engine or auth method at path and deletes its data.
func (c *Core) Unmount(ctx context.Context, auth bool, path string) error {
	path, err := router.CleanMountPath(path)
	if err != nil {
		return err
	}
	if auth {
		path = mount.AuthPrefix + path
	}
	if err := mount.CheckProtected(path); err != nil {
		return err
	}
	m, err := c.unmountLocked(ctx, path)
	if err != nil || m == nil {
		return err
	}
	if m.IsAuth() {
		// Tokens issued by the method and its identity aliases go with it.
		// This runs without mountMu: revoking tokens reads the mount table.
		if err := c.tokens.RevokeByMount(ctx, m.Accessor, c.now()); err != nil {
			c.logger.Error("revoke tokens of disabled auth method", "path", path, "err", err)
		}
		if c.identity != nil {
			if err := c.identity.DeleteMountAliases(ctx, m.Accessor); err != nil {
				c.logger.Error("delete identity aliases of disabled auth method", "path", path, "err", err)
			}
		}
	}
	return nil
}

// unmountLocked removes the mount at path from the table and the router
// and deletes its data; it returns the removed entry, or nil when nothing
// was mounted there.
func (c *Core) unmountLocked(ctx context.Context, path string) (*MountEntry, error) {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	if c.mounts == nil {
		return nil, ErrSealed
	}
	m := c.mounts.Find(path)
	if m == nil {
		// Vault answers success for a path with nothing mounted.
		return nil, nil
	}
	if m.Builtin {
		return nil, mount.CheckProtected(path)
	}
	t := c.mounts.Clone()
	t.Entries = slices.DeleteFunc(t.Entries, func(e *MountEntry) bool { return e.Path == path })
	// The table changes first: once it is written the mount is gone even if
	// deleting its data is interrupted, and leftover data is unreachable.
	if err := c.persistMounts(ctx, t); err != nil {
		return nil, err
	}
	c.mounts = t
	if r := c.router.Unmount(path); r != nil {
		if cl, ok := r.Backend.(logical.Cleaner); ok {
			cl.Cleanup(ctx)
		}
	}
	if err := router.Clear(ctx, c.barrier, m.StoragePrefix()); err != nil {
		c.logger.Error("delete data of disabled mount", "path", path, "err", err)
	}
	c.logger.Info("unmounted", "path", path)
	return m, nil
}

// TuneInput changes a mount's settings; nil fields stay as they are.
type TuneInput struct {
	DefaultLeaseTTL *time.Duration
	MaxLeaseTTL     *time.Duration
	Description     *string
	Options         map[string]string
	Lockout         *LockoutConfig
	// AuditNonHMACRequestKeys and AuditNonHMACResponseKeys, when not nil,
	// replace the mount's lists; an empty list or [""] clears one.
	AuditNonHMACRequestKeys, AuditNonHMACResponseKeys []string
}

// Tune changes the settings of the mount at path.
func (c *Core) Tune(ctx context.Context, auth bool, path string, in TuneInput) error {
	path, err := router.CleanMountPath(path)
	if err != nil {
		return err
	}
	if auth {
		path = mount.AuthPrefix + path
	}
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	t, m, err := c.editEntryLocked(path)
	if err != nil {
		return err
	}
	cfg := m.Config
	if in.DefaultLeaseTTL != nil {
		cfg.DefaultLeaseTTL = *in.DefaultLeaseTTL
	}
	if in.MaxLeaseTTL != nil {
		cfg.MaxLeaseTTL = *in.MaxLeaseTTL
	}
	if err := mount.CheckTTLs(cfg, c.opts.MaxLeaseTTL); err != nil {
		return err
	}
	for k, v := range in.Options {
		if k == "version" && v != m.Options["version"] && !(v == "1" && m.Options["version"] == "") {
			return logical.InvalidRequest("changing the version of a mount (%q to %q) is not supported; enable a new mount and copy the data", m.Options["version"], v)
		}
	}
	if in.Lockout != nil {
		if !m.IsAuth() {
			return logical.InvalidRequest("user_lockout_config applies to auth methods only")
		}
		cfg.Lockout = *in.Lockout
	}
	if in.AuditNonHMACRequestKeys != nil {
		if cfg.AuditNonHMACRequestKeys, err = mount.AuditKeys("audit_non_hmac_request_keys", in.AuditNonHMACRequestKeys); err != nil {
			return err
		}
	}
	if in.AuditNonHMACResponseKeys != nil {
		if cfg.AuditNonHMACResponseKeys, err = mount.AuditKeys("audit_non_hmac_response_keys", in.AuditNonHMACResponseKeys); err != nil {
			return err
		}
	}
	m.Config = cfg
	if in.Description != nil {
		m.Description = *in.Description
	}
	if len(in.Options) > 0 {
		if m.Options == nil {
			m.Options = map[string]string{}
		}
		maps.Copy(m.Options, in.Options)
	}
	if err := c.persistMounts(ctx, t); err != nil {
		return err
	}
	c.mounts = t
	if m.Builtin {
		// A built-in keeps its backend; its route is replaced for the
		// audit key lists (routes are never changed in place).
		if r := c.router.Unmount(path); r != nil {
			r2 := *r
			r2.AuditNonHMACRequestKeys, r2.AuditNonHMACResponseKeys = cfg.AuditNonHMACRequestKeys, cfg.AuditNonHMACResponseKeys
			c.router.Mount(&r2)
		}
		return nil
	}
	// Backends read TTLs through their SystemView at build time; rebuild the
	// backend so it sees the new settings.
	if r := c.router.Unmount(path); r != nil {
		if cl, ok := r.Backend.(logical.Cleaner); ok {
			cl.Cleanup(ctx)
		}
	}
	return c.mountBackend(ctx, m)
}

// Mounts returns a copy of the mount table (secrets engines and auth
// methods), sorted by path.
func (c *Core) Mounts() []MountEntry {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	if c.mounts == nil {
		return nil
	}
	out := make([]MountEntry, 0, len(c.mounts.Entries))
	for _, e := range c.mounts.Entries {
		cp := *e
		cp.Options = maps.Clone(e.Options)
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b MountEntry) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// mountAt returns the type and the configuration of the mount at path
// (as shallow a copy as [Core.Mounts] gives), without copying the table:
// logins look their mount up on every request.
func (c *Core) mountAt(path string) (mountType string, cfg MountConfig, ok bool) {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	if c.mounts == nil {
		return "", MountConfig{}, false
	}
	for _, e := range c.mounts.Entries {
		if e.Path == path {
			return e.Type, e.Config, true
		}
	}
	return "", MountConfig{}, false
}

// Remount moves the mount at from to to, keeping its data.
func (c *Core) Remount(ctx context.Context, from, to string) error {
	from, err := router.CleanMountPath(from)
	if err != nil {
		return err
	}
	to, err = router.CleanMountPath(to)
	if err != nil {
		return err
	}
	if err := mount.CheckReserved(to); err != nil {
		return err
	}
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	t, m, err := c.editEntryLocked(from)
	if err != nil {
		return err
	}
	if m.Builtin {
		return logical.InvalidRequest("cannot remount %q", from) // Vault's words
	}
	for _, e := range t.Entries {
		if e.Path != from && (strings.HasPrefix(e.Path, to) || strings.HasPrefix(to, e.Path)) {
			return logical.InvalidRequest("path is already in use at %s", e.Path)
		}
	}
	m.Path = to
	if err := c.persistMounts(ctx, t); err != nil {
		return err
	}
	c.mounts = t
	r := c.router.Unmount(from)
	if r != nil {
		r2 := *r
		r2.Path = to
		c.router.Mount(&r2)
	}
	c.logger.Info("remounted", "from", from, "to", to)
	return nil
}

// editEntryLocked returns a copy of the mount table and, in it, the entry
// at path, for a change to be persisted. The caller holds mountMu.
func (c *Core) editEntryLocked(path string) (*mount.Table, *MountEntry, error) {
	if c.mounts == nil {
		return nil, nil, ErrSealed
	}
	t := c.mounts.Clone()
	m := t.Find(path)
	if m == nil {
		return nil, nil, logical.InvalidRequest("no mount at %s", path)
	}
	return t, m, nil
}
