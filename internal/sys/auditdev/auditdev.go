// Package auditdev keeps the table of enabled audit devices and serves
// its sys/ endpoints: sys/audit (list, enable, disable), a device's
// checkpoint public key and live chain head, and sys/audit-hash.
//
// Devices come from the configuration file (enabled at every unseal, not
// removable through the API) and from the API (stored behind the barrier
// at [TableKey]). Each device's HMAC and signing keys and its chain state
// are stored beside the table.
//
// Every node of a cluster opens the same devices: the active node with
// [Table.Load], a standby with [Table.LoadStandby] and, after a change
// notice for the table, [Table.SyncStandby]. A standby only reads: it uses
// the keys the active node made, and keeps its chain states in memory
// (a file device resumes its chain from its own file's last line). A file
// path may hold {{node_id}} ([audit.NodeIDPlaceholder]), so that each
// node writes its own file. The request pipeline writes entries through
// the broker, which core owns; this package only registers and removes
// devices in it, through the [Broker] interface it declares. It imports no
// core package. A [Table] is safe for concurrent use.
package auditdev

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Storage keys of the audit devices' state, behind the barrier.
const (
	// TableKey holds the devices enabled through the API.
	TableKey    = "core/audit"
	keysPrefix  = "core/audit-keys/"
	statePrefix = "core/audit-state/"
)

// DeviceConfig is an audit device declared in the server's configuration
// file: enabled at every unseal, not removable through the API.
type DeviceConfig struct {
	Path        string
	Type        string
	Description string
	Options     map[string]string
}

// Broker is the part of core's [audit.Broker] the table uses: the devices
// requests are written to.
type Broker interface {
	Register(d *audit.Device) error
	Deregister(ctx context.Context, path string) (bool, error)
	Device(path string) (*audit.Device, bool)
	Devices() []*audit.Device
}

// Options configures a [Table].
type Options struct {
	// Storage is the barrier: device keys and chain state are secrets.
	Storage storage.Storage
	// Broker receives the opened devices.
	Broker Broker
	// Devices are declared in the configuration file.
	Devices []DeviceConfig
	// AllowedDirs are where API-enabled audit files may be written.
	AllowedDirs []string
	// AnyDir lets the API enable audit files anywhere (dev mode).
	AnyDir bool
	// Clock stamps the devices' checkpoints.
	Clock logical.Clock
	// Logger is the server's logger; the table scopes it.
	Logger *slog.Logger
	// NodeID names this node of a cluster: written in every line, put in
	// place of {{node_id}} in file paths, and part of the key under which
	// the node keeps its devices' chain states. Empty on a single server.
	NodeID string
}

// entry is one audit device in the table.
type entry struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
	Local       bool              `json:"local"`
	// FromConfig marks devices from the configuration file (not stored).
	FromConfig bool `json:"-"`
}

// storedKeys is how a device's keys are stored.
type storedKeys struct {
	HMAC    []byte `json:"hmac"`
	Signing []byte `json:"signing_seed"`
}

// Table is the table of enabled audit devices. It is empty until [Table.Load]
// and after [Table.Unload].
type Table struct {
	opts   Options
	logger *slog.Logger

	mu       sync.Mutex // serializes changes to the table and its devices
	entries  []*entry   // guarded by mu
	readOnly bool       // the devices were loaded on a standby; guarded by mu
	// local keeps each closed device's chain state in memory, so that a
	// device reopened by this process (a standby's reload, a role change)
	// continues its chain even where the state could not be stored;
	// guarded by mu.
	local map[string]audit.ChainState

	trailBusy map[string]bool // devices running a verify or search; guarded by mu
}

// New returns an empty table. It does no I/O.
func New(opts Options) *Table {
	return &Table{opts: opts, logger: opts.Logger.With("component", "audit")}
}

// cleanPath turns "file" into "file/".
func cleanPath(p string) (string, error) {
	p, err := router.CleanMountPath(p)
	if err != nil {
		return "", err
	}
	if strings.Count(p, "/") > 1 {
		return "", logical.InvalidRequest("invalid audit device path %q: use a single name", p)
	}
	return p, nil
}

// stateKey is where this node stores the chain state of the device at
// path: each node of a cluster has its own chain.
func (t *Table) stateKey(path string) string {
	k := statePrefix + strings.TrimSuffix(path, "/")
	if t.opts.NodeID != "" {
		k += "/node/" + t.opts.NodeID
	}
	return k
}

