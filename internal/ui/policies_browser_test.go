package ui_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestPolicyEditSyntaxError: a policy saved with an HCL syntax error shows
// the server's own message next to the editor and changes nothing; the
// "test this path" evaluator answers for the unsaved text; a fixed text
// saves; delete asks first.
func TestPolicyEditSyntaxError(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	const good = `path "secret/data/app/*" { capabilities = ["read"] }`
	if err := s.Client.Sys().PutPolicy("app", good); err != nil {
		t.Fatal(err)
	}
	s.Go("policies")
	s.WaitVisible(uitest.Text("a", "app"))
	s.Click(uitest.Text("a", "app"))
	s.WaitVisible(uitest.Text("h1", "Policy app"))

	// A syntax error: the server's words, inline, and the stored text unchanged.
	typeInto(s, "Policy (HCL or JSON)", `path "secret/data/app/*" { capabilities = ["read"`)
	s.Click("#policy-save")
	s.WaitVisible("#policy-editor-error [role=alert]")
	msg := s.TextOf("#policy-editor-error")
	if !strings.Contains(msg, "failed to parse policy") {
		t.Errorf("inline error %q does not carry the server's message", msg)
	}
	if got := uitest.Eval[string](s, `document.querySelector("textarea[name=policy-text]").getAttribute("aria-invalid") || ""`); got != "true" {
		t.Errorf("editor aria-invalid = %q after a refused save", got)
	}
	if got, err := s.Client.Sys().GetPolicy("app"); err != nil || got != good {
		t.Errorf("stored policy after a refused save: %q, %v", got, err)
	}
	s.Screenshot("policy-syntax-error")

	// Test a path against the unsaved (fixed) text.
	typeInto(s, "Policy (HCL or JSON)", `path "secret/data/app/*" { capabilities = ["read", "update"] }`)
	typeInto(s, "Paths", "secret/data/app/db\nsecret/data/other")
	s.Click("#policy-test")
	s.WaitVisible("#policy-test-result table")
	res := s.TextOf("#policy-test-result")
	if !strings.Contains(res, "read, update") || !strings.Contains(res, "deny") {
		t.Errorf("test result %q, want read, update for app/db and deny for other", res)
	}
	s.Screenshot("policy-test")

	// Save the fixed text.
	s.Click("#policy-save")
	s.WaitVisible(uitest.Text("p", "Policy app saved."))
	if got, _ := s.Client.Sys().GetPolicy("app"); !strings.Contains(got, `"update"`) {
		t.Errorf("stored policy after saving: %q", got)
	}

	// Delete: cancel keeps it, confirm deletes it.
	s.Click("#policy-delete")
	s.WaitVisible("dialog")
	s.Click(uitest.Button("Cancel"))
	s.WaitGone("dialog")
	if got, _ := s.Client.Sys().GetPolicy("app"); got == "" {
		t.Fatal("cancelled delete deleted the policy")
	}
	s.Click("#policy-delete")
	s.WaitVisible("dialog")
	s.Click("dialog " + "button.danger")
	s.WaitVisible(uitest.Text("h1", "Policies"))
	if got, _ := s.Client.Sys().GetPolicy("app"); got != "" {
		t.Errorf("policy still there after a confirmed delete: %q", got)
	}
}

// TestPolicyCreate: a new policy is created from the page and listed.
func TestPolicyCreate(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	s.Go("policies")
	s.Click("#policy-new")
	s.WaitVisible(uitest.Text("h1", "New policy"))
	s.CheckLabels()
	s.Type(uitest.Field("Name"), "reader")
	typeInto(s, "Policy (HCL or JSON)", `path "kv/*" { capabilities = ["list"] }`)
	s.Click("#policy-save")
	s.WaitVisible(uitest.Text("h1", "Policy reader"))
	if got, err := s.Client.Sys().GetPolicy("reader"); err != nil || !strings.Contains(got, "kv/*") {
		t.Errorf("created policy: %q, %v", got, err)
	}
}

// typeInto empties the field labelled label and types v into it key by
// key (the harness's Type cannot clear a textarea drawn with a value, nor
// an input whose value was set as a property).
func typeInto(s *uitest.Session, label, v string) {
	s.T.Helper()
	q := uitest.Field(label)
	s.WaitVisible(q)
	uitest.Eval[bool](s, `(() => { const el = document.evaluate(`+strconv.Quote(q)+`, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; el.value = ""; el.focus(); return true; })()`)
	s.Press(v)
}
