package auditdev_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestTrailEndpoints: sys/audit/:path/verify checks a file device's log
// (a good log verifies; an edited line is tampering), and
// sys/audit/:path/search finds entries by path and by a raw value, which
// it HMACs as the device does; bad input is a 400 naming the fix.
func TestTrailEndpoints(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	ctx := t.Context()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptionsWithContext(ctx, "file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().EnableAuditWithOptionsWithContext(ctx, "nowhere", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": "discard"}}); err != nil {
		t.Fatal(err)
	}
	kv := s.Client.KVv2("secret")
	for _, p := range []string{"app/db", "app/api", "other/x"} {
		if _, err := kv.Put(ctx, p, map[string]any{"password": "hunter2-" + p}); err != nil {
			t.Fatal(err)
		}
	}
	lg := s.Client.Logical()

	ver, err := lg.ReadWithContext(ctx, "sys/audit/file/verify")
	if err != nil {
		t.Fatal(err)
	}
	if ver.Data["ok"] != true || ver.Data["tampering"] != false || ver.Data["signatures_checked"] != true {
		t.Errorf("verify of an untouched log: %v", ver.Data)
	}

	tests := []struct {
		name string
		body map[string]any
		want int // matches
	}{
		{"path", map[string]any{"path": "secret/data/app/", "type": "request", "operation": "create,update"}, 2},
		// The write's request and response, and this search's own request
		// entry (where the device HMACed the value too).
		{"value", map[string]any{"value": "hunter2-app/api"}, 3},
		{"limit", map[string]any{"path": "secret/", "limit": 1}, 1},
		{"nothing", map[string]any{"path": "nope/"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := lg.WriteWithContext(ctx, "sys/audit/file/search", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			ms, _ := res.Data["matches"].([]any)
			if len(ms) != tc.want {
				t.Errorf("%d matches, want %d: %v", len(ms), tc.want, res.Data)
			}
		})
	}

	refusals := []struct {
		name, method, path string
		body               map[string]any
		want               string
	}{
		{"unknown device", "GET", "sys/audit/nope/verify", nil, "no audit device at nope"},
		{"no file", "GET", "sys/audit/nowhere/verify", nil, "does not write a file the server can read"},
		{"bad time", "PUT", "sys/audit/file/search", map[string]any{"since": "yesterday"}, "RFC 3339"},
		{"bad status", "PUT", "sys/audit/file/search", map[string]any{"status": "maybe"}, "status must be ok or error"},
		{"bad limit", "PUT", "sys/audit/file/search", map[string]any{"limit": 5000}, "limit must be between 1 and 1000"},
	}
	for _, tc := range refusals {
		var err error
		if tc.method == "GET" {
			_, err = lg.ReadWithContext(ctx, tc.path)
		} else {
			_, err = lg.WriteWithContext(ctx, tc.path, tc.body)
		}
		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(strings.Join(re.Errors, " "), tc.want) {
			t.Errorf("%s: %v, want 400 with %q", tc.name, err, tc.want)
		}
	}

	// Edit a line in the middle: tampering.
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("secret/data/app/api"))
	if i < 0 {
		t.Fatal("the write of app/api is not in the log")
	}
	copy(b[i:], "secret/data/app/apx")
	if err := os.WriteFile(logPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ver, err = lg.ReadWithContext(ctx, "sys/audit/file/verify")
	if err != nil {
		t.Fatal(err)
	}
	if ver.Data["ok"] != false || ver.Data["tampering"] != true {
		t.Errorf("verify of an edited log: %v", ver.Data)
	}
}
