package conformance

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// ignoredWarning is Vault's warning for body members an endpoint does not
// know, in its exact words.
func ignoredWarning(names ...string) string {
	return "Endpoint ignored these unrecognized parameters: [" + strings.Join(names, " ") + "]"
}

// TestUnknownBodyFieldsIgnored checks that, as in Vault, a member an
// endpoint does not know is ignored and named in a warning, while a wrong
// value for a known member stays a 400 naming it.
func TestUnknownBodyFieldsIgnored(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	c := s.Client.Logical()

	sec, err := c.Write("secret/data/unknown", map[string]any{"data": map[string]any{"a": "1"}, "colour": "red", "options": map[string]any{"bogus": 1}})
	if err != nil {
		t.Fatalf("kv write with unknown fields: %v", err)
	}
	if want := []string{ignoredWarning("colour", "options.bogus")}; !slices.Equal(sec.Warnings, want) {
		t.Errorf("warnings = %q, want %q", sec.Warnings, want)
	}
	got, err := s.Client.KVv2("secret").Get(t.Context(), "unknown")
	if err != nil || got.Data["a"] != "1" {
		t.Fatalf("read back = %v, %v; want a=1", got, err)
	}

	_, err = c.Write("secret/config", map[string]any{"max_versions": "many"})
	wantError(t, "a wrong type for a known field", err, 400, `"max_versions"`)

	// An endpoint that answers no data answers 204 and drops the warning,
	// as Vault does.
	r := s.raw(t, "POST", "/v1/secret/config", rootToken, `{"max_versions":3,"bogus":1}`)
	if r.Status != http.StatusNoContent {
		t.Errorf("config with an unknown field: %d %s, want 204", r.Status, r.Body)
	}

	// A restriction Coffer does not implement is refused, not ignored.
	if err := s.Client.Sys().EnableAuthWithOptions("cert", &api.EnableAuthOptions{Type: "cert"}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Write("auth/cert/certs/web", map[string]any{"certificate": "x", "ocsp_enabled": true})
	wantError(t, "ocsp_enabled", err, 400, `"ocsp_enabled" is not supported`)
}

// TestNodeVaultStyleBodies sends what node-vault sends: the path's
// arguments repeated in the body (name, mount_point). Vault takes the
// path's value and answers as usual.
func TestNodeVaultStyleBodies(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	steps := []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/v1/sys/policy/app", `{"name":"app","rules":"path \"secret/*\" { capabilities = [\"read\"] }"}`, http.StatusNoContent},
		{"POST", "/v1/sys/mounts/transit", `{"mount_point":"transit","type":"transit","description":"","config":{}}`, http.StatusNoContent},
		{"POST", "/v1/sys/auth/approle", `{"mount_point":"approle","type":"approle","description":""}`, http.StatusNoContent},
		{"POST", "/v1/transit/keys/k", `{"name":"k"}`, 0},
		{"POST", "/v1/transit/encrypt/k", `{"name":"k","plaintext":"aGVsbG8="}`, http.StatusOK},
	}
	for _, st := range steps {
		r := s.raw(t, st.method, st.path, rootToken, st.body)
		if r.Status >= 300 || (st.want != 0 && r.Status != st.want) {
			t.Errorf("%s %s: %d %s, want %d", st.method, st.path, r.Status, r.Body, st.want)
		}
		if strings.Contains(r.Body, "unrecognized") {
			t.Errorf("%s %s: %s warns of a path argument repeated in the body", st.method, st.path, r.Body)
		}
	}
	p, err := s.Client.Sys().GetPolicy("app")
	if err != nil || !strings.Contains(p, `secret/*`) {
		t.Errorf("policy written through node-vault's body = %q, %v", p, err)
	}
}

// wireLimitedServer starts a server whose max_request_size is limit,
// initializes it with one key share, unseals it and returns it with the
// root token set on its client.
func wireLimitedServer(t *testing.T, limit int) *server {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "coffer.hcl")
	src := fmt.Sprintf("storage \"inmem\" {}\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\nmax_request_size = %d\n", addr, limit)
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startProcess(t, []string{"server", "-config=" + cfg}, nil, "http://"+addr)
	init, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	s.Client.SetToken(init.RootToken)
	return s
}

// TestRequestBodyTooLarge checks that a body over max_request_size is
// answered 413 with Vault's words, with or without a token, when the
// client waits for 100-continue, and when the body is chunked.
func TestRequestBodyTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 4096
	s := wireLimitedServer(t, limit)
	big := `{"data":{"v":"` + strings.Repeat("x", 2*limit) + `"}}`
	const words = "request body too large"

	for _, tok := range []string{s.Client.Token(), ""} {
		r := s.raw(t, "POST", "/v1/secret/data/big", tok, big)
		if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, words) {
			t.Errorf("token %v: %d %s, want 413 %q", tok != "", r.Status, r.Body, words)
		}
	}
	if _, err := s.Client.Logical().Write("sys/mounts/kv", map[string]any{"type": "kv", "description": strings.Repeat("d", 2*limit)}); err != nil {
		wantError(t, "official client", err, http.StatusRequestEntityTooLarge, words)
	} else {
		t.Error("official client: an oversized body was accepted")
	}

	t.Run("expect 100-continue", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		// The headers only: a client that honours Expect sends the body
		// after "100 Continue", which must not come.
		fmt.Fprintf(conn, "PUT /v1/secret/data/big HTTP/1.1\r\nHost: %s\r\nX-Vault-Token: %s\r\nContent-Type: application/json\r\n"+
			"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", u.Host, s.Client.Token(), 10*limit)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), words) {
			t.Errorf("%d %s, want 413 %q", resp.StatusCode, body, words)
		}
	})

	t.Run("chunked", func(t *testing.T) {
		t.Parallel()
		pr, pw := io.Pipe()
		go func() {
			for range 4 {
				if _, err := pw.Write([]byte(big)); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, err := http.NewRequestWithContext(t.Context(), "PUT", s.Addr+"/v1/secret/data/big", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Vault-Token", s.Client.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if req.ContentLength != -1 && req.ContentLength != 0 {
			t.Fatalf("the request was not chunked (length %d)", req.ContentLength)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), words) {
			t.Errorf("%d %s, want 413 %q", resp.StatusCode, body, words)
		}
	})
}
