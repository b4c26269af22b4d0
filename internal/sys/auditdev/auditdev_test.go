package auditdev

import (
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "file", want: "file/"},
		{in: "/file/", want: "file/"},
		{in: "a/b", wantErr: true},
		{in: "", wantErr: true},
		{in: "..", wantErr: true},
	}
	for _, tt := range tests {
		got, err := cleanPath(tt.in)
		if tt.wantErr {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Errorf("cleanPath(%q) = %q, %v; want an invalid-request error", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestTable enables, lists and disables devices through the endpoints,
// and checks which of them a new unseal opens again.
func TestTable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := inmem.New()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	newTable := func() (*Table, *audit.Broker) {
		br := audit.NewBroker(audit.BrokerOptions{Logger: logger})
		return New(Options{
			Storage: st, Broker: br, AllowedDirs: []string{dir}, Clock: logical.SystemClock{}, Logger: logger,
			Devices: []DeviceConfig{{Path: "configured", Type: "file", Options: map[string]string{"file_path": "discard"}}},
		}), br
	}
	tb, br := newTable()
	if err := tb.Load(ctx); err != nil {
		t.Fatal(err)
	}
	b := &framework.Backend{Paths: tb.Paths()}
	call := func(op logical.Operation, path string, body any) (*logical.Response, error) {
		var raw json.RawMessage
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		return b.HandleRequest(ctx, &logical.Request{Operation: op, Path: path, Body: raw})
	}
	file := filepath.Join(dir, "audit.log")
	if _, err := call(logical.UpdateOperation, "audit/api", map[string]any{"type": "file", "options": map[string]string{"file_path": file}}); err != nil {
		t.Fatalf("enable: %v", err)
	}
	refused := []struct {
		name string
		op   logical.Operation
		path string
		body any
	}{
		{"same path", logical.UpdateOperation, "audit/api", map[string]any{"type": "file", "options": map[string]string{"file_path": "discard"}}},
		{"same file", logical.UpdateOperation, "audit/other", map[string]any{"type": "file", "options": map[string]string{"file_path": file}}},
		{"file outside the allowed directories", logical.UpdateOperation, "audit/outside", map[string]any{"type": "file", "options": map[string]string{"file_path": filepath.Join(t.TempDir(), "x.log")}}},
		{"disable a configured device", logical.DeleteOperation, "audit/configured", nil},
		{"hash with no such device", logical.UpdateOperation, "audit-hash/nope", map[string]string{"input": "x"}},
	}
	for _, tt := range refused {
		if _, err := call(tt.op, tt.path, tt.body); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("%s: error = %v, want an invalid-request error", tt.name, err)
		}
	}
	resp, err := call(logical.UpdateOperation, "audit-hash/api", map[string]string{"input": "secret"})
	if err != nil {
		t.Fatal(err)
	}
	hash := resp.Data.(map[string]string)["hash"]
	if hash == "" || hash == "secret" {
		t.Errorf("audit-hash = %q, want an HMAC", hash)
	}
	resp, err = call(logical.ReadOperation, "audit", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Data.(map[string]deviceOutput); len(got) != 2 || got["api/"].Type != "file" || got["configured/"].Path != "configured/" {
		t.Errorf("list = %+v, want api/ and configured/", got)
	}

	// A new unseal opens both again, with the API device's keys.
	tb.Unload(ctx)
	if n := len(br.Devices()); n != 0 {
		t.Fatalf("after Unload the broker has %d devices", n)
	}
	tb2, br2 := newTable()
	if err := tb2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	d, ok := br2.Device("api/")
	if !ok || len(br2.Devices()) != 2 {
		t.Fatalf("after Load the broker has %d devices (api/ %v), want 2", len(br2.Devices()), ok)
	}
	if got := d.HashValue("secret"); got != hash {
		t.Errorf("HMAC after a new Load = %q, want %q (the stored key)", got, hash)
	}
	tb2.Unload(ctx)
}
