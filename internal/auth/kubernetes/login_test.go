package kubernetes

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestLoginProjectedToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]any{"token_ttl": "1h"})
	tok := h.valid(webSA())
	resp, err := h.login("app", tok)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	sa := map[string]string{
		"service_account_name": "web", "service_account_namespace": "shop",
		"service_account_uid": webSA().uid, "service_account_secret_name": "",
	}
	meta := map[string]string{"role": "app"}
	for k, v := range sa {
		meta[k] = v
	}
	want := &logical.Auth{
		DisplayName: "shop-web",
		Policies:    []string{"shop-web"},
		Metadata:    meta,
		TTL:         3600e9,
		Renewable:   true,
		Alias:       &logical.Alias{Name: webSA().uid, Metadata: sa},
	}
	if diff := cmp.Diff(want, resp.Auth); diff != "" {
		t.Errorf("auth mismatch (-want +got):\n%s", diff)
	}
	if got := h.c.lastBearer(); got != "Bearer "+reviewerJWT {
		t.Errorf("Authorization = %q, want the reviewer JWT", got)
	}
	if diff := cmp.Diff(tokenReviewSpec{Token: tok}, h.c.lastSpec()); diff != "" {
		t.Errorf("review spec mismatch (-want +got):\n%s", diff)
	}
}

func TestLoginLegacyToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]any{"alias_name_source": "serviceaccount_name"})
	tok := h.is.sign(t, legacy(webSA(), "web-token-abcde"))
	h.c.add(tok, webSA())
	resp, err := h.login("app", tok)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if got, want := resp.Auth.Alias.Name, "shop/web"; got != want {
		t.Errorf("alias = %q, want %q", got, want)
	}
	if got := resp.Auth.Metadata["service_account_secret_name"]; got != "web-token-abcde" {
		t.Errorf("secret name = %q, want web-token-abcde", got)
	}
}

func TestLoginUsesClientJWTWithoutReviewer(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]any{"token_reviewer_jwt": ""}, nil)
	tok := h.valid(webSA())
	if _, err := h.login("app", tok); err != nil {
		t.Fatalf("login: %v", err)
	}
	if got := h.c.lastBearer(); got != "Bearer "+tok {
		t.Errorf("Authorization is not the client's JWT")
	}
}

// TestBindingsCheckedBeforeReview checks that logins the claims alone
// refuse never reach the cluster.
func TestBindingsCheckedBeforeReview(t *testing.T) {
	t.Parallel()
	other := func(f func(*account)) account { a := webSA(); f(&a); return a }
	tests := []struct {
		name   string
		config map[string]any
		role   map[string]any
		claims map[string]any
		kind   error
		substr string
	}{
		{"wrong name", nil, nil, projected(other(func(a *account) { a.name = "admin" })), logical.ErrPermissionDenied, "service account name not authorized"},
		{"wrong namespace", nil, nil, projected(other(func(a *account) { a.namespace = "kube-system" })), logical.ErrPermissionDenied, "namespace not authorized"},
		{"glob mismatch", nil, map[string]any{"bound_service_account_names": "web-*"}, projected(webSA()), logical.ErrPermissionDenied, "service account name not authorized"},
		{"legacy wrong namespace", nil, nil, legacy(other(func(a *account) { a.namespace = "dev" }), "s"), logical.ErrPermissionDenied, "namespace not authorized"},
		{"audience missing", nil, map[string]any{"audience": "coffer"}, projected(webSA()), logical.ErrPermissionDenied, "invalid audience (aud) claim"},
		{"issuer", map[string]any{"disable_iss_validation": false, "issuer": "https://kubernetes.default.svc"}, nil, projected(webSA()), logical.ErrPermissionDenied, "invalid issuer (iss) claim"},
		{"default issuer", map[string]any{"disable_iss_validation": false}, nil, projected(webSA()), logical.ErrPermissionDenied, "invalid issuer (iss) claim"},
		{"not a service account token", nil, nil, map[string]any{"sub": "x"}, logical.ErrPermissionDenied, "service account name not authorized"},
		{"claims of the wrong type", nil, nil, map[string]any{"kubernetes.io": "x"}, logical.ErrInvalidRequest, "not those of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.config, tt.role)
			tok := h.is.sign(t, tt.claims)
			h.c.add(tok, webSA()) // the cluster would accept it: only the bindings refuse
			_, err := h.login("app", tok)
			logicaltest.WantError(t, "login", err, tt.kind, tt.substr)
			if n := h.c.calls.Load(); n != 0 {
				t.Errorf("TokenReview calls = %d, want 0", n)
			}
		})
	}
	t.Run("malformed", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		for _, tok := range []string{"x", "a.b.c", "eyJhbGciOiJub25lIn0.e30."} {
			_, err := h.login("app", tok)
			logicaltest.WantError(t, "login", err, logical.ErrInvalidRequest, "not a well-formed JWT")
		}
		if n := h.c.calls.Load(); n != 0 {
			t.Errorf("TokenReview calls = %d, want 0", n)
		}
	})
}

func TestGlobBindings(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]any{"bound_service_account_names": []string{"api", "web*"}, "bound_service_account_namespaces": "*"})
	for _, acct := range []account{webSA(), {namespace: "team-a", name: "web-canary", uid: "u2"}, {namespace: "x", name: "api", uid: "u3"}} {
		if _, err := h.login("app", h.valid(acct)); err != nil {
			t.Errorf("login as %s/%s: %v", acct.namespace, acct.name, err)
		}
	}
	_, err := h.login("app", h.valid(account{namespace: "x", name: "apis", uid: "u4"}))
	logicaltest.WantError(t, "login as x/apis", err, logical.ErrPermissionDenied, "service account name not authorized")
}

func TestReviewRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		role   map[string]any
		setup  func(h *harness, tok string)
		kind   error
		substr string
	}{
		{"revoked service account", nil, func(h *harness, tok string) { h.c.revoke(tok) }, logical.ErrPermissionDenied, "permission denied: the Kubernetes API did not authenticate"},
		{"reviewer unauthorized", nil, func(h *harness, _ string) { h.c.setStatus(http.StatusUnauthorized) }, logical.ErrPermissionDenied, "HTTP 401"},
		{"reviewer forbidden", nil, func(h *harness, _ string) { h.c.setStatus(http.StatusForbidden) }, logical.ErrPermissionDenied, "HTTP 403"},
		{"server error", nil, func(h *harness, _ string) { h.c.setStatus(http.StatusInternalServerError) }, logical.ErrUpstream, "HTTP 500"},
		{"unreachable", nil, func(h *harness, _ string) { h.c.srv.Close() }, logical.ErrUpstream, "could not be reached"},
		{"other user", nil, func(h *harness, _ string) {
			h.c.setLie(func(st *tokenReviewStatus) { st.User.Username = "system:serviceaccount:shop:admin" })
		}, logical.ErrPermissionDenied, "another user"},
		{"not a service account", nil, func(h *harness, _ string) {
			h.c.setLie(func(st *tokenReviewStatus) { st.User.Username = "web" })
		}, logical.ErrPermissionDenied, "another user"},
		{"other uid", nil, func(h *harness, _ string) {
			h.c.setLie(func(st *tokenReviewStatus) { st.User.UID = "other" })
		}, logical.ErrPermissionDenied, "UID"},
		{"review error with authenticated", nil, func(h *harness, _ string) {
			h.c.setLie(func(st *tokenReviewStatus) { st.Error = "boom" })
		}, logical.ErrPermissionDenied, "did not authenticate"},
		{"audience not confirmed", map[string]any{"audience": "https://kubernetes.default.svc"}, func(h *harness, _ string) {
			h.c.setLie(func(st *tokenReviewStatus) { st.Audiences = []string{"other"} })
		}, logical.ErrPermissionDenied, "audience"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil, tt.role)
			tok := h.valid(webSA())
			tt.setup(h, tok)
			_, err := h.login("app", tok)
			logicaltest.WantError(t, "login", err, tt.kind, tt.substr)
			for _, secret := range []string{tok, reviewerJWT} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds a token", err)
				}
			}
		})
	}
}

func TestAudience(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]any{"audience": "vault"})
	acct := webSA()
	acct.audiences = []string{"vault", "other"}
	if _, err := h.login("app", h.valid(acct)); err != nil {
		t.Fatalf("login: %v", err)
	}
	if diff := cmp.Diff([]string{"vault"}, h.c.lastSpec().Audiences); diff != "" {
		t.Errorf("review audiences (-want +got):\n%s", diff)
	}
	// The token claims the audience, but the cluster does not agree.
	tok := h.is.sign(t, projected(acct))
	acct.audiences = []string{"other"}
	h.c.add(tok, acct)
	_, err := h.login("app", tok)
	logicaltest.WantError(t, "login", err, logical.ErrPermissionDenied, "did not authenticate")
}

func TestLocalCAAndJWT(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]any{"kubernetes_ca_cert": "", "token_reviewer_jwt": "", "disable_local_ca_jwt": false}, nil)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(h.c.caPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(reviewerJWT+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.Backend.(*backend).localDir = dir
	if _, err := h.login("app", h.valid(webSA())); err != nil {
		t.Fatalf("login: %v", err)
	}
	if got := h.c.lastBearer(); got != "Bearer "+reviewerJWT {
		t.Errorf("Authorization is not the local token")
	}

	// With the default (local files disabled) the cluster's CA is not
	// trusted, whatever lies in the directory.
	h2 := newHarness(t, map[string]any{"kubernetes_ca_cert": ""}, nil)
	h2.Backend.(*backend).localDir = dir
	_, err := h2.login("app", h2.valid(webSA()))
	logicaltest.WantError(t, "login without a CA", err, logical.ErrUpstream, "could not be reached")
}

func TestLoginRequestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, map[string]any{"token_bound_cidrs": "10.0.0.0/8"})
	tok := h.valid(webSA())
	tests := []struct {
		name, body, substr string
		kind               error
	}{
		{"missing role", js(map[string]string{"jwt": tok}), "missing role", logical.ErrInvalidRequest},
		{"missing jwt", `{"role":"app"}`, "missing jwt", logical.ErrInvalidRequest},
		{"unknown role", js(map[string]string{"role": "nope", "jwt": tok}), `invalid role name "nope"`, logical.ErrInvalidRequest},
		{"outside bound CIDRs", js(map[string]string{"role": "app", "jwt": tok}), "permission denied: the client address is not in the role's token_bound_cidrs", logical.ErrPermissionDenied},
		{"huge jwt", js(map[string]string{"role": "app", "jwt": strings.Repeat("a", maxJWTBytes+1)}), "longer than", logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		_, err := h.Do(opUpdate, "login", tt.body)
		logicaltest.WantError(t, tt.name, err, tt.kind, tt.substr)
	}
	if n := h.c.calls.Load(); n != 0 {
		t.Errorf("TokenReview calls = %d, want 0", n)
	}
	fresh := logicaltest.New(t, Factory, logicaltest.NewEnv(nil))
	_, err := fresh.HandleRequest(t.Context(), &logical.Request{Operation: opUpdate, Path: "login", Body: json.RawMessage(js(map[string]string{"role": "app", "jwt": tok}))})
	logicaltest.WantError(t, "login before config", err, logical.ErrInvalidRequest, "not configured")
}