// deviceKeys loads the device's keys, making them on first use unless
// readOnly (a standby uses the keys the active node made).
func (t *Table) deviceKeys(ctx context.Context, path string, readOnly bool) (audit.Keys, error) {
	key := keysPrefix + strings.TrimSuffix(path, "/")
	e, err := t.opts.Storage.Get(ctx, key)
	if err != nil {
		return audit.Keys{}, err
	}
	if e != nil {
		var k storedKeys
		if err := json.Unmarshal(e.Value, &k); err != nil || len(k.Signing) != ed25519.SeedSize {
			return audit.Keys{}, fmt.Errorf("decode audit keys of %s", path)
		}
		return audit.Keys{HMAC: k.HMAC, Signing: ed25519.NewKeyFromSeed(k.Signing)}, nil
	}
	if readOnly {
		return audit.Keys{}, fmt.Errorf("the keys of audit device %s are not stored yet: the active node makes them", path)
	}
	k, err := audit.GenerateKeys()
	if err != nil {
		return audit.Keys{}, err
	}
	buf, _ := json.Marshal(storedKeys{HMAC: k.HMAC, Signing: k.Signing.Seed()})
	if err := t.opts.Storage.Put(ctx, &storage.Entry{Key: key, Value: buf}); err != nil {
		return audit.Keys{}, fmt.Errorf("store audit keys: %w", err)
	}
	return k, nil
}

// open builds and registers the device for e; readOnly opens it for a
// standby, which writes nothing to storage. The caller holds mu.
func (t *Table) open(ctx context.Context, e *entry, readOnly bool) error {
	cfg, err := audit.ParseConfig(e.Type, e.Options)
	if err != nil {
		return err
	}
	if e.FromConfig || t.opts.AnyDir {
		cfg.File.AllowAnyDir = true
	} else {
		cfg.File.AllowedDirs = t.opts.AllowedDirs
		if cfg.Type == "file" && len(cfg.File.AllowedDirs) == 0 && cfg.File.Path != "stdout" && cfg.File.Path != "discard" {
			return logical.InvalidRequest("audit files cannot be enabled through the API on this server: list allowed directories in audit_allowed_dirs, or declare the device in the configuration file")
		}
	}
	keys, err := t.deviceKeys(ctx, e.Path, readOnly)
	if err != nil {
		return err
	}
	resume, ok := t.local[e.Path]
	if !ok {
		se, err := t.opts.Storage.Get(ctx, t.stateKey(e.Path))
		if err == nil && se == nil && t.opts.NodeID != "" {
			// Written before chains were kept per node: the chain of a
			// server upgraded to a cluster node goes on.
			se, err = t.opts.Storage.Get(ctx, statePrefix+strings.TrimSuffix(e.Path, "/"))
		}
		if err == nil && se != nil {
			json.Unmarshal(se.Value, &resume)
		}
	}
	d, err := audit.Open(cfg, audit.OpenParams{Path: e.Path, Keys: keys, Resume: resume, Clock: t.opts.Clock, Logger: t.logger.With("device", e.Path), NodeID: t.opts.NodeID})
	if err != nil {
		return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "cannot open audit device " + e.Path + ": " + err.Error(), Err: err}
	}
	if err := t.opts.Broker.Register(d); err != nil {
		d.Close(ctx)
		return logical.InvalidRequest("%s", err.Error())
	}
	return nil
}

// wanted reads the devices this node must have open: the stored table
// with the configured devices in place of stored ones at the same path.
func (t *Table) wanted(ctx context.Context) ([]*entry, error) {
	var table []*entry
	e, err := t.opts.Storage.Get(ctx, TableKey)
	if err != nil {
		return nil, fmt.Errorf("read audit table: %w", err)
	}
	if e != nil {
		if err := json.Unmarshal(e.Value, &table); err != nil {
			return nil, fmt.Errorf("decode audit table: %w", err)
		}
	}
	for _, d := range t.opts.Devices {
		path, err := cleanPath(d.Path)
		if err != nil {
			return nil, err
		}
		table = slices.DeleteFunc(table, func(x *entry) bool { return x.Path == path })
		table = append(table, &entry{Path: path, Type: d.Type, Description: d.Description, Options: d.Options, FromConfig: true})
	}
	return table, nil
}

