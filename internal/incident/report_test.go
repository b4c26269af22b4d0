package incident

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// line is a response line of an audit log as devices write it (only the
// fields reports read, and an HMACed username).
func line(tm, entity, accessor, op, mountType, path, remote, data, lease, errMsg string) string {
	m := map[string]any{"type": "response", "time": tm, "request": map[string]any{
		"operation": op, "mount_type": mountType, "path": path, "remote_address": remote, "client_token_accessor": accessor,
	}}
	if entity != "" || accessor != "" {
		m["auth"] = map[string]any{"entity_id": entity, "accessor": accessor}
	}
	resp := map[string]any{}
	if data != "" {
		resp["data"] = json.RawMessage(data)
	}
	if lease != "" {
		resp["secret"] = map[string]any{"lease_id": lease}
	}
	m["response"] = resp
	if errMsg != "" {
		m["error"] = errMsg
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func loginLine(tm, entity, path, remote string) string {
	b, _ := json.Marshal(map[string]any{"type": "response", "time": tm,
		"request":  map[string]any{"operation": "update", "path": path, "remote_address": remote},
		"response": map[string]any{"auth": map[string]any{"entity_id": entity, "accessor": "hmac-sha256:new"}}})
	return string(b)
}

func TestBuild(t *testing.T) {
	t.Parallel()
	const (
		t0, t1, t2 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"
		ent        = "ent-pay"
		hmacChild  = "hmac-sha256:child"
	)
	v := func(n int) string { return fmt.Sprintf(`{"data":{"k":"hmac-sha256:x"},"metadata":{"version":%d}}`, n) }
	log := strings.Join([]string{
		`{"type":"request","time":"` + t1 + `","auth":{"entity_id":"ent-pay"},"request":{"operation":"read","path":"secret/data/pay/db"}}`,
		line(t0, ent, "hmac-sha256:p", "read", "kv", "secret/data/pay/old", "10.0.0.1", v(1), "", ""), // before since
		line(t1, ent, "hmac-sha256:p", "read", "kv", "secret/data/pay/db", "10.0.0.1", v(2), "", ""),
		line(t1, ent, "hmac-sha256:p", "read", "kv", "secret/data/pay/db", "10.0.0.2", v(1), "", ""),
		line(t2, ent, "hmac-sha256:p", "read", "kv", "secret/data/pay/db", "10.0.0.1", v(2), "", ""),
		line(t1, "", hmacChild, "read", "kv", "secret/data/pay/api", "10.0.0.3", v(7), "", ""),
		line(t1, ent, "hmac-sha256:p", "read", "system", "sys/internal/ui/mounts/secret", "10.0.0.1", `{}`, "", ""),
		line(t1, ent, "hmac-sha256:p", "read", "database", "database/creds/app", "10.0.0.1", `{"username":"hmac-sha256:u","password":"hmac-sha256:pw"}`, "database/creds/app/abc", ""),
		line(t1, ent, "hmac-sha256:p", "update", "kv", "secret/data/pay/db", "10.0.0.1", v(3), "", ""),
		line(t1, ent, "hmac-sha256:p", "read", "kv", "secret/data/ship/key", "10.0.0.1", "", "", "permission denied"),
		line(t1, "ent-ship", "hmac-sha256:s", "read", "kv", "secret/data/ship/key", "10.0.0.9", v(1), "", ""),
		line(t1, "", "", "read", "kv", "secret/data/public", "192.168.1.5", v(4), "", ""),
		loginLine(t1, ent, "auth/approle/login", "10.0.0.1"),
		loginLine(t1, "ent-ship", "auth/approle/login", "10.0.0.9"),
		"not json",
		"",
	}, "\n")
	rep, err := Build(strings.NewReader(log), Targets{EntityIDs: []string{ent}, Accessors: []string{hmacChild}, CIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}, Since: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	type pv struct {
		path     string
		versions string
		count    int
		sources  string
	}
	var got []pv
	for _, r := range rep.Reads {
		got = append(got, pv{r.Path, fmt.Sprint(r.Versions), r.Count, strings.Join(r.Sources, ",")})
	}
	want := []pv{
		{"secret/data/pay/api", "[7]", 1, "10.0.0.3"},
		{"secret/data/pay/db", "[1 2]", 3, "10.0.0.1,10.0.0.2"},
		{"secret/data/public", "[4]", 1, "192.168.1.5"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("reads = %v, want %v", got, want)
	}
	if len(rep.Credentials) != 1 || rep.Credentials[0].LeaseID != "database/creds/app/abc" || rep.Credentials[0].Username != "hmac-sha256:u" {
		t.Errorf("credentials = %+v", rep.Credentials)
	}
	if len(rep.Writes) != 1 || rep.Writes[0].Path != "secret/data/pay/db" {
		t.Errorf("writes = %+v", rep.Writes)
	}
	if len(rep.Logins) != 1 || rep.Logins[0].Source != "10.0.0.1" {
		t.Errorf("logins = %+v", rep.Logins)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].Error != "permission denied" {
		t.Errorf("refused = %+v", rep.Refused)
	}
	if rep.Lines != 15 {
		t.Errorf("lines = %d, want 15", rep.Lines)
	}
	for _, f := range []string{FormatTable, FormatJSON, FormatMarkdown} {
		var buf bytes.Buffer
		if err := Render(&buf, rep, f); err != nil || !strings.Contains(buf.String(), "secret/data/pay/db") {
			t.Errorf("Render(%s) = %v\n%s", f, err, buf.String())
		}
	}
	if err := Render(&bytes.Buffer{}, rep, "xml"); err == nil {
		t.Error("Render(xml) succeeded")
	}
}

func TestBuildLongLine(t *testing.T) {
	t.Parallel()
	big := fmt.Sprintf(`{"data":{"k":"%s"},"metadata":{"version":5}}`, strings.Repeat("a", 3<<20))
	log := line("2026-01-01T00:00:00Z", "e", "", "read", "kv", "secret/data/big", "", big, "", "") + "\n" +
		line("2026-01-01T00:00:00Z", "e", "", "read", "kv", "secret/data/small", "", `{"metadata":{"version":1}}`, "", "")
	rep, err := Build(strings.NewReader(log), Targets{EntityIDs: []string{"e"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Reads) != 2 || rep.Reads[0].Versions[0] != 5 {
		t.Errorf("reads = %+v", rep.Reads)
	}
}

func FuzzBuild(f *testing.F) {
	f.Add(line("2026-01-01T00:00:00Z", "e", "a", "read", "kv", "secret/data/x", "10.0.0.1", `{"metadata":{"version":1}}`, "", ""))
	f.Add(loginLine("2026-01-01T00:00:00Z", "e", "auth/approle/login", "::1"))
	f.Add(`{"type":"response","request":{},"response":{"data":{"metadata":{"version":"x"}}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		rep, err := Build(strings.NewReader(s), Targets{EntityIDs: []string{"e"}, Accessors: []string{"a"}, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
		if err != nil {
			return
		}
		if rep.Matched > rep.Lines {
			t.Errorf("matched %d of %d lines", rep.Matched, rep.Lines)
		}
		for _, fm := range []string{FormatTable, FormatJSON, FormatMarkdown} {
			if err := Render(&bytes.Buffer{}, rep, fm); err != nil {
				t.Errorf("Render(%s): %v", fm, err)
			}
		}
	})
}

// BenchmarkBuild reads an audit log of 1,000,000 response lines, one in a
// thousand by the contained identity (docs/performance.md).
func BenchmarkBuild(b *testing.B) {
	const lines = 1_000_000
	path := filepath.Join(b.TempDir(), "audit.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range lines {
		ent, acc := "ent-other", "hmac-sha256:0f3c9d2e6b1a4f5c8d7e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
		if i%1000 == 0 {
			ent = "ent-leaked"
		}
		fmt.Fprintln(w, line("2026-01-01T00:00:00.123456789Z", ent, acc, "read", "kv", fmt.Sprintf("secret/data/app%d/config", i%500), "10.1.2.3",
			`{"data":{"password":"hmac-sha256:5e0c4a7f0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e","user":"hmac-sha256:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"},"metadata":{"version":3,"created_time":"2026-01-01T00:00:00Z","deletion_time":"","destroyed":false}}`, "", ""))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Build(f, Targets{EntityIDs: []string{"ent-leaked"}, Accessors: []string{"hmac-sha256:aaaa"}})
		f.Close()
		if err != nil || rep.Matched != lines/1000 {
			b.Fatalf("Build = %v matched, %v", rep, err)
		}
	}
}

// TestBuildAll reads a cluster's per-node logs: events merge by time
// whatever the order of the files, and each names its node.
func TestBuildAll(t *testing.T) {
	t.Parallel()
	withNode := func(l, node string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		m["node_id"] = node
		b, _ := json.Marshal(m)
		return string(b)
	}
	const ent = "ent-pay"
	v := `{"data":{"k":"hmac-sha256:x"},"metadata":{"version":1}}`
	active := strings.Join([]string{
		withNode(line("2026-01-02T00:00:01Z", ent, "", "update", "kv", "secret/data/a", "10.0.0.1", v, "", ""), "node-a"),
		withNode(line("2026-01-02T00:00:05.5Z", ent, "", "update", "kv", "secret/data/c", "10.0.0.1", v, "", ""), "node-a"),
		withNode(line("2026-01-02T00:00:09Z", ent, "", "read", "kv", "secret/data/r", "10.0.0.1", v, "", ""), "node-a"),
	}, "\n")
	standby := strings.Join([]string{
		withNode(line("2026-01-02T00:00:03Z", ent, "", "update", "kv", "secret/data/b", "10.0.0.2", v, "", ""), "node-b"),
		withNode(line("2026-01-02T00:00:02Z", ent, "", "read", "kv", "secret/data/r", "10.0.0.2", v, "", ""), "node-b"),
		withNode(line("2026-01-02T00:00:07.25Z", ent, "", "update", "kv", "secret/data/d", "10.0.0.2", v, "", ""), "node-b"),
	}, "\n")
	tests := []struct {
		name string
		logs []string
	}{
		{"active first", []string{active, standby}},
		{"standby first", []string{standby, active}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []io.Reader
			for _, l := range tt.logs {
				rs = append(rs, strings.NewReader(l))
			}
			rep, err := BuildAll(rs, Targets{EntityIDs: []string{ent}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range rep.Writes {
				got = append(got, w.Path+"@"+w.Node)
			}
			want := []string{"secret/data/a@node-a", "secret/data/b@node-b", "secret/data/c@node-a", "secret/data/d@node-b"}
			if !slices.Equal(got, want) {
				t.Errorf("writes = %v, want %v (merged by time)", got, want)
			}
			if len(rep.Reads) != 1 {
				t.Fatalf("reads = %+v", rep.Reads)
			}
			r := rep.Reads[0]
			if r.Count != 2 || r.First != "2026-01-02T00:00:02Z" || r.Last != "2026-01-02T00:00:09Z" || !slices.Equal(r.Nodes, []string{"node-a", "node-b"}) {
				t.Errorf("read = %+v, want count 2 from 00:00:02 to 00:00:09 on both nodes", r)
			}
			if rep.Lines != 6 {
				t.Errorf("lines = %d, want 6", rep.Lines)
			}
		})
	}
}
