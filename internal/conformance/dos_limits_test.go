package conformance

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// bigBodyLength is the Content-Length the attacks declare: 31 MiB, just
// under the default max_request_size.
const bigBodyLength = 31 << 20

// sendPartial opens a connection to s, sends a request declaring a
// bigBodyLength body with extra headers, then only the first prefix bytes
// of that body, and returns the connection (closed when the test ends).
func sendPartial(t testing.TB, s *server, method, path string, prefix int, header ...string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.Addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: coffer\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, bigBodyLength)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	b.WriteString("\r\n")
	b.WriteString(`{"data":{"v":"`)
	b.WriteString(strings.Repeat("a", prefix))
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readStatus reads the status line and body of the answer on conn within
// limit; it fails the test when none comes.
func readStatus(t testing.TB, conn net.Conn, limit time.Duration) (int, string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", limit, err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, body.String()
}

// TestNoTokenRefusedBeforeBody checks that a request that needs a token
// and has none (or a dead one) is refused with 403 "permission denied"
// before its body is read: the answer comes while the client has sent
// only a few bytes of a 31 MiB body, and the refusal is audited.
func TestNoTokenRefusedBeforeBody(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	auditFile := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": auditFile}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path string
		header             []string
	}{
		{"kv write without a token", "POST", "/v1/secret/data/big", nil},
		{"kv write with a dead token", "PUT", "/v1/secret/data/big", []string{"X-Vault-Token", "hvs.not-a-live-token"}},
		{"sys write without a token", "POST", "/v1/sys/policy/big", nil},
		{"unmounted path without a token", "POST", "/v1/nowhere/big", nil},
		{"sys/seal with a dead bearer token", "PUT", "/v1/sys/seal", []string{"Authorization", "Bearer dead"}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			conn := sendPartial(t, s, tt.method, tt.path, 1024, tt.header...)
			status, body := readStatus(t, conn, 5*time.Second)
			if status != http.StatusForbidden || !strings.Contains(body, "permission denied") {
				t.Errorf("%s %s = %d %s, want 403 permission denied", tt.method, tt.path, status, body)
			}
		})
	}

	// Paths that need no token still read the body: a login answers
	// only once the body is complete.
	conn := sendPartial(t, s, "POST", "/v1/auth/token/create", 16)
	if status, body := readStatus(t, conn, 5*time.Second); status != http.StatusForbidden {
		t.Errorf("token create without a token = %d %s, want 403", status, body)
	}
	if err := s.Client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	conn = sendPartial(t, s, "POST", "/v1/auth/userpass/login/alice", 16)
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 1)); err == nil || n > 0 {
		t.Errorf("a login path answered before its body was sent")
	}

	// A live token is served as before.
	if _, err := s.Client.Logical().Write("secret/data/ok", map[string]any{"data": map[string]any{"v": "1"}}); err != nil {
		t.Fatalf("write with the root token: %v", err)
	}

	// Each refusal was audited: a request and a response line naming
	// the path.
	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"secret/data/big", "sys/policy/big", "nowhere/big"} {
		if n := strings.Count(string(raw), `"path":"`+p+`"`); n < 2 {
			t.Errorf("audit log has %d lines for %s, want a request and a response", n, p)
		}
	}
}
