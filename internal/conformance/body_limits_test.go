package conformance

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// TestListenerBodyLimitKeys checks the listener keys max_request_body_budget,
// request_body_grace and min_request_body_rate on a real server: a body
// beyond the listener's budget answers 503 with Retry-After, and a stalled
// body is cut (408) after the configured 1 s grace, long before the 10 s
// default.
func TestListenerBodyLimitKeys(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	src := fmt.Sprintf(`storage "inmem" {}
listener "tcp" {
  address                 = %q
  tls_disable             = true
  max_request_body_budget = 65536
  request_body_grace      = "1s"
  min_request_body_rate   = 1024
}
`, addr)
	s := startProcess(t, []string{"server", "-config=" + writeConfig(t, src)}, nil, "http://"+addr)
	init, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	root := init.RootToken

	send := func(t *testing.T, length int, body string) net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "PUT /v1/sys/policy/big HTTP/1.1\r\nHost: coffer\r\nX-Vault-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", root, length, body)
		return conn
	}
	t.Run("over the budget", func(t *testing.T) {
		conn := send(t, 100_000, `{"policy":"`)
		status, body := readStatus(t, conn, 5*time.Second)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "server busy") {
			t.Errorf("a 100,000-byte body over a 65,536-byte budget = %d %s, want 503 server busy", status, body)
		}
	})
	t.Run("within the budget", func(t *testing.T) {
		policy := `{"policy":"path \"secret/*\" { capabilities = [\"read\"] }"}`
		conn := send(t, len(policy), policy)
		if status, body := readStatus(t, conn, 5*time.Second); status != http.StatusNoContent && status != http.StatusOK {
			t.Errorf("a small body = %d %s, want it served", status, body)
		}
	})
	t.Run("stalled after the grace", func(t *testing.T) {
		conn := send(t, 1000, `{`)
		// The default grace is 10 s: an answer within 8 s shows the
		// configured 1 s applies.
		if status, body := readStatus(t, conn, 8*time.Second); status != http.StatusRequestTimeout {
			t.Errorf("a stalled body = %d %s, want 408", status, body)
		}
	})
	// The seal family is served without a token and audited by the HTTP
	// layer itself: its bodies must be cut the same way.
	for _, path := range []string{"/v1/sys/unseal", "/v1/sys/init"} {
		t.Run("stalled without a token "+path, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: coffer\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", path)
			if status, body := readStatus(t, conn, 8*time.Second); status != http.StatusRequestTimeout {
				t.Errorf("a stalled body to %s = %d %s, want 408", path, status, body)
			}
		})
	}
}
