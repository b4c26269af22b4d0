package ui_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestUnsealThroughPage: a sealed server opens on the seal page without a
// token; operators enter key shares there (masked, emptied once sent), a
// wrong share shows the server's refusal, reset forgets the progress, and
// the threshold of shares unseals it.
func TestUnsealThroughPage(t *testing.T) {
	t.Parallel()
	srv := testserver.StartWith(t, testserver.Options{Uninitialized: true, ExtraConfig: "ui = true\n"})
	init, err := srv.Client.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := browser.Start(t, uitest.Options{Server: srv, NoSignIn: true})
	s.WaitVisible(uitest.Text("h1", "Seal"))
	s.WaitVisible("#seal-state")
	if got := s.TextOf("#seal-state"); got != "Sealed" {
		t.Fatalf("state %q, want Sealed", got)
	}
	s.CheckLabels()
	key := uitest.Field("Unseal key share")
	if typ := uitest.Eval[string](s, `document.querySelector("input[name=unseal-key]").type`); typ != "password" {
		t.Errorf("the key share input is type %q, want password (masked)", typ)
	}
	// Keyboard only: Tab to the share field, type, Enter.
	uitest.Eval[bool](s, `document.getElementById("main").focus(), true`)
	s.TabTo(`input "Unseal key share"`, 20)
	s.Press(init.KeysB64[0])
	s.Press("\r")
	s.WaitVisible(uitest.Text("span", "1 of 2"))
	if v := uitest.Eval[string](s, `document.querySelector("input[name=unseal-key]").value`); v != "" {
		t.Error("the key share stays in the field after it was sent")
	}
	s.Screenshot("seal-unseal-progress")

	// Reset forgets the first share.
	s.Click("#unseal-reset")
	s.WaitVisible(uitest.Text("span", "0 of 2"))

	// A malformed share: the server's words.
	s.Type(key, "not-a-key-share")
	s.Click("#unseal-submit")
	s.WaitVisible("#seal-errors [role=alert]")
	if msg := s.TextOf("#seal-errors"); msg == "" {
		t.Error("no error shown for a malformed share")
	}

	s.Type(key, init.KeysB64[1])
	s.Click("#unseal-submit")
	s.WaitVisible(uitest.Text("span", "1 of 2"))
	s.Type(key, init.KeysB64[2])
	s.Click("#unseal-submit")
	s.WaitVisible(uitest.Text("strong", "Unsealed"))
	st, err := srv.Client.Sys().SealStatus()
	if err != nil || st.Sealed {
		t.Fatalf("seal status after the page's unseal: %+v, %v", st, err)
	}
	if body := s.BodyText(); strings.Contains(body, init.KeysB64[1]) {
		t.Error("a key share is shown on the page")
	}
	s.Screenshot("seal-unsealed")

	// Signed in with a root token, the page offers to seal (after a confirm).
	s.SignInToken(init.RootToken)
	s.Go("seal")
	s.Click("#seal-now")
	s.WaitVisible("dialog")
	s.Click("dialog button.danger")
	s.WaitVisible(uitest.Text("strong", "Sealed"))
	if st, err := srv.Client.Sys().SealStatus(); err != nil || !st.Sealed {
		t.Fatalf("seal status after the page's seal: %+v, %v", st, err)
	}
}
