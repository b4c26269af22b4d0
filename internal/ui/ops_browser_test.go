package ui_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestOperationsPages opens each access, policies and operations page
// with a root-policy token: each draws without a browser error, every
// control is labelled, its main control is reachable with the keyboard
// alone, its text has WCAG AA contrast in both themes, and a screenshot
// is saved (docs/ui/ when COFFER_UI_SCREENSHOTS is set).
func TestOperationsPages(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	if err := s.Client.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read", "list"] }`); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("auth/approle/role/web", map[string]any{"token_policies": "app"}); err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		route, h1, focus string // focus: a control reached with Tab
	}{
		{"access", "Access", `button "Who can?"`},
		{"policies", "Policies", `a "New policy"`},
		{"policies/view/app", "Policy app", `button "Save"`},
		{"auth", "Auth methods", `a "approle/"`},
		{"auth/approle", "auth/approle/", `a "web"`},
		{"auth/approle/web", "auth/approle/", ""},
		{"leases", "Leases", `button "Look up"`},
		{"audit", "Audit", ""},
		{"rotation", "Rotation", ""},
		{"events", "Events", `button "Subscribe"`},
		{"incidents", "Incidents", `button "Contain"`},
		{"metrics", "Metrics", `button "Refresh"`},
		{"seal", "Seal", `button "Seal"`},
	}
	for _, p := range pages {
		s.Go(p.route)
		s.WaitVisible(uitest.Text("h1", p.h1))
		s.CheckLabels()
		if p.focus != "" {
			uitest.Eval[bool](s, `document.getElementById("main").focus(), true`)
			s.TabTo(p.focus, 60)
		}
		s.CheckContrast()
		if p.route == "auth/approle/web" {
			s.WaitVisible(uitest.Text("dt", "token_policies"))
			for _, f := range []string{"role_id", "secret_id"} {
				if n := s.Count("dt"); n == 0 || uitest.Eval[bool](s, fmt.Sprintf(`[...document.querySelectorAll("dt")].some((d) => d.textContent === %q)`, f)) {
					t.Errorf("the role page shows the credential field %s (or no fields)", f)
				}
			}
		}
		s.Screenshot("ops-" + strings.ReplaceAll(p.route, "/", "-"))
	}
	s.Click(uitest.Button("Dark theme"))
	for _, p := range pages {
		s.Go(p.route)
		s.WaitVisible(uitest.Text("h1", p.h1))
		s.CheckContrast()
	}
	s.Screenshot("ops-seal-dark")
}
