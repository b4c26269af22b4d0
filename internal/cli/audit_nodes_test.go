package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// runOffline runs the CLI in-process with no server.
func runOffline(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"HOME": t.TempDir()}
	code := Run(context.Background(), args, Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

// stepClock advances a second at each call, from a fixed time.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time {
	c.t = c.t.Add(time.Second)
	return c.t
}

// nodeLogs writes two nodes' logs of one device (same keys, one chain
// each) into dir: node-a's entries at odd seconds, node-b's at even ones,
// and returns their paths and the device's public key in base64.
func nodeLogs(t *testing.T, dir string) (string, string, string) {
	t.Helper()
	keys, err := audit.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var paths []string
	for n, node := range []string{"node-a", "node-b"} {
		path := filepath.Join(dir, "audit-"+node+".log")
		f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Keys: keys, NodeID: node, CheckpointEvery: 3, Clock: &stepClock{base}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			e := &audit.Entry{
				Time:    base.Add(time.Duration(2*i+n+1) * time.Second),
				Request: audit.Request{ID: fmt.Sprintf("%s-%d", node, i), Operation: "read", Path: "secret/data/x", ClientToken: "s.tok"},
			}
			typ := audit.TypeRequest
			if node == "node-b" && i == 2 {
				typ, e.Forward = audit.TypeForward, &audit.Forward{Target: "127.0.0.1:8201"}
			}
			if err := d.Log(t.Context(), typ, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths[0], paths[1], base64.StdEncoding.EncodeToString(keys.Signing.Public().(ed25519.PublicKey))
}

// TestAuditVerifySeveralFiles: each node's file is verified as its own
// chain, with a verdict each; a problem in one fails the run and names
// that file only.
func TestAuditVerifySeveralFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, key := nodeLogs(t, dir)
	code, out, errOut := runOffline(t, "audit", "verify", "-public-key="+key, a, b)
	if code != 0 || strings.Count(out, "Result:       OK") != 2 || !strings.Contains(out, "==> "+a+" <==") || !strings.Contains(out, "==> "+b+" <==") {
		t.Fatalf("verify of two good files = %d\n%s%s", code, out, errOut)
	}
	if strings.Count(out, "Chain:") != 2 {
		t.Errorf("want one chain reported per file:\n%s", out)
	}
	// One file alone: the output of a single-file verify, no header.
	code, out, _ = runOffline(t, "audit", "verify", "-public-key="+key, a)
	if code != 0 || strings.Contains(out, "==>") {
		t.Errorf("verify of one file = %d, header shown:\n%s", code, out)
	}
	raw, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "edited.log")
	if err := os.WriteFile(bad, bytes.Replace(raw, []byte(`"node-b-1"`), []byte(`"node-b-9"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runOffline(t, "audit", "verify", "-public-key="+key, a, bad)
	if code != 2 || !strings.Contains(errOut, bad+": TAMPERED") || strings.Contains(errOut, a+":") || strings.Count(out, "Result:       OK") != 1 {
		t.Errorf("verify with an edited file = %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, _, _ := runOffline(t, "audit", "verify", "-witness=w.log", a, b); code != 1 {
		t.Errorf("-witness with two files = %d, want a usage error (1)", code)
	}
}

// TestAuditSearchMerged: several files are merged by time, showing each
// entry's file and node; -merge does the same for one file.
func TestAuditSearchMerged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, _ := nodeLogs(t, dir)
	code, out, errOut := runOffline(t, "audit", "search", a, b)
	if code != 0 {
		t.Fatalf("merged search = %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var nodes []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		nodes = append(nodes, f[3]+"/"+f[4])
	}
	want := "node-a/request node-b/request node-a/request node-b/request node-a/request node-b/forward node-a/request node-b/request"
	if strings.Join(nodes, " ") != want || !strings.HasPrefix(lines[0], "FILE") {
		t.Errorf("merged search rows (node/type) = %q, want %q\n%s", strings.Join(nodes, " "), want, out)
	}
	code, out, _ = runOffline(t, "audit", "search", "-type=forward", "-format=json", a, b)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"node_id":"node-b"`) || !strings.Contains(out, `"type":"forward"`) {
		t.Errorf("merged search for forward entries = %d %q", code, out)
	}
	code, out, _ = runOffline(t, "audit", "search", "-merge", b)
	if code != 0 || !strings.HasPrefix(out, "FILE") || !strings.Contains(out, "node-b") {
		t.Errorf("search -merge of one file = %d\n%s", code, out)
	}
	code, out, _ = runOffline(t, "audit", "search", b)
	if code != 0 || !strings.HasPrefix(out, "LINE") {
		t.Errorf("search of one file = %d, want the single-file table\n%s", code, out)
	}
}
