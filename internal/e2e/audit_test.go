package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit/trail"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// readLines parses every line of an audit file.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line is not JSON: %v: %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestAuditFileRecordsEverythingHashed(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	file := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": file}}); err != nil {
		t.Fatal(err)
	}
	const secret = "correct-horse-battery-staple"
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": secret}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.KVv2("secret").Get(t.Context(), "app")
	if err != nil || got.Data["password"] != secret {
		t.Fatal(err)
	}
	child, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	// A refused request is recorded too.
	bad, _ := api.NewClient(&api.Config{Address: s.Addr})
	bad.SetToken("cfs.not-a-token")
	bad.Logical().Read("secret/data/app")

	lines := readLines(t, file)
	var reqs, resps, errs int
	for _, l := range lines {
		switch l["type"] {
		case "request":
			reqs++
		case "response":
			resps++
			if l["error"] != nil && l["error"] != "" {
				errs++
			}
		}
	}
	if reqs < 4 || resps < 4 || errs < 1 {
		t.Errorf("audit log has %d requests, %d responses, %d errors", reqs, resps, errs)
	}
	raw, _ := os.ReadFile(file)
	for name, v := range map[string]string{"secret value": secret, "root token": s.RootToken, "child token": child.Auth.ClientToken, "child accessor": child.Auth.Accessor} {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the %s is in the audit log in plaintext", name)
		}
	}
	// sys/audit-hash finds the value's HMAC in the log.
	h, err := s.Client.Logical().Write("sys/audit-hash/file", map[string]any{"input": secret})
	if err != nil {
		t.Fatal(err)
	}
	if hash := h.Data["hash"].(string); !strings.HasPrefix(hash, "hmac-sha256:") || !bytes.Contains(raw, []byte(hash)) {
		t.Errorf("audit-hash %q not found in the log", hash)
	}
	// The chain verifies with the device's public key.
	pk, err := s.Client.Logical().Read("sys/audit/file/public-key")
	if err != nil {
		t.Fatal(err)
	}
	keyBytes, _ := base64.StdEncoding.DecodeString(pk.Data["public_key"].(string))
	rep, err := trail.Verify(bytes.NewReader(raw), ed25519.PublicKey(keyBytes))
	if err != nil || rep.Problem != nil || rep.Entries != len(lines)-rep.Checkpoints {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	list, err := s.Client.Sys().ListAudit()
	if err != nil || list["file/"] == nil || list["file/"].Type != "file" {
		t.Errorf("ListAudit = %v, %v", list, err)
	}
	if err := s.Client.Sys().DisableAudit("file"); err != nil {
		t.Fatal(err)
	}
}

// TestAuditFailsClosed: when every device fails, requests are refused with
// 500 and nothing is returned; one working device lets them through.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "x", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	// A socket device whose peer is gone.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Enabling it works, but its own response can no longer be recorded
	// by any device: that answer is already a 500.
	err = s.Client.Sys().EnableAuditWithOptions("dead", &api.EnableAuditOptions{Type: "socket", Options: map[string]string{"address": addr, "write_timeout": "1s"}})
	if statusCode(err) != 500 {
		t.Fatalf("enable a dead socket device: %v, want the response refused with 500", err)
	}
	_, err = s.Client.KVv2("secret").Get(t.Context(), "x")
	if statusCode(err) != 500 {
		t.Fatalf("read with only a failing audit device: %v, want 500", err)
	}
	if strings.Contains(fmt.Sprint(err), `"v"`) {
		t.Error("the refused response leaked data")
	}
	// With one working device beside the dead one, requests go through.
	// (On the first server no request can enable it any more: the audit
	// trail fails closed.)
	dir := t.TempDir()
	s2 := testserver.StartWith(t, testserver.Options{
		AuditAnyDir: true,
		ExtraConfig: fmt.Sprintf("audit \"file\" \"good\" {\n file_path = %q\n}\naudit \"socket\" \"dead\" {\n address = %q\n write_timeout = \"1s\"\n}\n", filepath.Join(dir, "a.log"), addr),
	})
	if _, err := s2.Client.KVv2("secret").Put(t.Context(), "x", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("write with one working device: %v", err)
	}
	if err := s2.Client.Sys().DisableAudit("good"); statusCode(err) != 400 {
		t.Errorf("disable a configured device error = %v, want 400", err)
	}
}

