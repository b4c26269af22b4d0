package conformance

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// startInitialized starts `coffer server` on in-memory storage (not dev
// mode), initializes it with shares key shares and the given threshold,
// and returns it sealed with the shares (hex) and the root token.
func startInitialized(t *testing.T, shares, threshold int) (*server, []string, string) {
	t.Helper()
	addr := freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "coffer.hcl")
	src := "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"" + addr + "\"\n  tls_disable = true\n}\n"
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startProcess(t, []string{"server", "--config", cfg}, nil, "http://"+addr)
	res, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: shares, SecretThreshold: threshold})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	return s, res.Keys, res.RootToken
}

// TestSealedWords checks that a sealed server answers with Vault's exact
// words, which Vault's and OpenBao's command lines and client libraries
// match on: "Vault is sealed" with 503, for sys/leader and for any other
// call.
func TestSealedWords(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if err := s.Client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, path string
	}{
		{http.MethodGet, "/v1/sys/leader"},
		{http.MethodGet, "/v1/secret/data/x"},
		{http.MethodGet, "/v1/sys/mounts"},
		{http.MethodPost, "/v1/auth/token/lookup-self"},
		{http.MethodPut, "/v1/sys/seal"},
	} {
		r := s.raw(t, tt.method, tt.path, rootToken, "")
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"Vault is sealed"`) {
			t.Errorf("%s %s on a sealed server = %d %s, want 503 with \"Vault is sealed\"", tt.method, tt.path, r.Status, r.Body)
		}
	}
	_, err := s.Client.Sys().Leader()
	wantError(t, "sys/leader through the client", err, http.StatusServiceUnavailable, "Vault is sealed")
}

// TestUninitializedWords checks Vault's words for a server that is not
// initialized yet, and for initializing twice.
func TestUninitializedWords(t *testing.T) {
	t.Parallel()
	s, keys, _ := startInitialized(t, 1, 1)
	_, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	wantError(t, "init twice", err, http.StatusBadRequest, "Vault is already initialized")
	if _, err := s.Client.Sys().Unseal(keys[0]); err != nil {
		t.Fatal(err)
	}
}

// TestUnsealResentShare checks that a key share sent twice in one unseal
// round is answered 200 with the progress unchanged, as Vault does
// (operators and scripts re-send keys), while a malformed key is still a
// 400, and that the round then completes with the next share.
func TestUnsealResentShare(t *testing.T) {
	t.Parallel()
	s, keys, _ := startInitialized(t, 3, 2)
	st, err := s.Client.Sys().Unseal(keys[0])
	if err != nil || st.Progress != 1 || !st.Sealed {
		t.Fatalf("first share: %+v, %v; want progress 1, sealed", st, err)
	}
	nonce := st.Nonce
	st, err = s.Client.Sys().Unseal(keys[0])
	if err != nil {
		t.Fatalf("the same share again: %v, want 200", err)
	}
	if st.Progress != 1 || !st.Sealed || st.Nonce != nonce {
		t.Fatalf("the same share again: progress %d sealed %v nonce %q, want 1, true, %q", st.Progress, st.Sealed, st.Nonce, nonce)
	}
	_, err = s.Client.Sys().Unseal("not-a-key")
	wantError(t, "malformed key", err, http.StatusBadRequest, "key")
	_, err = s.Client.Sys().Unseal(strings.Repeat("ab", 10))
	wantError(t, "key of the wrong length", err, http.StatusBadRequest, "invalid key share")
	st, err = s.Client.Sys().Unseal(keys[1])
	if err != nil || st.Sealed {
		t.Fatalf("second share: %+v, %v; want unsealed", st, err)
	}
}
