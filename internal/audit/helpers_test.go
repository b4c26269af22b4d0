package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// Raw secrets that must never reach an HMACed log.
const (
	secretToken     = "hvs.SECRET-client-token-1234"
	secretAccessor  = "accessor-SECRET-5678"
	secretPassword  = "correct horse battery staple"
	secretNested    = "nested-SECRET-value"
	secretMeta      = "meta-SECRET-value"
	secretRespValue = "response-SECRET-value"
	secretNewToken  = "hvs.SECRET-new-login-token"
	secretWrapToken = "hvs.SECRET-wrapping-token"
)

var allSecrets = []string{secretToken, secretAccessor, secretPassword, secretNested, secretMeta, secretRespValue, secretNewToken, secretWrapToken}

func testKeys(t testing.TB) audit.Keys {
	t.Helper()
	k, err := audit.GenerateKeys()
	if err != nil {
		t.Fatalf("GenerateKeys() = %v", err)
	}
	return k
}

// fixedClock is a clock that tells one time.
type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var testTime = time.Date(2025, 6, 5, 16, 10, 22, 292517000, time.UTC)

// sampleEntry returns an entry full of secrets, with its response.
func sampleEntry() *audit.Entry {
	return &audit.Entry{
		Time: testTime,
		Auth: &audit.Auth{
			ClientToken:   secretToken,
			Accessor:      secretAccessor,
			DisplayName:   "userpass-alice",
			Policies:      []string{"default", "dev"},
			TokenPolicies: []string{"default", "dev"},
			Metadata:      map[string]string{"username": secretMeta},
			EntityID:      "entity-1",
			TokenType:     "service",
			TokenTTL:      time.Hour,
		},
		Request: audit.Request{
			ID:                  "req-1",
			Operation:           "update",
			MountType:           "kv",
			MountPoint:          "secret/",
			ClientToken:         secretToken,
			ClientTokenAccessor: secretAccessor,
			Path:                "secret/data/app",
			Data:                json.RawMessage(`{"data": {"password": "` + secretPassword + `", "list": ["` + secretNested + `", 7, true, null]}, "count": 3}`),
			RemoteAddress:       "127.0.0.1",
		},
		Response: &audit.Response{
			MountType: "kv",
			Data:      json.RawMessage(`{"value": "` + secretRespValue + `", "version": 2}`),
			LeaseID:   "secret/creds/abc",
			Auth:      &audit.Auth{ClientToken: secretNewToken, Accessor: "new-accessor", Policies: []string{"default"}},
			WrapInfo:  &audit.WrapInfo{Token: secretWrapToken, Accessor: "wrap-accessor", TTL: time.Minute, CreationTime: testTime, CreationPath: "secret/data/app"},
		},
	}
}

// newFileDevice opens a file device on a new file in a temporary
// directory, closed at the end of the test.
func newFileDevice(t testing.TB, o audit.DeviceOptions) (*audit.Device, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatalf("OpenFile(%q) = %v", path, err)
	}
	o.Sink = f
	if o.Path == "" {
		o.Path = "file/"
	}
	if o.Keys.HMAC == nil {
		o.Keys = testKeys(t)
	}
	d, err := audit.NewDevice(o)
	if err != nil {
		t.Fatalf("NewDevice() = %v", err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, path
}

// readLines returns the lines of the file at path, checking that each is
// a JSON object ending in a newline.
func readLines(t testing.TB, path string) ([][]byte, []audit.Line) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	var raws [][]byte
	var lines []audit.Line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l audit.Line
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %d %s: %v", len(lines)+1, sc.Bytes(), err)
		}
		raws = append(raws, bytes.Clone(sc.Bytes()))
		lines = append(lines, l)
	}
	return raws, lines
}

// failingSink fails every write.
type failingSink struct{}

func (failingSink) Type() string                        { return "socket" }
func (failingSink) Write(context.Context, []byte) error { return errors.New("disk on fire") }
func (failingSink) Reload() error                       { return nil }
func (failingSink) Close() error                        { return nil }

// stuckSink blocks every write until the test ends.
type stuckSink struct{ release chan struct{} }

func (stuckSink) Type() string { return "socket" }
func (s stuckSink) Write(context.Context, []byte) error {
	<-s.release
	return errors.New("released")
}
func (stuckSink) Reload() error { return nil }
func (stuckSink) Close() error  { return nil }

// memSink keeps lines in memory.
type memSink struct{ buf bytes.Buffer }

func (*memSink) Type() string { return "socket" }
func (m *memSink) Write(_ context.Context, line []byte) error {
	m.buf.Write(line)
	return nil
}
func (*memSink) Reload() error { return nil }
func (*memSink) Close() error  { return nil }
