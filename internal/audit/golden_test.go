package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGoldenLines writes a request, its response and a checkpoint with
// fixed keys, chain ID and clock, and compares the bytes with
// testdata/lines.golden (rewritten with -update).
func TestGoldenLines(t *testing.T) {
	t.Parallel()
	keys := audit.Keys{HMAC: bytes.Repeat([]byte{7}, audit.HMACKeySize), Signing: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))}
	sink := &memSink{}
	d, err := audit.NewDevice(audit.DeviceOptions{
		Path: "file/", Sink: sink, Keys: keys, Clock: fixedClock{testTime},
		Resume: audit.ChainState{ChainID: "00112233aabbccdd"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	e := sampleEntry()
	if err := d.Log(ctx, audit.TypeRequest, e); err != nil {
		t.Fatal(err)
	}
	e.Error = "permission denied"
	if err := d.Log(ctx, audit.TypeResponse, e); err != nil {
		t.Fatal(err)
	}
	if err := d.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	got := sink.buf.Bytes()
	path := filepath.Join("testdata", "lines.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("lines differ from %s (run with -update and review the diff):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// FuzzFormatData logs arbitrary request data: the line must be one valid
// JSON line, and for JSON data its every string leaf, and nothing else,
// must be the HMAC of the input's leaf.
func FuzzFormatData(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":[1,"x",{"y":null}]}`, `"str"`, `[]`, "not json\n", `{"n":1e400}`, "{\"k\":\"\u2028\"}", `{"a":"b"} {"c":1}`} {
		f.Add([]byte(s))
	}
	keys := audit.Keys{HMAC: bytes.Repeat([]byte{1}, audit.HMACKeySize), Signing: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	f.Fuzz(func(t *testing.T, data []byte) {
		sink := &memSink{}
		d, err := audit.NewDevice(audit.DeviceOptions{Path: "m/", Sink: sink, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		e := &audit.Entry{Time: testTime, Request: audit.Request{Path: "p", Data: data}}
		if err := d.Log(t.Context(), audit.TypeRequest, e); err != nil {
			t.Fatalf("Log(%q) = %v", data, err)
		}
		out := sink.buf.Bytes()
		if bytes.IndexByte(out, '\n') != len(out)-1 {
			t.Fatalf("Log(%q) wrote %q, not one line", data, out)
		}
		var l audit.Line
		if err := json.Unmarshal(out, &l); err != nil {
			t.Fatalf("Log(%q) wrote invalid JSON %q: %v", data, out, err)
		}
		if len(data) == 0 {
			return
		}
		if !json.Valid(data) {
			var s string
			if err := json.Unmarshal(l.Request.Data, &s); err != nil || s != d.HashValue(string(data)) {
				t.Fatalf("invalid data %q logged as %s, want its HMAC as a string", data, l.Request.Data)
			}
			return
		}
		var in any
		if err := json.Unmarshal(data, &in); err != nil {
			return // valid JSON that Go cannot hold, such as 1e400: shape not checked
		}
		var got any
		if err := json.Unmarshal(l.Request.Data, &got); err != nil {
			t.Fatalf("logged data %s: %v", l.Request.Data, err)
		}
		if !sameShapeHashed(in, got, d.HashValue) {
			t.Fatalf("data %q logged as %s: not the same shape with every string HMACed", data, l.Request.Data)
		}
	})
}

// sameShapeHashed reports whether got is in with every non-empty string
// replaced by hash(string).
func sameShapeHashed(in, got any, hash func(string) string) bool {
	switch x := in.(type) {
	case string:
		g, ok := got.(string)
		if x == "" {
			return ok && g == ""
		}
		return ok && g == hash(x)
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(x) {
			return false
		}
		for k, v := range x {
			if !sameShapeHashed(v, g[k], hash) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(x) {
			return false
		}
		for i := range x {
			if !sameShapeHashed(x[i], g[i], hash) {
				return false
			}
		}
		return true
	default:
		return true // numbers, booleans and null are kept; their text may be reformatted
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("file", "file_path", "/var/log/a.log", "mode", "0600")
	f.Add("socket", "address", "127.0.0.1:1", "write_timeout", "2s")
	f.Add("file", "file_path", "x", "log_raw", "true")
	f.Fuzz(func(t *testing.T, typ, k1, v1, k2, v2 string) {
		c, err := audit.ParseConfig(typ, map[string]string{k1: v1, k2: v2})
		if err != nil {
			return
		}
		if c.Type != typ || (typ != "file" && typ != "socket") {
			t.Fatalf("ParseConfig(%q) accepted type %q", typ, c.Type)
		}
		if m := c.File.Mode; m&0o133 != 0 {
			t.Fatalf("ParseConfig accepted mode %#o", m)
		}
		if c.File.AllowAnyDir || len(c.File.AllowedDirs) > 0 {
			t.Fatalf("ParseConfig set directory permissions from options")
		}
		if typ == "socket" && c.Socket.WriteTimeout < 0 {
			t.Fatalf("ParseConfig accepted a negative timeout")
		}
	})
}

// TestGoldenNodeLines is TestGoldenLines for a node of a cluster: a
// request, the forward entry a standby writes for it and a checkpoint,
// each with the node's ID, compared with testdata/node_lines.golden.
func TestGoldenNodeLines(t *testing.T) {
	t.Parallel()
	keys := audit.Keys{HMAC: bytes.Repeat([]byte{7}, audit.HMACKeySize), Signing: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))}
	sink := &memSink{}
	d, err := audit.NewDevice(audit.DeviceOptions{
		Path: "file/", Sink: sink, Keys: keys, Clock: fixedClock{testTime},
		Resume: audit.ChainState{ChainID: "00112233aabbccdd"}, NodeID: "node-b",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	e := sampleEntry()
	if err := d.Log(ctx, audit.TypeRequest, e); err != nil {
		t.Fatal(err)
	}
	fwd := &audit.Entry{Time: e.Time, Request: audit.Request{ID: e.Request.ID, Operation: "update", Path: "secret/data/app", ClientToken: e.Request.ClientToken, RemoteAddress: "192.0.2.7"}, Forward: &audit.Forward{Target: "127.0.0.1:8201"}}
	if err := d.Log(ctx, audit.TypeForward, fwd); err != nil {
		t.Fatal(err)
	}
	if err := d.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	got := sink.buf.Bytes()
	path := filepath.Join("testdata", "node_lines.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("lines differ from %s (run with -update and review the diff):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
	if bytes.Contains(got, []byte(e.Request.ClientToken)) {
		t.Errorf("a line holds the raw client token:\n%s", got)
	}
}
