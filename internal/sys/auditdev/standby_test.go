package auditdev

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// noWrites is a standby's view of the storage: a write fails the test.
type noWrites struct {
	storage.Storage
	t *testing.T
}

func (n noWrites) Put(_ context.Context, e *storage.Entry) error {
	n.t.Errorf("the standby wrote %s", e.Key)
	return nil
}

func (n noWrites) Delete(_ context.Context, key string) error {
	n.t.Errorf("the standby deleted %s", key)
	return nil
}

func (n noWrites) Txn(context.Context, []storage.Op) error {
	n.t.Error("the standby wrote a transaction")
	return nil
}

// TestStandbyTable: a standby opens the devices the active node enabled,
// with the keys it stored and its own file ({{node_id}}), writing
// nothing; it follows enable and disable through SyncStandby, and refuses
// a device whose keys are not stored yet, opening none.
func TestStandbyTable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := inmem.New()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	cfg := []DeviceConfig{{Path: "cfg", Type: "file", Options: map[string]string{"file_path": filepath.Join(dir, "cfg-{{node_id}}.log")}}}
	newTable := func(node string, s storage.Storage) (*Table, *audit.Broker) {
		br := audit.NewBroker(audit.BrokerOptions{Logger: logger})
		return New(Options{Storage: s, Broker: br, AllowedDirs: []string{dir}, Clock: logical.SystemClock{}, Logger: logger, Devices: cfg, NodeID: node}), br
	}
	// Before the active node made the configured device's keys, a
	// standby cannot open it.
	early, earlyBr := newTable("n2", noWrites{st, t})
	if err := early.LoadStandby(ctx); err == nil || len(earlyBr.Devices()) != 0 {
		t.Fatalf("LoadStandby before the keys exist = %v with %d devices, want an error and none", err, len(earlyBr.Devices()))
	}
	active, abr := newTable("n1", st)
	if err := active.Load(ctx); err != nil {
		t.Fatal(err)
	}
	b := &framework.Backend{Paths: active.Paths()}
	call := func(op logical.Operation, path string, body any) {
		t.Helper()
		var raw json.RawMessage
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		if _, err := b.HandleRequest(ctx, &logical.Request{Operation: op, Path: path, Body: raw}); err != nil {
			t.Fatalf("%s %s: %v", op, path, err)
		}
	}
	call(logical.UpdateOperation, "audit/api", map[string]any{"type": "file", "options": map[string]string{"file_path": filepath.Join(dir, "api-{{node_id}}.log")}})

	standby, sbr := newTable("n2", noWrites{st, t})
	if err := standby.LoadStandby(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sbr.Devices()) != 2 {
		t.Fatalf("the standby opened %d devices, want 2", len(sbr.Devices()))
	}
	ad, _ := abr.Device("api/")
	sd, _ := sbr.Device("api/")
	if ad.HashValue("x") != sd.HashValue("x") || !ad.PublicKey().Equal(sd.PublicKey()) {
		t.Error("the standby's device has other keys than the active node's")
	}
	for _, name := range []string{"cfg-n1.log", "cfg-n2.log", "api-n1.log", "api-n2.log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("each node's own file: %v", err)
		}
	}
	// A device enabled later, then the first one disabled: the standby
	// follows each change.
	call(logical.UpdateOperation, "audit/later", map[string]any{"type": "file", "options": map[string]string{"file_path": "discard"}})
	if err := standby.SyncStandby(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := sbr.Device("later/"); !ok || len(sbr.Devices()) != 3 {
		t.Errorf("after enabling later/ the standby has %d devices", len(sbr.Devices()))
	}
	call(logical.DeleteOperation, "audit/api", nil)
	if err := standby.SyncStandby(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := sbr.Device("api/"); ok || len(sbr.Devices()) != 2 {
		t.Errorf("after disabling api/ the standby has %d devices (api/ still open: %v)", len(sbr.Devices()), ok)
	}
	// Its file is released: the lock is gone.
	f, err := audit.OpenFile(audit.FileOptions{Path: filepath.Join(dir, "api-n2.log"), AllowAnyDir: true})
	if err != nil {
		t.Errorf("reopen the standby's closed file: %v", err)
	} else {
		f.Close()
	}
	standby.Unload(ctx)
	active.Unload(ctx)
}

// TestSharedFileRefused: two nodes on one host whose device writes the
// same file without {{node_id}}: the second cannot open it.
func TestSharedFileRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := inmem.New()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	cfg := []DeviceConfig{{Path: "cfg", Type: "file", Options: map[string]string{"file_path": filepath.Join(dir, "audit.log")}}}
	newTable := func(node string) *Table {
		return New(Options{Storage: st, Broker: audit.NewBroker(audit.BrokerOptions{Logger: logger}), Clock: logical.SystemClock{}, Logger: logger, Devices: cfg, NodeID: node})
	}
	first := newTable("n1")
	if err := first.Load(ctx); err != nil {
		t.Fatal(err)
	}
	defer first.Unload(ctx)
	if err := newTable("n2").LoadStandby(ctx); !errors.Is(err, audit.ErrFileInUse) {
		t.Fatalf("a second node opening the first node's file: %v, want ErrFileInUse", err)
	}
}
