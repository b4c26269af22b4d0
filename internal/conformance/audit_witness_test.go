package conformance

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// countIn polls the file at path until it holds at least n occurrences of
// what, and returns how many it holds; it fails the test after 10 s.
func countIn(t *testing.T, path, what string, n int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if got := strings.Count(string(b), what); got >= n {
			return got
		} else if time.Now().After(deadline) {
			t.Fatalf("%s holds %d of %q, want at least %d", path, got, what, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAuditWitness enables a file audit device whose checkpoints also go to
// a witness (a TCP or unix socket the test listens on), through the API or
// in the configuration file, and checks `coffer audit verify -witness`:
// the file passes against what the witness received, and a copy cut short
// before its last checkpoint, which passes offline, is reported TAMPERED:
// cut-short.
func TestAuditWitness(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, network string
		fromConfig    bool // an audit block in the file; checkpoints on SIGHUP
	}{
		{"tcp", "tcp", false},
		{"unix", "unix", false},
		{"configuration file", "tcp", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
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
			var s *server
			if tt.fromConfig {
				s = startDev(t, "-config="+writeConfig(t, fmt.Sprintf(`
storage "inmem" {}
listener "tcp" {
  address     = %q
  tls_disable = true
}
audit "file" "file" {
  file_path       = %q
  witness_address = %q
}
`, freeAddr(t), logPath, l.Addr().String())))
			} else {
				s = startDev(t)
				opts := map[string]string{"file_path": logPath, "checkpoint_every": "4", "witness_address": l.Addr().String(), "witness_type": tt.network}
				if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: opts}); err != nil {
					t.Fatal(err)
				}
			}
			pk, err := s.Client.Logical().Read("sys/audit/file/public-key")
			if err != nil {
				t.Fatal(err)
			}
			key := "-public-key=" + pk.Data["public_key"].(string)
			const checkpoint = `"type":"checkpoint"`
			for round := range 2 {
				for i := range 9 {
					if _, err := s.Client.Logical().Write("secret/data/witnessed", map[string]any{"data": map[string]any{"n": i}}); err != nil {
						t.Fatal(err)
					}
				}
				if tt.fromConfig {
					// Every 1000 entries is too far: a reload (SIGHUP)
					// checkpoints too.
					if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
						t.Fatal(err)
					}
					countIn(t, logPath, checkpoint, round+1)
				}
			}
			// The device sends each checkpoint once the file has it; wait
			// for the listener to have stored them all.
			checkpoints := countIn(t, logPath, checkpoint, 2)
			countIn(t, witnessFile, "\n", checkpoints)
			raw, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
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
