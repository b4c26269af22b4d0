package ui_test

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestCSPEnforced checks in the browser that the page's policy refuses
// what an injection would need: inline script, inline style attributes,
// and requests to another origin. (eval cannot be tried from here: code
// the DevTools protocol runs is exempt from the page's policy;
// TestCSPIsStrict checks the policy has no 'unsafe-eval'.)
func TestCSPEnforced(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	s.Allow(`Content.Security.Policy|Refused to|violates`) // the violations provoked here
	s.WaitVisible(uitest.Field("Token"))
	checks := []struct{ name, js string }{
		{"inline script", `(() => { const sc = document.createElement("script"); sc.textContent = "window.__inj = 1"; document.body.append(sc); return window.__inj === undefined; })()`},
		{"style attribute", `(() => { const d = document.createElement("div"); d.setAttribute("style", "width: 123px"); document.body.append(d); const w = getComputedStyle(d).width; d.remove(); return w !== "123px"; })()`},
		{"other origin", `fetch("http://127.0.0.2:9/x").then(() => false, () => true)`},
	}
	for _, c := range checks {
		if !uitest.Eval[bool](s, c.js) {
			t.Errorf("the page allowed %s", c.name)
		}
	}
	s.Screenshot("test-csp")
}