// TestAuditSocketThatStopsReading: a peer that accepts but never reads
// must not hang requests past the device's write timeout.
func TestAuditSocketThatStopsReading(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never read
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	dir := t.TempDir()
	s := testserver.StartWith(t, testserver.Options{
		ExtraConfig: fmt.Sprintf("audit \"socket\" \"stuck\" {\n address = %q\n write_timeout = \"1s\"\n}\naudit \"file\" \"good\" {\n file_path = %q\n}\n", ln.Addr().String(), filepath.Join(dir, "a.log")),
	})
	big := strings.Repeat("x", 256<<10)
	// Enough data to fill the socket's buffers many times over: the stuck
	// device times out on every write, the file device records them, and
	// every request completes. A hung request never completes, so each one
	// gets a deadline far above the 1 s write timeout (a loaded machine
	// must not fail the test); the total time is not checked.
	for i := range 40 {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		_, err := s.Client.KVv2("secret").Put(ctx, fmt.Sprintf("big%d", i), map[string]any{"v": big})
		cancel()
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

// TestNoSecretInServerLog runs a broad scenario with a debug-level server
// log and an audit file, then looks for every secret it used in both.
func TestNoSecretInServerLog(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.log")
	s := testserver.StartWith(t, testserver.Options{Logger: logger, ExtraConfig: fmt.Sprintf("audit \"file\" \"f\" {\n file_path = %q\n}\n", auditFile)})
	cl := s.Client
	secrets := map[string]string{"root token": s.RootToken, "unseal key": s.UnsealKeys[0]}
	const kvValue, password, plaintext = "kv-secret-value-9f8e7d", "userpass-password-1a2b3c", "transit-plaintext-5d6e7f"
	secrets["kv value"], secrets["password"] = kvValue, password
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"db_password": kvValue}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "auth/userpass/users/alice", map[string]any{"password": password})
	anon, _ := api.NewClient(&api.Config{Address: s.Addr})
	anon.ClearToken()
	login, err := anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": password})
	if err != nil {
		t.Fatal(err)
	}
	secrets["login token"] = login.Auth.ClientToken
	anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "wrong-" + password})
	if err := cl.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "auth/approle/role/r", map[string]any{"token_policies": "default"})
	sid := mustWrite(t, cl, "auth/approle/role/r/secret-id", nil)
	secrets["secret id"] = sid.Data["secret_id"].(string)
	if err := cl.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "transit/keys/k", nil)
	mustWrite(t, cl, "transit/encrypt/k", map[string]any{"plaintext": base64.StdEncoding.EncodeToString([]byte(plaintext))})
	secrets["transit plaintext"] = base64.StdEncoding.EncodeToString([]byte(plaintext))
	wrapped := clientWrap(t, s, "1m")
	w, err := wrapped.Logical().Read("secret/data/app")
	if err != nil {
		t.Fatal(err)
	}
	secrets["wrapping token"] = w.WrapInfo.Token
	cl.Logical().Unwrap(w.WrapInfo.Token)
	cl.Logical().Unwrap(w.WrapInfo.Token) // a second, failing unwrap

	auditRaw, _ := os.ReadFile(auditFile)
	logRaw := logBuf.Bytes()
	if len(auditRaw) == 0 || len(logRaw) == 0 {
		t.Fatalf("nothing recorded: audit %d bytes, log %d bytes", len(auditRaw), len(logRaw))
	}
	if !bytes.Contains(logRaw, []byte(`"msg":"request","component":"http","request_id":`)) {
		t.Error("the server log has no per-request lines with request IDs")
	}
	for name, v := range secrets {
		if bytes.Contains(logRaw, []byte(v)) {
			t.Errorf("the %s appears in the server log", name)
		}
		if bytes.Contains(auditRaw, []byte(v)) {
			t.Errorf("the %s appears in the audit log", name)
		}
	}
}

func clientWrap(t *testing.T, s *testserver.Server, ttl string) *api.Client {
	t.Helper()
	cl, _ := api.NewClient(&api.Config{Address: s.Addr})
	cl.SetToken(s.RootToken)
	cl.SetWrappingLookupFunc(func(string, string) string { return ttl })
	return cl
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