// Declared reports whether the configuration or the stored table names
// any device this node must have open. An error means it could not tell.
func (t *Table) Declared(ctx context.Context) (bool, error) {
	table, err := t.wanted(ctx)
	return len(table) > 0, err
}

// Load opens the configured devices and those enabled through the API. A
// device that cannot be opened is an error: serving requests without the
// audit trail an operator asked for would fail open, so the unseal stops.
func (t *Table) Load(ctx context.Context) error {
	return t.load(ctx, false)
}

// LoadStandby opens the same devices as [Table.Load] on a standby, writing
// nothing to storage: the devices' keys must already be stored (the active
// node makes them). When a device cannot be opened, none stays open and
// the error is returned: the standby must then refuse what it would have
// audited.
func (t *Table) LoadStandby(ctx context.Context) error {
	return t.load(ctx, true)
}

func (t *Table) load(ctx context.Context, readOnly bool) error {
	table, err := t.wanted(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.readOnly = readOnly
	for _, d := range table {
		if err := t.open(ctx, d, readOnly); err != nil {
			if readOnly {
				t.closeAllLocked(ctx)
			}
			return fmt.Errorf("enable audit device %s: %w", d.Path, err)
		}
	}
	t.entries = table
	return nil
}

// SyncStandby brings a standby's open devices in line with the stored
// table after a change notice: it closes the devices no longer there (or
// changed) and opens the new ones, writing nothing to storage. On an error
// the devices that could be opened stay open and the error is returned.
func (t *Table) SyncStandby(ctx context.Context) error {
	table, err := t.wanted(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.readOnly = true
	var kept []*entry
	for _, e := range t.entries {
		i := slices.IndexFunc(table, func(x *entry) bool { return x.Path == e.Path })
		if i >= 0 && table[i].Type == e.Type && maps.Equal(table[i].Options, e.Options) {
			kept = append(kept, e)
			continue
		}
		t.closeLocked(ctx, e.Path)
	}
	var errs []error
	for _, e := range table {
		if slices.ContainsFunc(kept, func(x *entry) bool { return x.Path == e.Path }) {
			continue
		}
		if _, ok := t.opts.Broker.Device(e.Path); ok {
			// Opened by an earlier sync whose table failed part way.
			kept = append(kept, e)
			continue
		}
		if err := t.open(ctx, e, true); err != nil {
			errs = append(errs, fmt.Errorf("enable audit device %s: %w", e.Path, err))
			continue
		}
		kept = append(kept, e)
	}
	t.entries = kept
	return errors.Join(errs...)
}

// closeLocked closes the device at path, keeping its chain state in memory
// and, on the active node, in storage. The caller holds mu.
func (t *Table) closeLocked(ctx context.Context, path string) {
	d, ok := t.opts.Broker.Device(path)
	if !ok {
		return
	}
	// Closing writes the final checkpoint: the state to keep is the one
	// after it.
	if _, err := t.opts.Broker.Deregister(ctx, path); err != nil {
		t.logger.Error("close audit device", "device", path, "err", err)
	}
	st, err := d.State(ctx)
	if err != nil {
		return
	}
	if t.local == nil {
		t.local = map[string]audit.ChainState{}
	}
	t.local[path] = st
	if t.readOnly {
		return
	}
	buf, _ := json.Marshal(st)
	if err := t.opts.Storage.Put(ctx, &storage.Entry{Key: t.stateKey(path), Value: buf}); err != nil {
		t.logger.Error("save audit chain state", "device", path, "err", err)
	}
}

// closeAllLocked closes every device. The caller holds mu.
func (t *Table) closeAllLocked(ctx context.Context) {
	for _, d := range t.opts.Broker.Devices() {
		t.closeLocked(ctx, d.Path())
	}
	t.entries = nil
}

// Unload checkpoints and closes every device, keeping each chain's state
// for the next [Table.Load] (in storage only on the active node).
func (t *Table) Unload(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeAllLocked(ctx)
}

// persist stores the API-enabled devices of table.
func (t *Table) persist(ctx context.Context, table []*entry) error {
	var stored []*entry
	for _, e := range table {
		if !e.FromConfig {
			stored = append(stored, e)
		}
	}
	buf, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	return t.opts.Storage.Put(ctx, &storage.Entry{Key: TableKey, Value: buf})
}
