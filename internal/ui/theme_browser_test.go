package ui_test

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestThemesContrast checks both themes' contrast on the pages with the
// most kinds of text: the sign-in form, a secret, its versions.
func TestThemesContrast(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	writeKV(t, s.Client, "app/db", map[string]any{"password": "p1", "user": "u"}, map[string]any{"password": "p2", "user": "u"})
	for _, theme := range []string{"light", "dark"} {
		if uitest.Eval[string](s, "document.documentElement.dataset.theme || 'light'") != theme {
			s.Click(uitest.Button("Dark theme"))
		}
		s.Go("secrets/secret/show/app/db")
		s.WaitVisible(uitest.Text("h2", "Version 2"))
		s.Click(uitest.Button("Reveal value of user"))
		s.CheckContrast()
		if theme == "dark" {
			s.Screenshot("secret-dark")
		}
		s.Click(uitest.Button("Versions"))
		s.WaitVisible(`tr[data-version="2"]`)
		s.CheckContrast()
		s.Go("secrets")
		s.WaitVisible(uitest.Link("secret/"))
		s.CheckContrast()
	}
	if got := uitest.Eval[string](s, "localStorage.getItem('coffer.theme')"); got != "dark" {
		t.Errorf("the theme choice kept is %q, want dark", got)
	}
}
