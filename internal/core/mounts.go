package core

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

const mountTableKey = "core/mounts"

// reservedMounts are mount points that core serves itself or keeps for
// later built-ins; users cannot mount there or under them.
var reservedMounts = []string{"sys/", "auth/", "cubbyhole/", "identity/", "audit/"}

// MountConfig is a mount's tunable settings.
type MountConfig struct {
	DefaultLeaseTTL time.Duration `json:"default_lease_ttl"`
	MaxLeaseTTL     time.Duration `json:"max_lease_ttl"`
}

// MountEntry is one row of the mount table.
type MountEntry struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	UUID        string            `json:"uuid"`
	Accessor    string            `json:"accessor"`
	Config      MountConfig       `json:"config"`
	Options     map[string]string `json:"options,omitempty"`
	Local       bool              `json:"local"`
	SealWrap    bool              `json:"seal_wrap"`
}

// storagePrefix is where the mount's data lives inside the barrier.
func (m *MountEntry) storagePrefix() string { return "logical/" + m.UUID + "/" }

type mountTable struct {
	Entries []*MountEntry `json:"entries"`
}

// clone returns a deep enough copy to modify one entry safely.
func (t *mountTable) clone() *mountTable {
	out := &mountTable{Entries: make([]*MountEntry, len(t.Entries))}
	for i, e := range t.Entries {
		cp := *e
		cp.Options = maps.Clone(e.Options)
		out.Entries[i] = &cp
	}
	return out
}

func (t *mountTable) find(path string) *MountEntry {
	for _, e := range t.Entries {
		if e.Path == path {
			return e
		}
	}
	return nil
}

func storageEntry(key string, value []byte) *storage.Entry {
	return &storage.Entry{Key: key, Value: value}
}

// initMountTable writes an empty mount table at initialization.
func (c *Core) initMountTable(ctx context.Context) error {
	return c.persistMounts(ctx, &mountTable{})
}

func (c *Core) persistMounts(ctx context.Context, t *mountTable) error {
	buf, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode mount table: %w", err)
	}
	if err := c.barrier.Put(ctx, storageEntry(mountTableKey, buf)); err != nil {
		return fmt.Errorf("write mount table: %w", err)
	}
	return nil
}

// loadMounts reads the mount table and builds every backend.
func (c *Core) loadMounts(ctx context.Context) error {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	e, err := c.barrier.Get(ctx, mountTableKey)
	if err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	t := &mountTable{}
	if e != nil {
		if err := json.Unmarshal(e.Value, t); err != nil {
			return fmt.Errorf("decode mount table: %w", err)
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

// mountSystemView answers TTL questions for one mount.
type mountSystemView struct {
	c *Core
	m MountConfig
}

func (v mountSystemView) DefaultLeaseTTL() time.Duration {
	if v.m.DefaultLeaseTTL > 0 {
		return v.m.DefaultLeaseTTL
	}
	return v.c.opts.DefaultLeaseTTL
}

func (v mountSystemView) MaxLeaseTTL() time.Duration {
	if v.m.MaxLeaseTTL > 0 {
		return v.m.MaxLeaseTTL
	}
	return v.c.opts.MaxLeaseTTL
}

// mountBackend builds m's backend and adds it to the router.
func (c *Core) mountBackend(ctx context.Context, m *MountEntry) error {
	factory, ok := c.opts.Engines[m.Type]
	if !ok {
		return logical.InvalidRequest("unknown secrets engine type %q", m.Type)
	}
	env := logical.Env{
		Storage: router.NewView(c.barrier, m.storagePrefix()),
		Logger:  c.opts.Logger.With("component", "engine", "mount", m.Path, "type", m.Type),
		Clock:   c.clock,
		System:  mountSystemView{c: c, m: m.Config},
		Options: maps.Clone(m.Options),
	}
	be, err := factory(ctx, env)
	if err != nil {
		return err
	}
	if in, ok := be.(logical.Initializer); ok {
		if err := in.Initialize(ctx); err != nil {
			return fmt.Errorf("initialize %s: %w", m.Path, err)
		}
	}
	if !c.router.Mount(&router.Route{Path: m.Path, Type: m.Type, Accessor: m.Accessor, Backend: be}) {
		return logical.InvalidRequest("path is already in use at %s", m.Path)
	}
	return nil
}

// MountInput is a request to enable a secrets engine.
type MountInput struct {
	Path        string
	Type        string
	Description string
	Config      MountConfig
	Options     map[string]string
	Local       bool
	SealWrap    bool
}

// normalizeMountPath turns "secret" or "/secret/" into "secret/" and
// rejects paths that are empty or not clean.
func normalizeMountPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", logical.InvalidRequest("mount path must not be empty")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", logical.InvalidRequest("invalid mount path %q: empty, \".\" or \"..\" segments are not allowed", p)
		}
	}
	if strings.ContainsAny(p, "*+?#%\x00") {
		return "", logical.InvalidRequest("invalid mount path %q: it may not contain *, +, ?, #, %% or NUL", p)
	}
	return p + "/", nil
}

