package ui_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestLeaseRevokePrefix: leases of database credentials (PostgreSQL on
// 127.0.0.1) are listed by prefix; revoke-prefix asks first with a dialog
// naming the prefix (cancel keeps them), then revokes them all.
func TestLeaseRevokePrefix(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	s := browser.Start(t, uitest.Options{})
	cl := s.Client
	if err := cl.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("database/config/db", map[string]any{
		"plugin_name": d.Plugin, "connection_url": d.URL, "username": d.User, "password": d.Password, "allowed_roles": "*",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("database/roles/app", map[string]any{
		"db_name": "db", "creation_statements": d.Creation(), "default_ttl": "20m", "max_ttl": "1h",
	}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		sec, err := cl.Logical().Read("database/creds/app")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sec.LeaseID)
	}
	s.Go("leases")
	s.WaitVisible("#lease-list section")
	s.CheckLabels()
	s.Type(uitest.Field("Prefix"), "database/creds/app")
	s.Click("#lease-lookup")
	s.WaitVisible("#lease-revoke-prefix")
	body := s.BodyText()
	for _, id := range ids {
		if !strings.Contains(body, id) {
			t.Errorf("lease %s not listed under its prefix", id)
		}
	}
	s.Click(uitest.Button("Details of " + ids[0]))
	s.WaitVisible("#lease-detail dl")
	s.Screenshot("leases")

	s.Click("#lease-revoke-prefix")
	s.WaitVisible("dialog")
	if msg := s.TextOf("dialog p"); !strings.Contains(msg, "database/creds/app/") {
		t.Errorf("the confirmation %q does not name the prefix", msg)
	}
	s.Screenshot("leases-revoke-prefix-confirm")
	s.Press("\x1b") // Escape cancels
	s.WaitGone("dialog")
	if n := leaseCount(t, cl, "database/creds/app/"); n != 2 {
		t.Fatalf("%d leases after a cancelled revoke-prefix, want 2", n)
	}
	s.Click("#lease-revoke-prefix")
	s.WaitVisible("dialog")
	s.Click("dialog button.danger")
	s.WaitVisible(uitest.Text("p", "Leases under database/creds/app/ revoked."))
	if n := leaseCount(t, cl, "database/creds/app/"); n != 0 {
		t.Errorf("%d leases left after revoke-prefix", n)
	}
}

// leaseCount lists the leases under prefix with the root token.
func leaseCount(t *testing.T, cl *api.Client, prefix string) int {
	t.Helper()
	sec, err := cl.Logical().List("sys/leases/lookup/" + prefix)
	if err != nil {
		t.Fatal(err)
	}
	if sec == nil {
		return 0
	}
	keys, _ := sec.Data["keys"].([]any)
	return len(keys)
}

// TestEventsPageReceivesKVWrite: the events page subscribes over a
// WebSocket, the token offered as a subprotocol (never in the URL), and
// shows the event of a KV write made behind its back, with its path and
// without its value.
func TestEventsPageReceivesKVWrite(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	s.Go("events")
	s.WaitVisible(uitest.Field("Event type"))
	s.CheckLabels()
	typeInto(s, "Event type", "kv*")
	s.Click("#events-connect")
	s.WaitVisible(uitest.Text("p", "Subscribed to kv*. Waiting for events…"))
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "app/db", map[string]any{"password": "hunter2-ui"}); err != nil {
		t.Fatal(err)
	}
	s.WaitVisible(`//tr[contains(@class, "event")]//code[normalize-space(.)="secret/data/app/db"]`)
	body := s.BodyText()
	if !strings.Contains(body, "kv-v2/data-write") {
		t.Errorf("the event row lacks its type:\n%s", body)
	}
	if strings.Contains(body, "hunter2-ui") {
		t.Error("the events page shows a secret value")
	}
	s.Screenshot("events")
	s.Click("#events-stop")
	s.WaitVisible(uitest.Text("p", "Stopped."))
}
