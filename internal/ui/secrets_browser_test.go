package ui_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
	"github.com/hashicorp/vault/api"
)

// writeKV writes versions of secret/<path> with the root client.
func writeKV(t *testing.T, c *api.Client, path string, versions ...map[string]any) {
	t.Helper()
	for _, data := range versions {
		if _, err := c.KVv2("secret").Put(t.Context(), path, data); err != nil {
			t.Fatalf("write secret/%s: %v", path, err)
		}
	}
}

// hasInDOM reports whether the page's markup (not just its visible text)
// holds s anywhere, attributes and input values included.
func hasInDOM(s *uitest.Session, v string) bool {
	return uitest.Eval[bool](s, fmt.Sprintf(`(() => {
  const want = %q;
  if (document.documentElement.outerHTML.includes(want)) return true;
  return Array.from(document.querySelectorAll("input, textarea")).some((el) => el.value.includes(want));
})()`, v))
}

func TestBrowseRevealNewVersionDiffRollback(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	writeKV(t, s.Client, "app/db",
		map[string]any{"username": "app", "password": "pw-one-1111"},
		map[string]any{"username": "app", "password": "pw-two-2222", "host": "db1.internal"})

	// Mounts, folder, secret: by clicking, as a person would.
	s.Go("secrets")
	s.Click(uitest.Link("secret/"))
	s.Click(uitest.Link("app/"))
	s.Click(uitest.Link("db"))
	s.WaitVisible(uitest.Text("h2", "Version 2"))
	s.CheckLabels()
	if hasInDOM(s, "pw-two-2222") {
		t.Fatal("a hidden value is in the DOM")
	}
	// Copy without revealing.
	clipboard := s.Clipboard()
	s.Click(uitest.Button("Copy value of password"))
	s.WaitVisible(uitest.Text("p", "Copied the value of password."))
	if got := clipboard(); got != "pw-two-2222" {
		t.Errorf("the clipboard holds %q, want the password", got)
	}
	if hasInDOM(s, "pw-two-2222") {
		t.Fatal("copying put the value in the DOM")
	}
	s.Click(uitest.Button("Reveal value of password"))
	s.WaitVisible(uitest.Text("td", "pw-two-2222"))
	s.Screenshot("secret")
	if uitest.Eval[bool](s, `(JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + location.href + document.title).includes("pw-two-2222")`) {
		t.Fatal("a revealed value reached storage, the URL or the title")
	}
	s.Click(uitest.Button("Hide value of password"))
	s.WaitGone(uitest.Text("td", "pw-two-2222"))
	// Putting the tab in the background hides what was revealed.
	s.Click(uitest.Button("Reveal value of password"))
	s.WaitVisible(uitest.Text("td", "pw-two-2222"))
	uitest.Eval[bool](s, `(() => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  document.dispatchEvent(new Event("visibilitychange"));
  delete document.hidden;
  return true;
})()`)
	s.WaitGone(uitest.Text("td", "pw-two-2222"))
	if hasInDOM(s, "pw-two-2222") {
		t.Fatal("a value hidden again is still in the DOM")
	}

	// A new version: only the password changes; the other values are
	// kept without entering the form.
	s.Click(uitest.Button("New version"))
	s.Type(uitest.Field("Value of password"), "pw-three-3333")
	s.Screenshot("new-version")
	if hasInDOM(s, "pw-two-2222") || hasInDOM(s, "db1.internal") {
		t.Fatal("the editor put stored values in the DOM")
	}
	s.Click(uitest.Button("Save new version"))
	s.WaitVisible(uitest.Text("h2", "Version 3"))
	v3, err := s.Client.KVv2("secret").GetVersion(t.Context(), "app/db", 3)
	if err != nil {
		t.Fatal(err)
	}
	if v3.Data["password"] != "pw-three-3333" || v3.Data["host"] != "db1.internal" || v3.Data["username"] != "app" {
		t.Fatalf("version 3 = %v, want the new password and the other keys kept", v3.Data)
	}

	// Versions name their writer: the session's token, by its display
	// name (this token may look accessors up), with its accessor.
	look, err := s.Client.Auth().Token().Lookup(s.Token)
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := look.Data["accessor"].(string)
	s.Click(uitest.Button("Versions"))
	s.WaitVisible(`tr[data-version="3"]`)
	if row := s.TextOf(`tr[data-version="3"]`); !strings.Contains(row, "token-ui-test") || !strings.Contains(row, acc[:8]) {
		t.Errorf("version 3's row %q does not name the writer token-ui-test (%s)", row, acc)
	}
	s.CheckLabels()

	// Diff 2 -> 3: password changed, host and username unchanged; values
	// only on reveal.
	s.Select(uitest.Field("From version"), "2")
	s.Select(uitest.Field("To version"), "3")
	s.Click(uitest.Button("Compare"))
	s.WaitVisible(`table.diff tr.changed[data-key="password"]`)
	if n := s.Count(`table.diff tr.unchanged`); n != 2 {
		t.Errorf("%d unchanged rows, want 2 (host, username)", n)
	}
	if hasInDOM(s, "pw-three-3333") {
		t.Fatal("the diff shows values before a reveal")
	}
	s.Click(uitest.Button("Reveal values of password"))
	s.WaitVisible(uitest.Text("td", "pw-three-3333"))
	s.WaitVisible(uitest.Text("td", "pw-two-2222"))
	s.Screenshot("diff")

	// Roll back to version 1: a confirmation, then version 4 holds
	// version 1's data.
	s.Click(uitest.Button("Roll back to version 1"))
	s.Click(uitest.DialogButton("Roll back"))
	s.WaitVisible(uitest.Text("h2", "Version 4"))
	v4, err := s.Client.KVv2("secret").GetVersion(t.Context(), "app/db", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(v4.Data) != 2 || v4.Data["password"] != "pw-one-1111" {
		t.Fatalf("version 4 = %v, want version 1's data", v4.Data)
	}

	// Versions: delete version 2, undelete it, destroy version 3.
	s.Click(uitest.Button("Versions"))
	s.Click(uitest.Button("Delete version 2"))
	s.Click(uitest.DialogButton("Delete"))
	s.WaitVisible(`tr[data-version="2"] .badge.deleted`)
	s.Click(uitest.Button("Undelete version 2"))
	s.Click(uitest.DialogButton("Undelete"))
	s.WaitGone(`tr[data-version="2"] .badge.deleted`)
	s.Click(uitest.Button("Destroy version 3"))
	s.Click(uitest.DialogButton("Destroy"))
	s.WaitVisible(`tr[data-version="3"] .badge.destroyed`)
	s.Screenshot("versions")
	md, err := s.Client.KVv2("secret").GetMetadata(t.Context(), "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if !md.Versions["3"].Destroyed || !md.Versions["2"].DeletionTime.IsZero() {
		t.Errorf("versions after the UI's actions: %+v, want 3 destroyed and 2 not deleted", md.Versions)
	}
}

func TestMetadataEdit(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	writeKV(t, s.Client, "team/api-key", map[string]any{"key": "k-1"})
	s.Go("secrets/secret/show/team/api-key")
	s.Click(uitest.Button("Metadata"))
	s.Type(uitest.Field("Versions kept"), "7")
	s.Click(uitest.Button("Add metadata"))
	s.Type(uitest.Field("Metadata key"), "owner")
	s.Type(uitest.Field("Metadata value"), "payments")
	s.CheckLabels()
	s.Click(uitest.Button("Save metadata"))
	s.WaitVisible(uitest.Text("p", "Metadata saved."))
	s.Screenshot("metadata")
	md, err := s.Client.KVv2("secret").GetMetadata(t.Context(), "team/api-key")
	if err != nil {
		t.Fatal(err)
	}
	if md.MaxVersions != 7 || md.CustomMetadata["owner"] != "payments" {
		t.Errorf("metadata = max %d, custom %v; want 7 and owner=payments", md.MaxVersions, md.CustomMetadata)
	}
}

func TestCASConflictShown(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	writeKV(t, s.Client, "app/cas", map[string]any{"v": "one"})
	s.Go("secrets/secret/show/app/cas")
	s.Click(uitest.Button("New version"))
	s.Type(uitest.Field("Value of v"), "mine")
	// Someone else saves first.
	writeKV(t, s.Client, "app/cas", map[string]any{"v": "theirs"})
	s.Click(uitest.Button("Save new version"))
	s.WaitVisible(`[role="alert"]`)
	msg := s.TextOf(`[role="alert"]`)
	for _, want := range []string{"changed while you were editing", "version 1", "now version 2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("conflict message %q does not say %q", msg, want)
		}
	}
	s.Screenshot("cas-conflict")
	got, err := s.Client.KVv2("secret").Get(t.Context(), "app/cas")
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["v"] != "theirs" || got.VersionMetadata.Version != 2 {
		t.Errorf("after the conflict: %v at version %d, want theirs at 2", got.Data, got.VersionMetadata.Version)
	}
	s.Click(uitest.Button("Load the latest version"))
	s.WaitVisible(uitest.Text("h2", "Version 2"))
}

