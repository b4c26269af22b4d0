package ui_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
	"github.com/coffer-secrets/coffer/internal/ui/uitest"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/api"
)

func TestSignInToken(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	s.WaitVisible(uitest.Field("Method"))
	s.CheckLabels()
	s.Screenshot("login")
	sec, err := s.Client.Auth().Token().Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SignInToken(sec.Auth.ClientToken)
	s.WaitVisible(uitest.Text("h1", "Secrets engines"))
	s.WaitVisible(uitest.Link("secret/"))
	s.CheckLabels()
	s.Screenshot("mounts")
	if url := uitest.Eval[string](s, "location.href"); strings.Contains(url, sec.Auth.ClientToken) {
		t.Errorf("the token is in the URL %q", url)
	}
	if title := uitest.Eval[string](s, "document.title"); strings.Contains(title, sec.Auth.ClientToken) {
		t.Errorf("the token is in the title %q", title)
	}
	if uitest.Eval[bool](s, "document.cookie !== ''") {
		t.Error("the UI set a cookie")
	}
}

// TestSignInResumes shows the page a link asked for once signed in.
func TestSignInResumes(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	writeKV(t, s.Client, "deep/link", map[string]any{"k": "v"})
	s.Go("secrets/secret/show/deep/link")
	s.WaitVisible(uitest.Field("Token"))
	sec, err := s.Client.Auth().Token().Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Type(uitest.Field("Token"), sec.Auth.ClientToken)
	s.Click(uitest.Button("Sign in"))
	s.WaitVisible(uitest.Text("h1", "deep/link"))
	s.Screenshot("test-signin-resumed")
}

// TestTokenExpiryReturnsToSignIn: when the token's TTL runs out the UI
// forgets it and asks to sign in again, rather than failing every call.
func TestTokenExpiryReturnsToSignIn(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{TTL: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	s.SignInToken(sec.Auth.ClientToken)
	s.WaitVisible(uitest.Text("p", "Your token expired: sign in again."))
	s.WaitVisible(uitest.Field("Token"))
	if n := uitest.Eval[int](s, "sessionStorage.length"); n != 0 {
		t.Errorf("sessionStorage holds %d items after the token expired", n)
	}
}

func TestSignInBadTokenShowsServerError(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	s.Type(uitest.Field("Token"), "not-a-real-token")
	s.Click(uitest.Button("Sign in"))
	s.WaitVisible(`[role="alert"]`)
	s.Screenshot("login-refused")
	if msg := s.TextOf(`[role="alert"]`); !strings.Contains(msg, "permission denied") {
		t.Errorf("alert = %q, want the server's permission denied", msg)
	}
	if v := uitest.Eval[string](s, `document.querySelector("input[type=password]").value`); v != "" {
		t.Errorf("the token field still holds %q after the attempt", v)
	}
}

func TestSignInMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		setUp  func(t *testing.T, s *uitest.Session) map[string]string // field label -> value
		who    string
	}{
		{
			name: "userpass", method: "userpass", who: "userpass-alice",
			setUp: func(t *testing.T, s *uitest.Session) map[string]string {
				if err := s.Client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Client.Logical().Write("auth/userpass/users/alice", map[string]any{"password": "correct horse", "policies": "default"}); err != nil {
					t.Fatal(err)
				}
				return map[string]string{"Username": "alice", "Password": "correct horse"}
			},
		},
		{
			name: "approle", method: "approle", who: "approle-ci",
			setUp: func(t *testing.T, s *uitest.Session) map[string]string {
				if err := s.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Client.Logical().Write("auth/approle/role/ci", map[string]any{"token_policies": "default"}); err != nil {
					t.Fatal(err)
				}
				rid, err := s.Client.Logical().Read("auth/approle/role/ci/role-id")
				if err != nil {
					t.Fatal(err)
				}
				sid, err := s.Client.Logical().Write("auth/approle/role/ci/secret-id", nil)
				if err != nil {
					t.Fatal(err)
				}
				return map[string]string{"Role ID": rid.Data["role_id"].(string), "Secret ID": sid.Data["secret_id"].(string)}
			},
		},
		{name: "jwt", method: "jwt", who: "jwt-build-42", setUp: setUpJWT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := browser.Start(t, uitest.Options{NoSignIn: true})
			fields := tt.setUp(t, s)
			s.Select(uitest.Field("Method"), tt.method)
			for label, v := range fields {
				s.Type(uitest.Field(label), v)
			}
			s.CheckLabels()
			s.Screenshot("login-" + tt.method)
			s.Click(uitest.Button("Sign in"))
			s.WaitVisible("#sign-out")
			if who := s.TextOf(".who"); who != tt.who {
				t.Errorf("signed in as %q, want %q", who, tt.who)
			}
		})
	}
}

