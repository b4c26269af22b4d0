package ui_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestLimitedTokenSeesNoOperations: a token that may read policies and
// list leases, and nothing more, sees those pages without the controls it
// cannot use (save, delete, new, revoke, revoke-prefix, seal, contain,
// the access questions), and the access page falls back to its own
// access.
func TestLimitedTokenSeesNoOperations(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	if err := s.Client.Sys().PutPolicy("viewer", `
path "sys/policies/acl" { capabilities = ["list"] }
path "sys/policies/acl/*" { capabilities = ["read"] }
path "sys/leases/lookup" { capabilities = ["list", "sudo"] }
path "sys/leases/lookup/*" { capabilities = ["list", "sudo"] }
path "sys/incident" { capabilities = ["list", "sudo"] }
`); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"viewer"}, DisplayName: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	s.SignInToken(sec.Auth.ClientToken)

	// absent shows route, waits for last, the element its page draws
	// last (after asking for its capabilities), then checks ids are absent.
	absent := func(route, last string, ids ...string) {
		t.Helper()
		s.Go(route)
		s.WaitVisible(last)
		for _, id := range ids {
			if n := s.Count("#" + id); n != 0 {
				t.Errorf("%s: the limited token sees #%s", route, id)
			}
		}
	}
	absent("policies", "#policy-list", "policy-new", "policy-test")
	absent("policies/view/app", "textarea[name=policy-text]", "policy-save", "policy-delete", "policy-test")
	if ro := uitest.Eval[bool](s, `document.querySelector("textarea[name=policy-text]").readOnly`); !ro {
		t.Error("the policy editor is editable for a token that may not update it")
	}
	absent("leases", "#lease-list section", "lease-revoke-prefix")
	if n := s.Count(`button[aria-label^="Revoke"]`); n != 0 {
		t.Errorf("leases: the limited token sees %d revoke buttons", n)
	}
	absent("incidents", uitest.Text("h2", "Incidents"), "contain-submit")
	absent("seal", "#seal-state", "seal-now")
	absent("access", "#access-fallback", "who-submit", "what-submit")
	s.WaitVisible(uitest.Text("h3", "My resultant ACL"))
	if got := s.TextOf("#main"); !strings.Contains(got, "sys/policies/acl/*") || !strings.Contains(got, "auth/token/lookup-self") {
		t.Errorf("the access page lacks the token's resultant ACL:\n%s", got)
	}
	s.CheckLabels()
	s.Screenshot("access-limited")

	// The page's refusal is the server's: the access page's own check.
	s.Type(uitest.Field("Path"), "secret/data/app/db")
	s.Click("#self-submit")
	s.WaitVisible("#self-result p")
	if got := s.TextOf("#self-result"); got != "secret/data/app/db: deny" {
		t.Errorf("self check %q, want deny", got)
	}
	// A page the token may not use at all shows the server's refusal.
	s.Go("audit")
	s.WaitVisible("#audit-errors [role=alert]")
	if got := s.TextOf("#audit-errors"); got != "permission denied" {
		t.Errorf("audit page refusal %q, want the server's \"permission denied\"", got)
	}
}
