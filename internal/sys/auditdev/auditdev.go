// Package auditdev keeps the table of enabled audit devices and serves
// its sys/ endpoints: sys/audit (list, enable, disable), a device's
// checkpoint public key and live chain head, and sys/audit-hash.
//
// Devices come from the configuration file (enabled at every unseal, not
// removable through the API) and from the API (stored behind the barrier
// at [TableKey]). Each device's HMAC and signing keys and its chain state
// are stored beside the table. The request pipeline writes entries through
// the broker, which core owns; this package only registers and removes
// devices in it, through the [Broker] interface it declares. It imports no
// core package. A [Table] is safe for concurrent use.
package auditdev

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
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

	mu      sync.Mutex // serializes changes to the table and its devices
	entries []*entry   // guarded by mu

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

// deviceKeys loads the device's keys, making them on first use.
func (t *Table) deviceKeys(ctx context.Context, path string) (audit.Keys, error) {
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

// open builds and registers the device for e.
func (t *Table) open(ctx context.Context, e *entry) error {
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
	keys, err := t.deviceKeys(ctx, e.Path)
	if err != nil {
		return err
	}
	var resume audit.ChainState
	if se, err := t.opts.Storage.Get(ctx, statePrefix+strings.TrimSuffix(e.Path, "/")); err == nil && se != nil {
		json.Unmarshal(se.Value, &resume)
	}
	d, err := audit.Open(cfg, audit.OpenParams{Path: e.Path, Keys: keys, Resume: resume, Clock: t.opts.Clock, Logger: t.logger.With("device", e.Path)})
	if err != nil {
		return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "cannot open audit device " + e.Path + ": " + err.Error(), Err: err}
	}
	if err := t.opts.Broker.Register(d); err != nil {
		d.Close(ctx)
		return logical.InvalidRequest("%s", err.Error())
	}
	return nil
}

// Load opens the configured devices and those enabled through the API. A
// device that cannot be opened is an error: serving requests without the
// audit trail an operator asked for would fail open, so the unseal stops.
func (t *Table) Load(ctx context.Context) error {
	var table []*entry
	e, err := t.opts.Storage.Get(ctx, TableKey)
	if err != nil {
		return fmt.Errorf("read audit table: %w", err)
	}
	if e != nil {
		if err := json.Unmarshal(e.Value, &table); err != nil {
			return fmt.Errorf("decode audit table: %w", err)
		}
	}
	for _, d := range t.opts.Devices {
		path, err := cleanPath(d.Path)
		if err != nil {
			return err
		}
		table = slices.DeleteFunc(table, func(x *entry) bool { return x.Path == path })
		table = append(table, &entry{Path: path, Type: d.Type, Description: d.Description, Options: d.Options, FromConfig: true})
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range table {
		if err := t.open(ctx, d); err != nil {
			return fmt.Errorf("enable audit device %s: %w", d.Path, err)
		}
	}
	t.entries = table
	return nil
}

// Unload checkpoints and closes every device, keeping each chain's state
// for the next [Table.Load].
func (t *Table) Unload(ctx context.Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.opts.Broker.Devices() {
		if st, err := d.State(ctx); err == nil {
			buf, _ := json.Marshal(st)
			if err := t.opts.Storage.Put(ctx, &storage.Entry{Key: statePrefix + strings.TrimSuffix(d.Path(), "/"), Value: buf}); err != nil {
				t.logger.Error("save audit chain state", "device", d.Path(), "err", err)
			}
		}
		if _, err := t.opts.Broker.Deregister(ctx, d.Path()); err != nil {
			t.logger.Error("close audit device", "device", d.Path(), "err", err)
		}
	}
	t.entries = nil
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
