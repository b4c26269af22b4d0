package audit_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// TestWitnessSyslog sends a device's checkpoints to a syslog witness on a
// unix datagram socket: each arrives as one message, a syslog header and
// then the checkpoint line exactly as the file holds it.
func TestWitnessSyslog(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "witness") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "log")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	logPath := filepath.Join(t.TempDir(), "audit.log")
	c, err := audit.ParseConfig("file", map[string]string{"file_path": logPath, "checkpoint_every": "2", "witness_address": sock, "witness_type": "syslog"})
	if err != nil {
		t.Fatal(err)
	}
	c.File.AllowAnyDir = true
	d, err := audit.Open(c, audit.OpenParams{Path: "file/", Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d.Log(t.Context(), audit.TypeRequest, sampleEntry()); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 4096)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := pc.Read(buf)
	if err != nil {
		t.Fatalf("no checkpoint reached the witness: %v", err)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(file), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("the file has %d lines, want 2 entries and a checkpoint:\n%s", len(lines), file)
	}
	if got, want := string(buf[:n]), "<37>coffer-audit: "+lines[2]; got != want {
		t.Errorf("witness message = %q, want %q", got, want)
	}
}

// TestWitnessDownKeepsLogging checks that a witness that cannot be reached
// fails no entry: the checkpoint is in the file all the same.
func TestWitnessDownKeepsLogging(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	logPath := filepath.Join(t.TempDir(), "audit.log")
	c, err := audit.ParseConfig("file", map[string]string{"file_path": logPath, "checkpoint_every": "1", "witness_address": addr, "witness_write_timeout": "1s"})
	if err != nil {
		t.Fatal(err)
	}
	c.File.AllowAnyDir = true
	d, err := audit.Open(c, audit.OpenParams{Path: "file/", Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Log(t.Context(), audit.TypeRequest, sampleEntry()); err != nil {
		t.Fatalf("Log with the witness down = %v, want nil", err)
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(file, []byte(`"type":"checkpoint"`)) {
		t.Errorf("no checkpoint in the file:\n%s", file)
	}
}
