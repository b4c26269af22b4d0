package eventsub

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestParseKVDataPath(t *testing.T) {
	t.Parallel()
	msg := func(typ, path, dataPath, mount string) string {
		md := map[string]string{"path": path}
		if dataPath != "" {
			md["data_path"] = dataPath
		}
		b, _ := json.Marshal(map[string]any{"id": "1", "type": "*", "data": map[string]any{
			"event": map[string]any{"id": "1", "metadata": md}, "event_type": typ,
			"plugin_info": map[string]any{"mount_path": mount, "plugin": "kv"},
		}})
		return string(b)
	}
	tests := []struct {
		name, msg, wantType, want string
	}{
		{"write", msg("kv-v2/data-write", "secret/data/app/db", "secret/data/app/db", "secret/"), "kv-v2/data-write", "secret/data/app/db"},
		{"destroy", msg("kv-v2/destroy", "secret/destroy/app", "secret/data/app", "secret/"), "kv-v2/destroy", "secret/data/app"},
		{"metadata delete names only the metadata path", msg("kv-v2/metadata-delete", "kv/team/metadata/a/b", "", "kv/team/"), "kv-v2/metadata-delete", "kv/team/data/a/b"},
		{"config write names no secret", msg("kv-v2/config-write", "secret/config", "", "secret/"), "kv-v2/config-write", ""},
		{"path outside the mount", msg("kv-v2/metadata-delete", "other/metadata/a", "", "secret/"), "kv-v2/metadata-delete", ""},
		{"no plugin info", msg("kv-v2/metadata-delete", "secret/metadata/a", "", ""), "kv-v2/metadata-delete", ""},
		{"not kv", `{"data":{"event_type":"policy/changed","event":{"metadata":{"name":"p"}}}}`, "policy/changed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if e.Type != tt.wantType || e.KVDataPath() != tt.want {
				t.Errorf("Parse = %+v, KVDataPath %q; want type %q, path %q", e, e.KVDataPath(), tt.wantType, tt.want)
			}
		})
	}
	if _, err := Parse([]byte("{not json")); err == nil {
		t.Error("Parse accepted broken JSON")
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, typ, filter, want string
		err                     bool
	}{
		{addr: "http://127.0.0.1:8200", typ: "kv-v2/*", want: "ws://127.0.0.1:8200/v1/sys/events/subscribe/kv-v2/%2A?json=true"},
		{addr: "https://vault.example/", typ: "kv*", filter: "secret/data/app/*", want: "wss://vault.example/v1/sys/events/subscribe/kv%2A?filter=secret%2Fdata%2Fapp%2F%2A&json=true"},
		{addr: "unix:///run/coffer.sock", typ: "*", err: true},
		{addr: "::bad", typ: "*", err: true},
	}
	for _, tt := range tests {
		got, err := URL(tt.addr, tt.typ, tt.filter)
		if tt.err {
			if !errors.Is(err, ErrAddress) {
				t.Errorf("URL(%q) = %q, %v; want ErrAddress", tt.addr, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("URL(%q, %q, %q) = %q, %v; want %q", tt.addr, tt.typ, tt.filter, got, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"data":{"event_type":"kv-v2/metadata-delete","event":{"metadata":{"path":"secret/metadata/a"}},"plugin_info":{"mount_path":"secret/"}}}`))
	f.Add([]byte(`{"data":{"event":{"metadata":{"data_path":"secret/data/a"}}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		p := e.KVDataPath()
		if p != "" && p != e.DataPath && (e.MountPath == "" || len(p) < len(e.MountPath)) {
			t.Fatalf("KVDataPath %q from %+v", p, e)
		}
		if utf8.ValidString(e.Path) && utf8.ValidString(e.MountPath) && !utf8.ValidString(p) {
			t.Fatalf("invalid UTF-8 path %q", p)
		}
	})
}
