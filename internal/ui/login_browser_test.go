package ui_test

import (
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
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
	if body := s.BodyText(); !strings.Contains(body, "secret/") {
		t.Errorf("the secrets page does not list secret/:\n%s", body)
	}
	if url := uitest.Eval[string](s, "location.href"); strings.Contains(url, sec.Auth.ClientToken) {
		t.Errorf("the token is in the URL %q", url)
	}
}
