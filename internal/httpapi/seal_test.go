package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// rawRequest sends one HTTP request and returns the status and body.
func rawRequest(t *testing.T, method, url, token, body string, header map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func statusCode(err error) int {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		return re.StatusCode
	}
	return 0
}

func TestInitUnsealSeal(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{Uninitialized: true})
	sys := s.Client.Sys()

	ok, err := sys.InitStatus()
	if err != nil || ok {
		t.Fatalf("InitStatus() = %v, %v; want false, nil", ok, err)
	}
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/health", "", "", nil); code != 501 {
		t.Errorf("health before init = %d, want 501", code)
	}
	// Bad init requests change nothing.
	for _, req := range []*api.InitRequest{
		{SecretShares: 3, SecretThreshold: 5},
		{SecretShares: 0, SecretThreshold: 0},
		{SecretShares: 3, SecretThreshold: 1},
		{SecretShares: 300, SecretThreshold: 2},
		{SecretShares: 3, SecretThreshold: 2, PGPKeys: []string{"x", "y", "z"}},
	} {
		if _, err := sys.Init(req); statusCode(err) != 400 {
			t.Errorf("Init(%+v) error = %v, want 400", req, err)
		}
	}
	if ok, _ := sys.InitStatus(); ok {
		t.Fatal("a refused init left the server initialized")
	}

	res, err := sys.Init(&api.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if len(res.Keys) != 5 || len(res.KeysB64) != 5 || !strings.HasPrefix(res.RootToken, "cfs.") {
		t.Fatalf("Init() = %d keys, %d b64 keys, token prefix %q", len(res.Keys), len(res.KeysB64), res.RootToken[:4])
	}
	if _, err := sys.Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1}); statusCode(err) != 400 {
		t.Errorf("second Init error = %v, want 400", err)
	}

	st, err := sys.SealStatus()
	if err != nil || !st.Sealed || !st.Initialized || st.T != 3 || st.N != 5 || st.Progress != 0 {
		t.Fatalf("SealStatus() = %+v, %v", st, err)
	}
	if code, body := rawRequest(t, "GET", s.Addr+"/v1/secret/data/x", res.RootToken, "", nil); code != 503 || !strings.Contains(body, "sealed") {
		t.Errorf("request while sealed = %d %s, want 503 sealed", code, body)
	}
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/health", "", "", nil); code != 503 {
		t.Errorf("health while sealed = %d, want 503", code)
	}
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/health?sealedcode=200", "", "", nil); code != 200 {
		t.Errorf("health?sealedcode=200 while sealed = %d, want 200", code)
	}

	// Progress, reset, and hex or base64 keys.
	st, err = sys.Unseal(res.Keys[0])
	if err != nil || st.Progress != 1 || !st.Sealed {
		t.Fatalf("Unseal(key 0) = %+v, %v", st, err)
	}
	if st, err = sys.UnsealWithOptions(&api.UnsealOpts{Reset: true}); err != nil || st.Progress != 0 {
		t.Fatalf("ResetUnseal() = %+v, %v", st, err)
	}
	// A malformed key is refused and does not count.
	if _, err := sys.Unseal("not a key!"); statusCode(err) != 400 {
		t.Errorf("Unseal(garbage) error = %v, want 400", err)
	}
	// Three shares from another server's split never unseal this one.
	other := testserver.StartWith(t, testserver.Options{Uninitialized: true})
	ores, err := other.Client.Sys().Init(&api.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for _, k := range ores.KeysB64[:3] {
		_, lastErr = sys.Unseal(k)
	}
	if statusCode(lastErr) != 400 {
		t.Errorf("unseal with foreign shares: last error = %v, want 400", lastErr)
	}
	if st, _ := sys.SealStatus(); !st.Sealed || st.Progress != 0 {
		t.Fatalf("after foreign shares: %+v, want sealed with progress 0", st)
	}

	for i, k := range []string{res.KeysB64[4], res.Keys[2], res.KeysB64[0]} {
		st, err = sys.Unseal(k)
		if err != nil {
			t.Fatalf("Unseal #%d: %v", i, err)
		}
	}
	if st.Sealed {
		t.Fatalf("still sealed after threshold shares: %+v", st)
	}
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/health", "", "", nil); code != 200 {
		t.Errorf("health when unsealed = %d, want 200", code)
	}
	if code, _ := rawRequest(t, "HEAD", s.Addr+"/v1/sys/health?activecode=299", "", "", nil); code != 299 {
		t.Errorf("HEAD health?activecode=299 = %d", code)
	}
	h, err := sys.Health()
	if err != nil || !h.Initialized || h.Sealed {
		t.Errorf("Health() = %+v, %v", h, err)
	}
	leader, err := sys.Leader()
	if err != nil || leader.HAEnabled {
		t.Errorf("Leader() = %+v, %v", leader, err)
	}

	cl, _ := api.NewClient(&api.Config{Address: s.Addr})
	cl.SetToken(res.RootToken)
	if _, err := cl.Logical().Read("sys/key-status"); err != nil {
		t.Fatalf("key-status after unseal: %v", err)
	}
	// Sealing needs a token.
	noTok, _ := api.NewClient(&api.Config{Address: s.Addr})
	noTok.ClearToken()
	if err := noTok.Sys().Seal(); statusCode(err) != 403 {
		t.Errorf("Seal without token error = %v, want 403", err)
	}
	if err := cl.Sys().Seal(); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if st, err := cl.Sys().SealStatus(); err != nil || !st.Sealed {
		t.Fatalf("after Seal: %+v, %v; want sealed", st, err)
	}
	if _, err := cl.Logical().Read("sys/key-status"); statusCode(err) != 503 {
		t.Errorf("read after seal error = %v, want 503", err)
	}
}

