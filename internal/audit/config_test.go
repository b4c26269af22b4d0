package audit_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		typ     string
		options map[string]string
		want    audit.Config
		wantErr bool
	}{
		{
			name:    "file defaults",
			typ:     "file",
			options: map[string]string{"file_path": "/var/log/coffer/audit.log"},
			want:    audit.Config{Type: "file", File: audit.FileOptions{Path: "/var/log/coffer/audit.log"}},
		},
		{
			name:    "file with everything",
			typ:     "file",
			options: map[string]string{"file_path": "stdout", "mode": "0640", "log_raw": "true", "hmac_accessor": "false", "format": "json", "checkpoint_every": "50"},
			want:    audit.Config{Type: "file", LogRaw: true, RawAccessor: true, CheckpointEvery: 50, File: audit.FileOptions{Path: "stdout", Mode: 0o640}},
		},
		{
			name:    "mode 0000 keeps the mode",
			typ:     "file",
			options: map[string]string{"path": "/x", "mode": "0000"},
			want:    audit.Config{Type: "file", File: audit.FileOptions{Path: "/x", KeepMode: true}},
		},
		{
			name:    "socket",
			typ:     "socket",
			options: map[string]string{"address": "127.0.0.1:9090", "write_timeout": "500ms"},
			want:    audit.Config{Type: "socket", Socket: audit.SocketOptions{Address: "127.0.0.1:9090", SocketType: "tcp", WriteTimeout: 500 * time.Millisecond}},
		},
		{
			name:    "socket unix, seconds",
			typ:     "socket",
			options: map[string]string{"address": "/run/a.sock", "socket_type": "unix", "write_timeout": "3"},
			want:    audit.Config{Type: "socket", Socket: audit.SocketOptions{Address: "/run/a.sock", SocketType: "unix", WriteTimeout: 3 * time.Second}},
		},
		{
			name:    "file with a tcp witness",
			typ:     "file",
			options: map[string]string{"file_path": "/x", "witness_address": "127.0.0.1:6514"},
			want:    audit.Config{Type: "file", File: audit.FileOptions{Path: "/x"}, Witness: &audit.WitnessOptions{Address: "127.0.0.1:6514", Type: "tcp"}},
		},
		{
			name:    "file with a syslog witness",
			typ:     "file",
			options: map[string]string{"file_path": "/x", "witness_address": "/dev/log", "witness_type": "syslog", "witness_write_timeout": "1s"},
			want:    audit.Config{Type: "file", File: audit.FileOptions{Path: "/x"}, Witness: &audit.WitnessOptions{Address: "/dev/log", Type: "syslog", WriteTimeout: time.Second}},
		},
		{name: "witness_type without witness_address", typ: "file", options: map[string]string{"file_path": "/x", "witness_type": "tcp"}, wantErr: true},
		{name: "unknown witness_type", typ: "file", options: map[string]string{"file_path": "/x", "witness_address": "a:1", "witness_type": "udp"}, wantErr: true},
		{name: "bad witness_write_timeout", typ: "file", options: map[string]string{"file_path": "/x", "witness_address": "a:1", "witness_write_timeout": "soon"}, wantErr: true},
		{name: "witness on a socket device", typ: "socket", options: map[string]string{"address": "a:1", "witness_address": "b:1"}, wantErr: true},
		{name: "unknown type", typ: "syslog", options: map[string]string{}, wantErr: true},
		{name: "file_path missing", typ: "file", options: map[string]string{}, wantErr: true},
		{name: "prefix refused", typ: "file", options: map[string]string{"file_path": "/x", "prefix": "@"}, wantErr: true},
		{name: "allowed dirs cannot come from options", typ: "file", options: map[string]string{"file_path": "/x", "audit_allowed_dirs": "/"}, wantErr: true},
		{name: "socket option on file", typ: "file", options: map[string]string{"file_path": "/x", "address": "a:1"}, wantErr: true},
		{name: "executable mode", typ: "file", options: map[string]string{"file_path": "/x", "mode": "0755"}, wantErr: true},
		{name: "group-writable mode", typ: "file", options: map[string]string{"file_path": "/x", "mode": "0660"}, wantErr: true},
		{name: "mode not octal", typ: "file", options: map[string]string{"file_path": "/x", "mode": "0689"}, wantErr: true},
		{name: "mode too big", typ: "file", options: map[string]string{"file_path": "/x", "mode": "1600"}, wantErr: true},
		{name: "bad bool", typ: "file", options: map[string]string{"file_path": "/x", "log_raw": "yes please"}, wantErr: true},
		{name: "jsonx refused", typ: "file", options: map[string]string{"file_path": "/x", "format": "jsonx"}, wantErr: true},
		{name: "checkpoint_every zero", typ: "file", options: map[string]string{"file_path": "/x", "checkpoint_every": "0"}, wantErr: true},
		{name: "socket without address", typ: "socket", options: map[string]string{}, wantErr: true},
		{name: "udp refused", typ: "socket", options: map[string]string{"address": "a:1", "socket_type": "udp"}, wantErr: true},
		{name: "negative timeout", typ: "socket", options: map[string]string{"address": "a:1", "write_timeout": "-1s"}, wantErr: true},
		{name: "zero timeout", typ: "socket", options: map[string]string{"address": "a:1", "write_timeout": "0"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := audit.ParseConfig(tt.typ, tt.options)
			if tt.wantErr {
				if !errors.Is(err, logical.ErrInvalidRequest) {
					t.Fatalf("ParseConfig(%q, %v) = %v, want an invalid request error", tt.typ, tt.options, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig(%q, %v) = %v", tt.typ, tt.options, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := testKeys(t)
	c, err := audit.ParseConfig("file", map[string]string{"file_path": filepath.Join(dir, "a.log")})
	if err != nil {
		t.Fatal(err)
	}
	// Without allowed directories from the server, nothing is allowed.
	if _, err := audit.Open(c, audit.OpenParams{Path: "file/", Keys: keys}); err == nil {
		t.Fatalf("Open without allowed dirs = nil error")
	}
	c.File.AllowedDirs = []string{dir}
	d, err := audit.Open(c, audit.OpenParams{Path: "file/", Keys: keys})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer d.Close(t.Context())
	if d.Type() != "file" || d.Path() != "file/" {
		t.Errorf("device = %s at %s, want file at file/", d.Type(), d.Path())
	}
	sc, err := audit.ParseConfig("socket", map[string]string{"address": "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	resume := audit.ChainState{ChainID: "0123456789abcdef", Seq: 41, Head: strings.Repeat("ab", 32)}
	sd, err := audit.Open(sc, audit.OpenParams{Path: "socket/", Keys: keys, Resume: resume})
	if err != nil {
		t.Fatalf("Open(socket) = %v", err)
	}
	if got, _ := sd.State(t.Context()); got != resume {
		t.Errorf("socket device state = %+v, want the resumed %+v", got, resume)
	}
}