func TestNewSecretAndSearch(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	writeKV(t, s.Client, "payments/db", map[string]any{"password": "x"})
	s.Go("secrets/secret/list/payments")
	s.Click(uitest.Link("New secret"))
	s.Type(uitest.Field("Path"), "stripe")
	s.Type(uitest.Field("Key"), "token")
	s.Type(uitest.Field("Value of token"), "sk-test-1")
	s.Click(uitest.Button("Save"))
	s.WaitVisible(uitest.Text("h2", "Version 1"))
	got, err := s.Client.KVv2("secret").Get(t.Context(), "payments/stripe")
	if err != nil || got.Data["token"] != "sk-test-1" {
		t.Fatalf("payments/stripe = %v, %v; want token sk-test-1", got, err)
	}

	// The folder's filter and recursive list.
	s.Go("secrets/secret/list")
	s.Click(uitest.Field("Every key below this folder"))
	s.WaitVisible(uitest.Link("payments/stripe"))
	s.Type(uitest.Field("Filter"), "strip")
	s.WaitGone(uitest.Link("payments/db"))
	s.Screenshot("tree")

	// Search across mounts.
	s.Go("search")
	s.Type(uitest.Field("Path glob"), "secret/**/stripe")
	s.Click(uitest.Button("Search"))
	s.WaitVisible(uitest.Link("secret/payments/stripe"))
	if s.Count("tbody tr") != 1 {
		t.Errorf("search found %d secrets, want 1", s.Count("tbody tr"))
	}
	s.CheckLabels()
	s.Screenshot("search")
}