func TestErrorBodiesAreVaultShaped(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tests := []struct {
		name, method, path, token, body string
		header                          map[string]string
		want                            int
		wantMsg                         string
	}{
		{"no token", "GET", "/v1/secret/data/a", "", "", nil, 403, "permission denied"},
		{"unknown token", "GET", "/v1/secret/data/a", "cfs.nope", "", nil, 403, "permission denied"},
		{"unknown path", "GET", "/v1/nothing/here", s.RootToken, "", nil, 404, "no handler for route"},
		{"malformed json", "POST", "/v1/secret/data/a", s.RootToken, `{"data":`, nil, 400, "JSON"},
		{"json array body", "POST", "/v1/secret/data/a", s.RootToken, `[1,2]`, nil, 400, "JSON object"},
		{"dot dot", "GET", "/v1/secret/../sys/mounts", s.RootToken, "", nil, 400, "segments"},
		{"encoded dot dot", "GET", "/v1/secret/%2e%2e/sys/mounts", s.RootToken, "", nil, 400, "segments"},
		{"empty segment", "GET", "/v1/secret//data/a", s.RootToken, "", nil, 400, "empty path segment"},
		{"bad method", "OPTIONS", "/v1/secret/data/a", s.RootToken, "", nil, 405, "unsupported method"},
		{"patch without merge type", "PATCH", "/v1/secret/data/a", s.RootToken, `{"data":{}}`, map[string]string{"Content-Type": "application/json"}, 415, "merge-patch"},
		{"not v1", "GET", "/v2/secret/data/a", s.RootToken, "", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := rawRequest(t, tt.method, s.Addr+tt.path, tt.token, tt.body, tt.header)
			if code != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
			var eb struct {
				Errors []string `json:"errors"`
			}
			if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Errors == nil {
				t.Fatalf("body %q is not {\"errors\":[...]}: %v", body, err)
			}
			if tt.wantMsg != "" && (len(eb.Errors) == 0 || !strings.Contains(eb.Errors[0], tt.wantMsg)) {
				t.Errorf("errors = %q, want one containing %q", eb.Errors, tt.wantMsg)
			}
		})
	}
}

func TestBearerTokenAndBodyLimit(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{MaxRequestSize: 1024})
	code, _ := rawRequest(t, "GET", s.Addr+"/v1/sys/mounts", "", "", map[string]string{"Authorization": "Bearer " + s.RootToken})
	if code != 200 {
		t.Errorf("Authorization: Bearer = %d, want 200", code)
	}
	big := `{"data":{"k":"` + strings.Repeat("x", 2048) + `"}}`
	code, body := rawRequest(t, "POST", s.Addr+"/v1/secret/data/big", s.RootToken, big, nil)
	if code != 413 || !strings.Contains(body, "http: request body too large") {
		t.Errorf("oversized body = %d %s, want 413 with Vault's words", code, body)
	}
	if code, _ := rawRequest(t, "GET", s.Addr+"/v1/secret/data/big", s.RootToken, "", nil); code != 404 {
		t.Errorf("after refused write, read = %d, want 404 (nothing stored)", code)
	}
}
