package database

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// servers runs fn once against each real database server.
func servers(t *testing.T, fn func(t *testing.T, tdb *testDB)) {
	for _, s := range []struct {
		name string
		open func(testing.TB) *testDB
	}{{"postgres", newPostgres}, {"mysql", newMySQL}} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			fn(t, s.open(t))
		})
	}
}

func TestConfigVerifyConnection(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		h := newHarness(t)
		h.configure(tdb, map[string]any{"max_open_connections": 3})
		resp, err := h.Do(logical.ReadOperation, "config/db", nil)
		if err != nil {
			t.Fatal(err)
		}
		got := data(t, resp)
		details := got["connection_details"].(map[string]any)
		if got["plugin_name"] != tdb.Plugin || details["connection_url"] != tdb.URL || details["max_open_connections"] != 3.0 {
			t.Errorf("read config/db = %v", got)
		}
		raw, _ := json.Marshal(resp.Data)
		if strings.Contains(string(raw), `"password"`) || (tdb.Password != "" && strings.Contains(string(raw), tdb.Password)) {
			t.Errorf("read config/db shows the password: %s", raw)
		}

		// A server that is not there: 400, nothing stored.
		bad := strings.Replace(tdb.URL, "127.0.0.1:"+map[string]string{"postgres": "5432", "mysql": "3306"}[tdb.Kind], closedAddr(t), 1)
		before := h.Storage.Snapshot()
		err = h.write("config/other", map[string]any{
			"plugin_name": tdb.Plugin, "connection_url": bad, "username": tdb.User, "password": "pw-not-shown-123",
			"allowed_roles": []string{"*"},
		})
		logicaltest.WantKind(t, "config with a closed port", err, logical.ErrInvalidRequest)
		if !strings.Contains(err.Error(), "verify connection") || strings.Contains(err.Error(), "pw-not-shown-123") {
			t.Errorf("error %q: want it to name the connection check and not the password", err)
		}
		if !sameStorage(before, h.Storage.Snapshot()) {
			t.Error("failed config write changed storage")
		}
		if resp, err := h.Do(logical.ReadOperation, "config/other", nil); err != nil || resp != nil {
			t.Errorf("read config/other = %v, %v, want nothing", resp, err)
		}
		// With verify_connection=false the same config is stored.
		h.mustWrite("config/other", map[string]any{
			"plugin_name": tdb.Plugin, "connection_url": bad, "username": tdb.User, "verify_connection": false,
		})
		resp, err = h.Do(logical.ListOperation, "config/", nil)
		if err != nil || resp == nil {
			t.Fatalf("list config = %v, %v", resp, err)
		}
		if keys := data(t, resp)["keys"].([]any); len(keys) != 2 {
			t.Errorf("list config = %v, want db and other", keys)
		}
		if _, err := h.Do(logical.UpdateOperation, "reset/db", nil); err != nil {
			t.Errorf("reset/db: %v", err)
		}
		if _, err := h.Do(logical.DeleteOperation, "config/other", nil); err != nil {
			t.Fatal(err)
		}
		if resp, _ := h.Do(logical.ReadOperation, "config/other", nil); resp != nil {
			t.Error("config/other still readable after delete")
		}
	})
}

