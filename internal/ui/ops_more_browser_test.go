package ui_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestAuditPageVerifyAndSearch: the audit page lists a file device,
// verifies its log on the server and searches it.
func TestAuditPageVerifyAndSearch(t *testing.T) {
	t.Parallel()
	srv := testserver.StartWith(t, testserver.Options{AuditAnyDir: true, ExtraConfig: "ui = true\n"})
	if err := srv.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": filepath.Join(t.TempDir(), "audit.log")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client.KVv2("secret").Put(t.Context(), "app/db", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatal(err)
	}
	s := browser.Start(t, uitest.Options{Server: srv})
	s.Go("audit")
	s.WaitVisible(uitest.Button("Verify the log of file"))
	s.CheckLabels()
	s.Click(uitest.Button("Verify the log of file"))
	s.WaitVisible("#audit-verify-file dl")
	if got := s.TextOf("#audit-verify-file p"); !strings.HasPrefix(got, "Verified:") {
		t.Errorf("verdict %q", got)
	}
	s.Type(uitest.Field("Path prefix"), "secret/data/app/")
	s.Click(uitest.Button("Search"))
	s.WaitVisible("#audit-search-file table")
	if got := s.TextOf("#audit-search-file"); !strings.Contains(got, "secret/data/app/db") || strings.Contains(got, "hunter2") {
		t.Errorf("search result %q: want the write of app/db, no value", got)
	}
	s.Screenshot("audit")
}

// TestRotationAndIncidentsPages: the rotation page lists a secret with a
// rotation policy and shows its schedule; the incidents page contains a
// token after a confirmation and shows the incident; the access page
// answers "who can" for a path.
func TestRotationAndIncidentsPages(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	cl := s.Client
	if _, err := cl.KVv2("secret").Put(t.Context(), "app/key", map[string]any{"api_key": "old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("secret/rotation/app/key", map[string]any{"period": "720h", "keys": map[string]any{"api_key": map[string]any{"generator": "random"}}}); err != nil {
		t.Fatal(err)
	}
	s.Go("rotation")
	s.WaitVisible(uitest.Text("a", "app/"))
	s.Click(uitest.Text("a", "app/"))
	s.WaitVisible(uitest.Text("a", "app/key"))
	s.Click(uitest.Text("a", "app/key"))
	s.WaitVisible("#rotate-now")
	if body := s.BodyText(); !strings.Contains(body, "every 720h") || !strings.Contains(body, "api_key") || strings.Contains(body, "old") {
		t.Errorf("rotation page:\n%s", body)
	}
	s.CheckLabels()
	s.Screenshot("rotation")

	// Access: who can read secret/data/app/key.
	if err := cl.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	victim, err := cl.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app"}, DisplayName: "leaked"})
	if err != nil {
		t.Fatal(err)
	}
	s.Go("access")
	s.Type(uitest.Field("Path"), "secret/data/app/key")
	s.Click("#who-submit")
	s.WaitVisible("#who-result table")
	if got := s.TextOf("#who-result"); !strings.Contains(got, "app") || !strings.Contains(got, victim.Auth.Accessor) {
		t.Errorf("who result lacks the app policy or the token's accessor:\n%s", got)
	}
	s.Screenshot("access-who")
	s.Select(uitest.Field("Subject"), "policy")
	s.Type(uitest.Field("Value"), "app")
	s.Click("#what-submit")
	s.WaitVisible("#what-result table")
	if got := s.TextOf("#what-result"); !strings.Contains(got, "secret/data/app/*") || !strings.Contains(got, "secret/data/app/key") {
		t.Errorf("what result lacks the app rule or the secret it reaches:\n%s", got)
	}

	// Incidents: contain the token by accessor.
	s.Go("incidents")
	s.WaitVisible("#contain-submit")
	s.Type(uitest.Field("Token accessors"), victim.Auth.Accessor)
	s.Type(uitest.Field("Reason"), "token pasted in a chat")
	s.Click("#contain-submit")
	s.WaitVisible("dialog")
	if msg := s.TextOf("dialog p"); !strings.Contains(msg, victim.Auth.Accessor) {
		t.Errorf("the confirmation %q does not name the accessor", msg)
	}
	s.Click("dialog button.danger")
	s.WaitVisible(uitest.Text("h2", "Revoked tokens"))
	if got := s.TextOf("main"); !strings.Contains(got, victim.Auth.Accessor) {
		t.Errorf("incident page does not list the revoked token:\n%s", got)
	}
	s.Screenshot("incident")
	if _, err := cl.Auth().Token().LookupAccessor(victim.Auth.Accessor); err == nil {
		t.Error("the contained token is still alive")
	}
}
