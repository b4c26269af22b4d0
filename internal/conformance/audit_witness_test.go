package conformance

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// witnessListener accepts connections on l and appends everything they
// send to the file at path, until l is closed.
func witnessListener(t *testing.T, l net.Listener, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		defer f.Close()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(f, c) // one device connects and stays connected
			c.Close()
		}
	}()
}

// TestAuditWitness enables a file audit device whose checkpoints also go to
// a witness (a TCP or unix socket the test listens on), and checks `coffer
// audit verify -witness`: the file passes against what the witness
// received, and a copy cut short before its last checkpoint, which passes
// offline, is reported TAMPERED: cut-short.
func TestAuditWitness(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, network string }{
		{"tcp", "tcp"},
		{"unix", "unix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startDev(t)
			dir := t.TempDir()
			var addr string
			switch tt.network {
			case "tcp":
				addr = "127.0.0.1:0"
			case "unix":
				short, err := os.MkdirTemp("", "wit") // socket paths are limited
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(short) })
				addr = filepath.Join(short, "w.sock")
			}
			l, err := net.Listen(tt.network, addr)
			if err != nil {
				t.Fatal(err)
			}
			witnessFile := filepath.Join(dir, "witness.log")
			witnessListener(t, l, witnessFile)
			logPath := filepath.Join(dir, "audit.log")
			opts := map[string]string{"file_path": logPath, "checkpoint_every": "4", "witness_address": l.Addr().String(), "witness_type": tt.network}
			if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: opts}); err != nil {
				t.Fatal(err)
			}
			pk, err := s.Client.Logical().Read("sys/audit/file/public-key")
			if err != nil {
				t.Fatal(err)
			}
			key := "-public-key=" + pk.Data["public_key"].(string)
			for i := range 9 {
				if _, err := s.Client.Logical().Write("secret/data/witnessed", map[string]any{"data": map[string]any{"n": i}}); err != nil {
					t.Fatal(err)
				}
			}
			// The device sends each checkpoint before the request that
			// triggered it is answered; wait for the listener to have
			// stored them all.
			raw, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			checkpoints := strings.Count(string(raw), `"type":"checkpoint"`)
			if checkpoints < 2 {
				t.Fatalf("the file has %d checkpoints, want at least 2", checkpoints)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				w, _ := os.ReadFile(witnessFile)
				if strings.Count(string(w), "\n") >= checkpoints {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the witness holds %d lines, the file %d checkpoints", strings.Count(string(w), "\n"), checkpoints)
				}
				time.Sleep(10 * time.Millisecond)
			}

			copyPath := filepath.Join(dir, "copy.log")
			if err := os.WriteFile(copyPath, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCoffer(t, "", nil, "audit", "verify", "-witness="+witnessFile, key, copyPath)
			if code != 0 || !strings.Contains(out, "Witness:") || !strings.Contains(out, "Result:       OK") {
				t.Fatalf("verify -witness of the intact file = %d\n%s\n%s", code, out, errOut)
			}

			// Cut the copy just before its last checkpoint.
			lines := strings.SplitAfter(strings.TrimSuffix(string(raw), "\n"), "\n")
			last := 0
			for i, l := range lines {
				if strings.Contains(l, `"type":"checkpoint"`) {
					last = i
				}
			}
			cut := filepath.Join(dir, "cut.log")
			if err := os.WriteFile(cut, []byte(strings.Join(lines[:last], "")), 0o600); err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := runCoffer(t, "", nil, "audit", "verify", key, cut); code != 0 {
				t.Fatalf("offline verify of a file cut at a line boundary = %d (it cannot tell)\n%s\n%s", code, out, errOut)
			}
			code, out, errOut = runCoffer(t, "", nil, "audit", "verify", "-witness="+witnessFile, key, cut)
			if code != 2 || !strings.Contains(errOut, "TAMPERED") || !strings.Contains(errOut, "cut-short") || !strings.Contains(errOut, "its witness received a checkpoint") {
				t.Fatalf("verify -witness of a file cut short = %d\n%s\n%s", code, out, errOut)
			}
		})
	}
}
