package trail_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

var baseTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testEntry is entry i of a generated log; search tests filter with the
// same rules.
func testEntry(i int) *audit.Entry {
	paths := []string{"secret/data/a", "secret/data/b", "auth/userpass/login/bob"}
	ops := []string{"read", "update"}
	e := &audit.Entry{
		Time: baseTime.Add(time.Duration(i) * time.Minute),
		Auth: &audit.Auth{
			ClientToken: fmt.Sprintf("token-%d", i%2),
			Accessor:    fmt.Sprintf("acc-%d", i%2),
			EntityID:    fmt.Sprintf("ent-%d", i%2),
			Policies:    []string{"default"},
		},
		Request: audit.Request{
			ID:        fmt.Sprintf("req-%d", i),
			Operation: ops[i%2],
			Path:      paths[i%3],
			Data:      json.RawMessage(fmt.Sprintf(`{"value":"value-%d"}`, i)),
		},
		Response: &audit.Response{Data: json.RawMessage(`{"ok":"yes"}`)},
	}
	if i%4 == 3 {
		e.Error = "permission denied"
		e.Response = nil
	}
	return e
}

// writeLog writes n entries through a file device with a checkpoint every
// 4 entries, closes it, and returns the file's lines (without newlines),
// the device's public key and its HMAC function.
func writeLog(t testing.TB, n int, typ string) (lines [][]byte, pub ed25519.PublicKey, hash func(string) string) {
	t.Helper()
	d, finish := openLog(t)
	for i := range n {
		if err := d.Log(t.Context(), typ, testEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	return finish(), d.PublicKey(), d.HashValue
}

// openLog opens a file device on a new file with a checkpoint every 4
// entries; finish closes the device and returns the file's lines
// (without newlines).
func openLog(t testing.TB) (d *audit.Device, finish func() [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	d, err = audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Keys: keys, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	return d, func() [][]byte {
		t.Helper()
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	}
}

// join writes lines back as a file.
func join(lines [][]byte) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// cloneLines deep-copies lines so a test can change them.
func cloneLines(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = bytes.Clone(l)
	}
	return out
}