func sameStorage(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	base := map[string]any{
		"plugin_name": PluginPostgres, "connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:1/x",
		"verify_connection": false, "allowed_roles": "*",
	}
	tests := []struct {
		name   string
		change map[string]any
		want   string
	}{
		{name: "no plugin", change: map[string]any{"plugin_name": ""}, want: "missing plugin_name"},
		{name: "unknown plugin", change: map[string]any{"plugin_name": "oracle-database-plugin"}, want: "unknown plugin_name"},
		{name: "no url", change: map[string]any{"connection_url": ""}, want: "missing connection_url"},
		{name: "url placeholder", change: map[string]any{"connection_url": "postgres://{{user}}@h/x"}, want: "{{user}}"},
		{name: "bad template", change: map[string]any{"username_template": "{{ .Nope }}"}, want: "username_template"},
		{name: "template loop", change: map[string]any{"username_template": "{{ range 100000000 }}x{{ end }}"}, want: "range is not allowed"},
		{name: "template bad chars", change: map[string]any{"username_template": "a'b"}, want: "username_template"},
		{name: "unknown policy", change: map[string]any{"password_policy": "nope"}, want: "unknown password policy"},
		{name: "plugin version", change: map[string]any{"plugin_version": "v1.0.0"}, want: "plugin_version"},
		{name: "bad root statements", change: map[string]any{"root_rotation_statements": "ALTER USER {{user}}"}, want: "{{user}}"},
	}
	for _, tt := range tests {
		body := map[string]any{}
		for k, v := range base {
			body[k] = v
		}
		for k, v := range tt.change {
			body[k] = v
		}
		err := h.write("config/x", body)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: write config = %v, want an error naming %q", tt.name, err, tt.want)
		}
		logicaltest.WantKind(t, tt.name, err, logical.ErrInvalidRequest)
	}
	if snap := h.Storage.Snapshot(); len(snap) != 0 {
		t.Errorf("failed writes stored %d keys", len(snap))
	}
	// An unknown field is ignored, as in Vault (config writes answer no
	// data, so there is no warning to see).
	body := map[string]any{"bogus": 1}
	for k, v := range base {
		body[k] = v
	}
	if _, err := h.Do(logical.UpdateOperation, "config/unknown", body); err != nil {
		t.Errorf("config with an unknown field: %v", err)
	}
	// A literal password in the URL is masked on read.
	body = map[string]any{}
	for k, v := range base {
		body[k] = v
	}
	body["connection_url"] = "postgres://admin:hunter2secret@127.0.0.1:1/x"
	h.mustWrite("config/lit", body)
	resp, err := h.Do(logical.ReadOperation, "config/lit", nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(resp.Data)
	if strings.Contains(string(raw), "hunter2secret") || !strings.Contains(string(raw), "admin:*****@") {
		t.Errorf("read config/lit = %s, want the URL's password masked", raw)
	}
}

func TestRoleValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.mustWrite("config/db", map[string]any{
		"plugin_name": PluginPostgres, "connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:1/x",
		"verify_connection": false, "allowed_roles": "app-*,exact",
	})
	good := `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`
	tests := []struct {
		name string
		role string
		body map[string]any
		want string // "" means success
	}{
		{name: "ok glob", role: "app-1", body: map[string]any{"db_name": "db", "creation_statements": good}},
		{name: "ok exact list", role: "exact", body: map[string]any{"db_name": "db", "creation_statements": []string{good, "GRANT x TO \"{{name}}\""}, "default_ttl": "1h", "max_ttl": 7200}},
		{name: "unknown placeholder", role: "app-2", body: map[string]any{"db_name": "db", "creation_statements": `CREATE ROLE "{{username}}" PASSWORD '{{pass}}'`}, want: "{{username}}, {{pass}}"},
		{name: "unknown placeholder in revocation", role: "app-2", body: map[string]any{"db_name": "db", "creation_statements": good, "revocation_statements": "DROP ROLE {{user}}"}, want: "revocation_statements: unknown placeholder {{user}}"},
		{name: "unterminated", role: "app-2", body: map[string]any{"db_name": "db", "creation_statements": "CREATE ROLE {{name"}, want: "unterminated"},
		{name: "missing connection", role: "app-2", body: map[string]any{"db_name": "nope", "creation_statements": good}, want: `db_name "nope" names no connection`},
		{name: "no statements", role: "app-2", body: map[string]any{"db_name": "db"}, want: "missing creation_statements"},
		{name: "ttl order", role: "app-2", body: map[string]any{"db_name": "db", "creation_statements": good, "default_ttl": "2h", "max_ttl": "1h"}, want: "default_ttl"},
		{name: "credential type", role: "app-2", body: map[string]any{"db_name": "db", "creation_statements": good, "credential_type": "rsa_private_key"}, want: "credential_type"},
	}
	for _, tt := range tests {
		err := h.write("roles/"+tt.role, tt.body)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: write roles/%s = %v, want an error naming %q", tt.name, tt.role, err, tt.want)
		}
		logicaltest.WantKind(t, tt.name, err, logical.ErrInvalidRequest)
	}
	resp, err := h.Do(logical.ReadOperation, "roles/exact", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := data(t, resp)
	if got["default_ttl"] != 3600.0 || got["max_ttl"] != 7200.0 || len(got["creation_statements"].([]any)) != 2 {
		t.Errorf("read roles/exact = %v", got)
	}
	// Partial update keeps the other fields.
	h.mustWrite("roles/exact", map[string]any{"default_ttl": 60})
	got = data(t, must(h.Do(logical.ReadOperation, "roles/exact", nil)))
	if got["default_ttl"] != 60.0 || got["max_ttl"] != 7200.0 {
		t.Errorf("after partial update roles/exact = %v", got)
	}
	resp, err = h.Do(logical.ListOperation, "roles/", nil)
	if err != nil || len(data(t, resp)["keys"].([]any)) != 2 {
		t.Errorf("list roles = %v, %v", resp, err)
	}
	if _, err := h.Do(logical.DeleteOperation, "roles/exact", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Do(logical.ReadOperation, "creds/exact", nil); err == nil {
		t.Error("creds for a deleted role succeeded")
	}
}

func must(resp *logical.Response, err error) *logical.Response {
	if err != nil {
		panic(err)
	}
	return resp
}

func TestCredsAndRevoke(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		h := newHarness(t)
		h.configure(tdb, nil)
		role := tdb.Suffix // the default username template keeps 8 characters of it
		h.mustWrite("roles/"+role, map[string]any{
			"db_name": "db", "creation_statements": tdb.Creation(), "default_ttl": "10m", "max_ttl": "1h",
		})
		user, pw, lease := h.creds(role)
		if !strings.Contains(user, tdb.Suffix) || !strings.HasPrefix(user, "v-token-") || pw == "" {
			t.Errorf("creds = %q / (password of %d chars)", user, len(pw))
		}
		if !tdb.userExists(t, user) {
			t.Fatalf("user %s not in the database", user)
		}
		if err := tdb.Query(t, user, pw); err != nil {
			t.Fatalf("log in with the new credentials: %v", err)
		}
		if tdb.Kind == "mysql" {
			if err := tdb.Query(t, user, pw+"x"); err == nil {
				t.Fatal("MariaDB accepted a wrong password; the real check would prove nothing")
			}
		}
		if tdb.Kind == "postgres" {
			var canLogin bool
			if err := tdb.Admin.QueryRow(`SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, user).Scan(&canLogin); err != nil || !canLogin {
				t.Errorf("pg_roles rolcanlogin = %v, %v", canLogin, err)
			}
		}

		// Hold a session open through the revocation.
		held := tdb.Login(t, user, pw)
		defer held.Close()
		held.SetMaxOpenConns(1)
		conn, err := held.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(t.Context(), "SELECT 1"); err != nil {
			t.Fatal(err)
		}

		if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
			t.Fatalf("RevokeSecret: %v", err)
		}
		if tdb.userExists(t, user) {
			t.Errorf("user %s still exists after revocation", user)
		}
		if _, err := conn.ExecContext(t.Context(), "SELECT 1"); err == nil {
			t.Error("the session opened before revocation still works")
		}
		if tdb.Kind == "postgres" {
			var n int
			if err := tdb.Admin.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, user).Scan(&n); err != nil || n != 0 {
				t.Errorf("pg_stat_activity sessions of %s = %d, %v, want 0", user, n, err)
			}
		} else if err := tdb.Query(t, user, pw); err == nil {
			t.Error("MariaDB login still works after revocation")
		}
		// Revocation is idempotent.
		if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
			t.Errorf("second RevokeSecret: %v", err)
		}
	})
}

func TestCustomStatements(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		h := newHarness(t)
		h.configure(tdb, nil)
		role := "c" + tdb.Suffix
		body := map[string]any{"db_name": "db", "creation_statements": tdb.Creation(), "default_ttl": "10m"}
		if tdb.Kind == "postgres" {
			body["renew_statements"] = `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`
			body["revocation_statements"] = `REVOKE ALL ON things FROM "{{name}}"; DROP ROLE "{{name}}"`
		} else {
			body["revocation_statements"] = "DROP USER '{{name}}'@'%'"
		}
		h.mustWrite("roles/"+role, body)
		user, pw, lease := h.creds(role)
		if err := tdb.Query(t, user, pw); err != nil {
			t.Fatal(err)
		}
		lease.Increment = 2 * time.Hour // beyond the mount's max of 24h? no: within it
		ttl, err := h.b.RenewSecret(t.Context(), lease)
		if err != nil {
			t.Fatalf("RenewSecret: %v", err)
		}
		if ttl != 2*time.Hour {
			t.Errorf("RenewSecret = %v, want 2h", ttl)
		}
		if tdb.Kind == "postgres" {
			var until time.Time
			if err := tdb.Admin.QueryRow(`SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, user).Scan(&until); err != nil {
				t.Fatal(err)
			}
			want := h.Clock.Now().Add(2 * time.Hour)
			if d := until.Sub(want); d < -2*time.Second || d > 2*time.Second {
				t.Errorf("rolvaliduntil = %v, want about %v", until, want)
			}
		}
		if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
			t.Fatalf("RevokeSecret: %v", err)
		}
		if tdb.userExists(t, user) {
			t.Error("user survived custom revocation statements")
		}
		if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
			t.Errorf("second RevokeSecret with custom statements: %v", err)
		}
		if _, err := h.b.RenewSecret(t.Context(), lease); err == nil {
			t.Error("RenewSecret of a revoked user succeeded")
		}
	})
}