// Mount enables a secrets engine. It changes the mount table completely or
// not at all.
func (c *Core) Mount(ctx context.Context, in MountInput) error {
	path, err := normalizeMountPath(in.Path)
	if err != nil {
		return err
	}
	if err := checkReserved(path); err != nil {
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
		return logical.InvalidRequest("missing secrets engine type")
	}
	if _, ok := c.opts.Engines[typ]; !ok {
		return logical.InvalidRequest("unknown secrets engine type %q", typ)
	}
	if err := c.checkTTLs(in.Config); err != nil {
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
		UUID:        NewUUID(),
		Accessor:    typ + "_" + randomHex(4),
		Config:      in.Config,
		Options:     opts,
		Local:       in.Local,
		SealWrap:    in.SealWrap,
	}
	if err := c.mountBackend(ctx, m); err != nil {
		return err
	}
	t := c.mounts.clone()
	t.Entries = append(t.Entries, m)
	if err := c.persistMounts(ctx, t); err != nil {
		c.router.Unmount(path)
		return err
	}
	c.mounts = t
	c.logger.Info("mounted", "path", path, "type", typ)
	return nil
}

// Unmount disables the engine at path and deletes its data.
func (c *Core) Unmount(ctx context.Context, path string) error {
	path, err := normalizeMountPath(path)
	if err != nil {
		return err
	}
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	if c.mounts == nil {
		return ErrSealed
	}
	m := c.mounts.find(path)
	if m == nil {
		// Vault answers success for a path with nothing mounted.
		return nil
	}
	t := c.mounts.clone()
	t.Entries = slices.DeleteFunc(t.Entries, func(e *MountEntry) bool { return e.Path == path })
	// The table changes first: once it is written the mount is gone even if
	// deleting its data is interrupted, and leftover data is unreachable.
	if err := c.persistMounts(ctx, t); err != nil {
		return err
	}
	c.mounts = t
	if r := c.router.Unmount(path); r != nil {
		if cl, ok := r.Backend.(logical.Cleaner); ok {
			cl.Cleanup(ctx)
		}
	}
	if err := router.Clear(ctx, c.barrier, m.storagePrefix()); err != nil {
		c.logger.Error("delete data of disabled mount", "path", path, "err", err)
	}
	c.logger.Info("unmounted", "path", path)
	return nil
}

func (c *Core) checkTTLs(cfg MountConfig) error {
	if cfg.DefaultLeaseTTL < 0 || cfg.MaxLeaseTTL < 0 {
		return logical.InvalidRequest("lease TTLs must not be negative")
	}
	if cfg.MaxLeaseTTL > c.opts.MaxLeaseTTL {
		return logical.InvalidRequest("max_lease_ttl %s is above the server's maximum %s", cfg.MaxLeaseTTL, c.opts.MaxLeaseTTL)
	}
	maxTTL := cfg.MaxLeaseTTL
	if maxTTL == 0 {
		maxTTL = c.opts.MaxLeaseTTL
	}
	if cfg.DefaultLeaseTTL > maxTTL {
		return logical.InvalidRequest("default_lease_ttl %s is above max_lease_ttl %s", cfg.DefaultLeaseTTL, maxTTL)
	}
	return nil
}

// TuneInput changes a mount's settings; nil fields stay as they are.
type TuneInput struct {
	DefaultLeaseTTL *time.Duration
	MaxLeaseTTL     *time.Duration
	Description     *string
	Options         map[string]string
}

// Tune changes the settings of the mount at path.
func (c *Core) Tune(ctx context.Context, path string, in TuneInput) error {
	path, err := normalizeMountPath(path)
	if err != nil {
		return err
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
	if err := c.checkTTLs(cfg); err != nil {
		return err
	}
	for k, v := range in.Options {
		if k == "version" && v != m.Options["version"] && !(v == "1" && m.Options["version"] == "") {
			return logical.InvalidRequest("changing the version of a mount (%q to %q) is not supported; enable a new mount and copy the data", m.Options["version"], v)
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
	// Backends read TTLs through their SystemView at build time; rebuild the
	// backend so it sees the new settings.
	if r := c.router.Unmount(path); r != nil {
		if cl, ok := r.Backend.(logical.Cleaner); ok {
			cl.Cleanup(ctx)
		}
	}
	return c.mountBackend(ctx, m)
}

// Mounts returns a copy of the mount table, sorted by path.
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

// Remount moves the mount at from to to, keeping its data.
func (c *Core) Remount(ctx context.Context, from, to string) error {
	from, err := normalizeMountPath(from)
	if err != nil {
		return err
	}
	to, err = normalizeMountPath(to)
	if err != nil {
		return err
	}
	if err := checkReserved(to); err != nil {
		return err
	}
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	t, m, err := c.editEntryLocked(from)
	if err != nil {
		return err
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

// checkReserved refuses a mount path that overlaps a reserved one.
func checkReserved(path string) error {
	for _, r := range reservedMounts {
		if strings.HasPrefix(path, r) || strings.HasPrefix(r, path) {
			return logical.InvalidRequest("cannot use mount path %q: %q is reserved", path, r)
		}
	}
	return nil
}

// editEntryLocked returns a copy of the mount table and, in it, the entry
// at path, for a change to be persisted. The caller holds mountMu.
func (c *Core) editEntryLocked(path string) (*mountTable, *MountEntry, error) {
	if c.mounts == nil {
		return nil, nil, ErrSealed
	}
	t := c.mounts.clone()
	m := t.find(path)
	if m == nil {
		return nil, nil, logical.InvalidRequest("no mount at %s", path)
	}
	return t, m, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