func TestLimitedTokenSeesOnlyItsControls(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{NoSignIn: true})
	writeKV(t, s.Client, "app/db", map[string]any{"password": "p1"}, map[string]any{"password": "p2"})
	if err := s.Client.Sys().PutPolicy("reader", `
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
`); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	s.SignInToken(sec.Auth.ClientToken)
	// It may not list the engines, and is told how to go on.
	s.WaitVisible(uitest.Field("Path"))
	s.Type(uitest.Field("Path"), "secret/app/db")
	s.Click(uitest.Button("Open"))
	s.WaitVisible(uitest.Text("h2", "Version 2"))
	s.WaitVisible(uitest.Button("Reveal value of password"))
	for _, b := range []string{"New version", "Delete this version", "Destroy this version", "Delete secret and all versions"} {
		if s.Count("button") > 0 && uitest.Eval[bool](s, fmt.Sprintf(`document.evaluate(%q, document, null, XPathResult.BOOLEAN_TYPE, null).booleanValue`, uitest.Button(b))) {
			t.Errorf("a read-only token sees %q", b)
		}
	}
	s.Screenshot("limited")
	s.Click(uitest.Button("Versions"))
	s.WaitVisible(`tr[data-version="1"]`)
	if n := s.Count(`tr[data-version] button`); n != 2 {
		t.Errorf("%d buttons in the versions table, want 2 (View on each version)", n)
	}
	s.Go("secrets/secret/list/app")
	s.WaitVisible(uitest.Link("db"))
	if s.Count(`a.button`) != 0 {
		t.Error("a read-only token sees New secret")
	}
}

func TestKVVersion1(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	if err := s.Client.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("kv1/team/app", map[string]any{"token": "v1-secret", "user": "svc"}); err != nil {
		t.Fatal(err)
	}
	s.Go("secrets")
	s.Click(uitest.Link("kv1/"))
	s.Click(uitest.Link("team/"))
	s.Click(uitest.Link("app"))
	s.WaitVisible(uitest.Button("Reveal value of token"))
	if hasInDOM(s, "v1-secret") {
		t.Fatal("a hidden value is in the DOM")
	}
	s.Click(uitest.Button("Reveal value of token"))
	s.WaitVisible(uitest.Text("td", "v1-secret"))
	s.Click(uitest.Button("Edit"))
	s.Type(uitest.Field("Value of user"), "svc2")
	s.Click(uitest.Button("Save"))
	s.WaitVisible(uitest.Button("Reveal value of user"))
	got, err := s.Client.Logical().Read("kv1/team/app")
	if err != nil || got.Data["user"] != "svc2" || got.Data["token"] != "v1-secret" {
		t.Fatalf("kv1/team/app = %v, %v; want user svc2 and the token kept", got, err)
	}
	s.CheckLabels()
	s.Click(uitest.Button("Delete"))
	s.Click(uitest.DialogButton("Delete"))
	s.WaitVisible(uitest.Text("p", "No secrets here."))
	if got, err := s.Client.Logical().Read("kv1/team/app"); err != nil || got != nil {
		t.Fatalf("after delete: %v, %v; want nothing", got, err)
	}
}
