package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestAPIProxyAddsTokenAndCachesLeases runs the agent's API proxy in front
// of a real server: a client without a token reads through it with the
// agent's token, and a leased database credential read twice is served
// once (the second answer comes from the cache, with the same user).
func TestAPIProxyAddsTokenAndCachesLeases(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	s := testserver.Start(t)
	setUpDatabase(t, s.Client, d, "1m", "2m")
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "app", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, s.RootToken)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &logBuffer{}
	startAgent(t, fmt.Sprintf(`
vault {
  address = %q
}
auto_auth {
  method "token_file" {
    config = { token_file_path = %q }
  }
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_proxy {
  use_auto_auth_token = true
}
`, s.Addr, tokenFile, addr), logs)

	get := func(path string) (int, http.Header, map[string]any) {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/v1/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(body, &m)
		return resp.StatusCode, resp.Header, m
	}
	var code int
	waitFor(t, 30*time.Second, "the proxy to answer", func() bool {
		code, _, _ = get("secret/data/app")
		return code == 200
	})
	code, h1, first := get("database/creds/app")
	if code != 200 || first["lease_id"] == "" {
		t.Fatalf("creds through the proxy = %d %v", code, first)
	}
	code, h2, second := get("database/creds/app")
	if code != 200 || h2.Get("X-Cache") != "HIT" || h1.Get("X-Cache") == "HIT" {
		t.Fatalf("second creds read = %d, X-Cache %q (first %q)", code, h2.Get("X-Cache"), h1.Get("X-Cache"))
	}
	u1 := first["data"].(map[string]any)["username"]
	u2 := second["data"].(map[string]any)["username"]
	if u1 != u2 || first["lease_id"] != second["lease_id"] {
		t.Errorf("the cached answer differs: %v / %v", u1, u2)
	}
	// Only one database user was made.
	if !d.UserExists(t, u1.(string)) {
		t.Errorf("user %v does not exist", u1)
	}
	if strings.Contains(logs.String(), s.RootToken) {
		t.Error("the agent logged its token")
	}
}