func TestRenewDefaultAndMaxTTL(t *testing.T) {
	t.Parallel()
	tdb := newPostgres(t)
	h := newHarness(t)
	h.configure(tdb, nil)
	role := "d" + tdb.Suffix
	h.mustWrite("roles/"+role, map[string]any{"db_name": "db", "creation_statements": tdb.Creation(), "default_ttl": "10m", "max_ttl": "30m"})
	user, _, lease := h.creds(role)
	h.Clock.Advance(25 * time.Minute)
	ttl, err := h.b.RenewSecret(t.Context(), lease)
	if err != nil {
		t.Fatal(err)
	}
	if ttl != 5*time.Minute {
		t.Errorf("RenewSecret near max TTL = %v, want 5m", ttl)
	}
	var until time.Time
	if err := tdb.Admin.QueryRow(`SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, user).Scan(&until); err != nil {
		t.Fatal(err)
	}
	if want := lease.IssueTime.Add(30 * time.Minute); until.Sub(want).Abs() > 2*time.Second {
		t.Errorf("default renewal set rolvaliduntil = %v, want %v", until, want)
	}
	if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
		t.Fatal(err)
	}
}

func TestCreationFailureRollsBack(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		h := newHarness(t)
		h.configure(tdb, nil)
		role := "f" + tdb.Suffix
		stmts := []string{tdb.Creation(), "GRANT SELECT ON no_such_table TO someone_missing"}
		h.mustWrite("roles/"+role, map[string]any{"db_name": "db", "creation_statements": stmts})
		_, err := h.Do(logical.ReadOperation, "creds/"+role, nil)
		logicaltest.WantKind(t, "creds with a failing statement", err, logical.ErrUpstream)
		var n int
		q := `SELECT count(*) FROM pg_roles WHERE rolname LIKE '%' || $1 || '%'`
		if tdb.Kind == "mysql" {
			q = `SELECT count(*) FROM mysql.user WHERE User LIKE CONCAT('%', ?, '%')`
		}
		if err := tdb.Admin.QueryRow(q, role).Scan(&n); err != nil || n != 0 {
			t.Errorf("users left after a failed creation = %d, %v, want 0", n, err)
		}
	})
}

func TestRotateRoot(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		admin, oldPW := "adm"+tdb.Suffix, "Old-pw-"+tdb.Suffix
		tdb.createUser(t, admin, oldPW, true)
		h := newHarness(t)
		tdb.User, tdb.Password = admin, oldPW
		h.configure(tdb, nil)
		var oldHash string
		if tdb.Kind == "postgres" {
			oldHash = tdb.passwordHash(t, admin)
		}
		role := "q" + tdb.Suffix
		h.mustWrite("roles/"+role, map[string]any{"db_name": "db", "creation_statements": tdb.Creation()})
		h.creds(role) // the pool is open with the old password

		if _, err := h.Do(logical.UpdateOperation, "rotate-root/db", nil); err != nil {
			t.Fatalf("rotate-root: %v", err)
		}
		var stored connConfig
		if _, err := framework.GetJSON(t.Context(), h.b.storage, configPrefix+"db", &stored); err != nil {
			t.Fatal(err)
		}
		if stored.Password == oldPW || stored.Password == "" || stored.PendingPassword != "" {
			t.Fatalf("after rotate-root the stored password did not move on (pending set: %v)", stored.PendingPassword != "")
		}
		if tdb.Kind == "postgres" {
			if h := tdb.passwordHash(t, admin); h == oldHash {
				t.Error("pg_authid hash unchanged by rotate-root")
			}
		} else {
			if err := tdb.Query(t, admin, oldPW); err == nil {
				t.Error("the old admin password still works after rotate-root")
			}
			if err := tdb.Query(t, admin, stored.Password); err != nil {
				t.Errorf("the new admin password does not work: %v", err)
			}
		}
		user, pw, lease := h.creds(role)
		if err := tdb.Query(t, user, pw); err != nil {
			t.Errorf("creds after rotate-root: %v", err)
		}
		if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
			t.Errorf("revoke after rotate-root: %v", err)
		}
		resp := must(h.Do(logical.ReadOperation, "config/db", nil))
		raw, _ := json.Marshal(resp.Data)
		if strings.Contains(string(raw), stored.Password) {
			t.Error("config read shows the rotated password")
		}
	})
}

// TestRootRotationPendingCompleted simulates a crash between the steps of
// a root rotation: the pending password is stored but the database either
// never got it or got it without the final write.
func TestRootRotationPendingCompleted(t *testing.T) {
	t.Parallel()
	tdb := newMySQL(t)
	admin, oldPW := "adm"+tdb.Suffix, "Old-pw-"+tdb.Suffix
	tdb.createUser(t, admin, oldPW, true)
	tdb.User, tdb.Password = admin, oldPW
	h := newHarness(t)
	h.configure(tdb, nil)
	role := "p" + tdb.Suffix
	h.mustWrite("roles/"+role, map[string]any{"db_name": "db", "creation_statements": tdb.Creation()})

	for _, applied := range []bool{false, true} {
		var c connConfig
		if _, err := framework.GetJSON(t.Context(), h.b.storage, configPrefix+"db", &c); err != nil {
			t.Fatal(err)
		}
		pending := "Pending-" + tdb.Suffix + map[bool]string{false: "a", true: "b"}[applied]
		c.PendingPassword = pending
		if err := framework.PutJSON(t.Context(), h.b.storage, configPrefix+"db", &c); err != nil {
			t.Fatal(err)
		}
		if applied {
			mustExec(t, tdb.Admin, `ALTER USER `+mysqlAccount(admin, "%")+` IDENTIFIED BY `+mysqlLiteral(pending))
		}
		h = h.restart()
		if err := h.b.Periodic(t.Context()); err != nil {
			t.Fatalf("applied=%v: Periodic: %v", applied, err)
		}
		c = connConfig{}
		if _, err := framework.GetJSON(t.Context(), h.b.storage, configPrefix+"db", &c); err != nil {
			t.Fatal(err)
		}
		if c.Password != pending || c.PendingPassword != "" {
			t.Fatalf("applied=%v: pending rotation not completed", applied)
		}
		if err := tdb.Query(t, admin, pending); err != nil {
			t.Fatalf("applied=%v: the completed password does not work: %v", applied, err)
		}
		user, pw, lease := h.creds(role)
		if err := tdb.Query(t, user, pw); err != nil {
			t.Errorf("applied=%v: creds after completion: %v", applied, err)
		}
		if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
			t.Error(err)
		}
	}
}

func TestStaticRole(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		user, firstPW := "st"+tdb.Suffix, "First-pw-"+tdb.Suffix
		tdb.createUser(t, user, firstPW, false)
		h := newHarness(t)
		h.configure(tdb, nil)
		role := "s" + tdb.Suffix
		var hash string
		if tdb.Kind == "postgres" {
			hash = tdb.passwordHash(t, user)
		}

		err := h.write("static-roles/"+role, map[string]any{"db_name": "db", "username": user, "rotation_period": "4s"})
		logicaltest.WantKind(t, "rotation_period 4s", err, logical.ErrInvalidRequest)
		err = h.write("static-roles/"+role, map[string]any{"db_name": "db", "username": "missing" + tdb.Suffix, "rotation_period": "1h"})
		logicaltest.WantKind(t, "missing user", err, logical.ErrInvalidRequest)
		h.mustWrite("static-roles/"+role, map[string]any{"db_name": "db", "username": user, "rotation_period": "1h"})

		read := func() (pw string, last time.Time, ttl float64) {
			t.Helper()
			got := data(t, must(h.Do(logical.ReadOperation, "static-creds/"+role, nil)))
			last, err := time.Parse(time.RFC3339, got["last_vault_rotation"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if got["username"] != user || got["rotation_period"] != 3600.0 {
				t.Errorf("static-creds = %v", got)
			}
			return got["password"].(string), last, got["ttl"].(float64)
		}
		check := func(what, pw, old string) {
			t.Helper()
			if tdb.Kind == "postgres" {
				h2 := tdb.passwordHash(t, user)
				if h2 == hash {
					t.Errorf("%s: pg_authid hash unchanged", what)
				}
				hash = h2
				if err := tdb.Query(t, user, pw); err != nil {
					t.Errorf("%s: login: %v", what, err)
				}
				return
			}
			if err := tdb.Query(t, user, pw); err != nil {
				t.Errorf("%s: the new password does not work: %v", what, err)
			}
			if err := tdb.Query(t, user, old); err == nil {
				t.Errorf("%s: the old password still works", what)
			}
		}

		pw1, last1, ttl := read()
		if pw1 == firstPW || ttl != 3600 {
			t.Errorf("after create: password unchanged or ttl %v != 3600", ttl)
		}
		check("create", pw1, firstPW)

		h.Clock.Advance(10 * time.Minute)
		if _, err := h.Do(logical.UpdateOperation, "rotate-role/"+role, nil); err != nil {
			t.Fatalf("rotate-role: %v", err)
		}
		pw2, last2, _ := read()
		if pw2 == pw1 || !last2.After(last1) {
			t.Errorf("rotate-role: password changed %v, last_vault_rotation %v -> %v", pw2 != pw1, last1, last2)
		}
		check("rotate-role", pw2, pw1)

		// Periodic does nothing before the period has passed...
		h.Clock.Advance(59 * time.Minute)
		if err := h.b.Periodic(t.Context()); err != nil {
			t.Fatal(err)
		}
		if pw, _, ttl := read(); pw != pw2 || ttl != 60 {
			t.Errorf("Periodic before the period: password changed %v, ttl %v want 60", pw != pw2, ttl)
		}
		// ...and rotates after it, also after a restart.
		h = h.restart()
		h.Clock.Advance(2 * time.Minute)
		if err := h.b.Periodic(t.Context()); err != nil {
			t.Fatal(err)
		}
		pw3, last3, _ := read()
		if pw3 == pw2 || !last3.After(last2) {
			t.Errorf("Periodic after the period: password changed %v, last_vault_rotation %v -> %v", pw3 != pw2, last2, last3)
		}
		check("periodic", pw3, pw2)

		// A crash after storing a pending password: Periodic completes it.
		var sr staticRole
		if _, err := framework.GetJSON(t.Context(), h.b.storage, staticRolePrefix+role, &sr); err != nil {
			t.Fatal(err)
		}
		sr.PendingPassword = "Pending-" + tdb.Suffix
		if err := framework.PutJSON(t.Context(), h.b.storage, staticRolePrefix+role, &sr); err != nil {
			t.Fatal(err)
		}
		if err := h.b.Periodic(t.Context()); err != nil {
			t.Fatal(err)
		}
		if pw, _, _ := read(); pw != "Pending-"+tdb.Suffix {
			t.Error("Periodic did not complete the pending rotation")
		}
		check("pending", "Pending-"+tdb.Suffix, pw3)

		got := data(t, must(h.Do(logical.ReadOperation, "static-roles/"+role, nil)))
		raw, _ := json.Marshal(got)
		if strings.Contains(string(raw), "Pending-") || got["username"] != user || got["rotation_period"] != 3600.0 {
			t.Errorf("read static-roles/%s = %s", role, raw)
		}
		if err := h.write("static-roles/"+role, map[string]any{"username": "other"}); err == nil {
			t.Error("changing a static role's username succeeded")
		}
		if keys := data(t, must(h.Do(logical.ListOperation, "static-roles/", nil)))["keys"].([]any); len(keys) != 1 {
			t.Errorf("list static-roles = %v", keys)
		}
		if _, err := h.Do(logical.DeleteOperation, "static-roles/"+role, nil); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRevokeWhileUnreachable: a revocation fails while the database
// cannot be reached and works when core retries it later.
func TestRevokeWhileUnreachable(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		h := newHarness(t)
		h.configure(tdb, nil)
		role := "u" + tdb.Suffix
		h.mustWrite("roles/"+role, map[string]any{"db_name": "db", "creation_statements": tdb.Creation()})
		user, _, lease := h.creds(role)

		port := map[string]string{"postgres": "5432", "mysql": "3306"}[tdb.Kind]
		good := tdb.URL
		tdb.URL = strings.Replace(good, "127.0.0.1:"+port, closedAddr(t), 1)
		h.configure(tdb, map[string]any{"verify_connection": false})
		if err := h.b.RevokeSecret(t.Context(), lease); err == nil {
			t.Fatal("RevokeSecret with the database unreachable succeeded")
		} else {
			logicaltest.WantKind(t, "RevokeSecret unreachable", err, logical.ErrUpstream)
		}
		if !tdb.userExists(t, user) {
			t.Fatal("user gone although the revocation failed")
		}
		tdb.URL = good
		h.configure(tdb, nil)
		if err := h.b.RevokeSecret(t.Context(), lease); err != nil {
			t.Fatalf("retried RevokeSecret: %v", err)
		}
		if tdb.userExists(t, user) {
			t.Error("user survives the retried revocation")
		}
	})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	tdb := newPostgres(t)
	cfg, _ := json.Marshal(map[string]any{
		"plugin_name": PluginPostgres, "connection_url": tdb.URL, "username": tdb.User, "password": tdb.Password,
		"allowed_roles": []string{"*"},
	})
	role, _ := json.Marshal(map[string]any{"db_name": "db", "creation_statements": tdb.Creation(), "default_ttl": "1h"})
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: logical.UpdateOperation, Path: "config/db", Body: cfg},
			{Operation: logical.UpdateOperation, Path: "roles/app", Body: role},
		},
		Reads: []*logical.Request{
			{Operation: logical.ReadOperation, Path: "config/db"},
			{Operation: logical.ListOperation, Path: "config/"},
			{Operation: logical.ReadOperation, Path: "roles/app"},
			{Operation: logical.ListOperation, Path: "roles"},
		},
	})
}

func BenchmarkCredsPostgres(b *testing.B) {
	tdb := newPostgres(b)
	h := newHarness(b)
	h.configure(tdb, nil)
	role := "b" + tdb.Suffix
	h.mustWrite("roles/"+role, map[string]any{"db_name": "db", "creation_statements": tdb.Creation()})
	var leases []*logical.LeasedSecret
	b.Cleanup(func() {
		for _, l := range leases {
			// b.Context() is already cancelled when cleanups run.
			if err := h.b.RevokeSecret(context.Background(), l); err != nil {
				b.Error(err)
			}
		}
	})
	for b.Loop() {
		_, _, lease := h.creds(role)
		leases = append(leases, lease)
	}
}

// TestRoleNotAllowed checks Vault's order: a role that the connection's
// allowed_roles excludes is stored with a warning, and credentials are
// refused until allowed_roles includes it.
func TestRoleNotAllowed(t *testing.T) {
	t.Parallel()
	servers(t, func(t *testing.T, tdb *testDB) {
		user := "na" + tdb.Suffix
		tdb.createUser(t, user, "First-pw-"+tdb.Suffix, false)
		h := newHarness(t)
		h.configure(tdb, map[string]any{"allowed_roles": "other"})

		resp, err := h.Do(logical.UpdateOperation, "roles/dyn", map[string]any{"db_name": "db", "creation_statements": tdb.Creation()})
		if err != nil {
			t.Fatalf("write roles/dyn: %v", err)
		}
		if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "allowed_roles") {
			t.Errorf("write roles/dyn = %+v, want one warning naming allowed_roles", resp)
		}
		if _, err := h.Do(logical.ReadOperation, "roles/dyn", nil); err != nil {
			t.Errorf("read the stored role: %v", err)
		}
		resp, err = h.Do(logical.UpdateOperation, "static-roles/st", map[string]any{"db_name": "db", "username": user, "rotation_period": "1h"})
		if err != nil {
			t.Fatalf("write static-roles/st: %v", err)
		}
		if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "allowed_roles") {
			t.Errorf("write static-roles/st = %+v, want one warning naming allowed_roles", resp)
		}
		for _, path := range []string{"creds/dyn", "static-creds/st"} {
			_, err := h.Do(logical.ReadOperation, path, nil)
			logicaltest.WantKind(t, path, err, logical.ErrInvalidRequest)
			if !strings.Contains(err.Error(), "is not an allowed role") || !strings.Contains(err.Error(), "allowed_roles") {
				t.Errorf("read %s: error %q, want Vault's words and allowed_roles", path, err)
			}
		}
		_, err = h.Do(logical.UpdateOperation, "rotate-role/st", nil)
		logicaltest.WantKind(t, "rotate-role of a role not allowed", err, logical.ErrInvalidRequest)
		if err := h.b.Periodic(t.Context()); err != nil {
			t.Errorf("Periodic with a role not allowed: %v", err)
		}
		if err := tdb.Query(t, user, "First-pw-"+tdb.Suffix); err != nil {
			t.Errorf("the static role's user was rotated while not allowed: %v", err)
		}

		h.mustWrite("config/db", map[string]any{"allowed_roles": "dyn,st"})
		if u, pw, _ := h.creds("dyn"); tdb.Query(t, u, pw) != nil {
			t.Error("credentials issued once allowed do not log in")
		}
		if err := h.b.Periodic(t.Context()); err != nil {
			t.Fatalf("Periodic: %v", err)
		}
		got := data(t, must(h.Do(logical.ReadOperation, "static-creds/st", nil)))
		if err := tdb.Query(t, user, got["password"].(string)); err != nil {
			t.Errorf("static role rotated once allowed: login: %v", err)
		}
	})
}