// setUpJWT enables a jwt method that trusts a new P-256 key and signs a
// JWT for its role "ci".
func setUpJWT(t *testing.T, s *uitest.Session) map[string]string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err := s.Client.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{pub}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("auth/jwt/role/ci", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer", "token_policies": "default",
	}); err != nil {
		t.Fatal(err)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := josejwt.Signed(sg).Claims(map[string]any{
		"sub": "build-42", "aud": "coffer", "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"Role": "ci", "JWT": tok}
}

func TestSignOutRevokesToken(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	if _, err := s.Client.Auth().Token().Lookup(s.Token); err != nil {
		t.Fatalf("the session's token does not look up before sign-out: %v", err)
	}
	s.Click("#sign-out")
	s.WaitVisible(uitest.Field("Token"))
	if _, err := s.Client.Auth().Token().Lookup(s.Token); err == nil {
		t.Error("the token still looks up after sign-out")
	}
	if n := uitest.Eval[int](s, "sessionStorage.length"); n != 0 {
		t.Errorf("sessionStorage holds %d items after sign-out", n)
	}
	// A reload stays signed out.
	s.Go("secrets")
	s.WaitVisible(uitest.Field("Token"))
	s.Screenshot("test-signed-out")
}

// TestKeyboardOnly signs in and reveals a value with Tab, typing and
// Enter alone.
func TestKeyboardOnly(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	writeKV(t, s.Client, "kb/db", map[string]any{"password": "kb-secret-1"})
	sec, err := s.Client.Auth().Token().Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.WaitVisible(uitest.Field("Method"))
	// The form takes the focus (on the method, token already), then Tab
	// reaches the token field.
	if f := s.Focused(); f != `select "Method"` {
		t.Errorf("the sign-in page starts with the focus on %s, want the method", f)
	}
	s.TabTo(`input "Token"`, 3)
	s.Press(sec.Auth.ClientToken)
	s.Press(kb.Enter)
	s.WaitVisible("#sign-out")
	// To the secret: the nav, the mount, the folder, the key.
	s.WaitVisible(uitest.Link("secret/"))
	s.TabTo("secret/", 12)
	s.Press(kb.Enter)
	s.WaitVisible(uitest.Link("kb/"))
	s.TabTo("kb/", 12)
	s.Press(kb.Enter)
	s.WaitVisible(uitest.Link("db"))
	s.TabTo("db", 12)
	s.Press(kb.Enter)
	s.WaitVisible(uitest.Button("Reveal value of password"))
	if id := uitest.Eval[string](s, "document.activeElement.id"); id != "main" {
		t.Errorf("after navigating, the focus is on #%s, want the new page (#main)", id)
	}
	s.TabTo("Reveal value of password", 20)
	s.Press(kb.Enter)
	s.WaitVisible(uitest.Text("td", "kb-secret-1"))
	// A confirmation dialog: focus moves into it (on Cancel), Escape
	// closes it with nothing done, and focus comes back.
	s.TabTo("Destroy this version", 20)
	s.Press(kb.Enter)
	s.WaitVisible("dialog[open]")
	if f := s.Focused(); f != `button "Cancel"` {
		t.Errorf("the dialog opened with the focus on %s, want Cancel", f)
	}
	s.Press(kb.Escape)
	s.WaitGone("dialog")
	if f := s.Focused(); f != `button "Destroy this version"` {
		t.Errorf("after the dialog the focus is on %s, want back on its button", f)
	}
	if md, err := s.Client.KVv2("secret").GetMetadata(t.Context(), "kb/db"); err != nil || md.Versions["1"].Destroyed {
		t.Fatalf("Escape destroyed the version (or %v)", err)
	}
	// The Versions tab by keyboard: Tab reaches the selected tab, the
	// arrow keys move between tabs.
	s.TabTo("Secret", 30)
	s.Press(kb.ArrowRight)
	s.WaitVisible(`tr[data-version="1"]`)
	if s.Count(`td.value`) != 0 {
		t.Error("leaving the Secret tab left a value on the page")
	}
	s.Screenshot("test-keyboard")
	// Visible focus: the focused control has an outline.
	if o := uitest.Eval[string](s, "getComputedStyle(document.activeElement).outlineStyle"); o == "none" {
		t.Error("the focused tab has no visible focus outline")
	}
}
