package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/cli"
	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// service is one AppRole service of the incident tests.
type service struct {
	name                 string
	roleID, secretID     string
	secretIDAccessor     string
	token, accessor      string
	client               *api.Client
	dbUser, dbPass       string
	childClient          *api.Client
	childUser, childPass string
}

// setUpService makes a policy and an AppRole role for name, logs in and
// returns the service with a client using its token.
func setUpService(t *testing.T, s *testserver.Server, name string) *service {
	t.Helper()
	pol := `path "secret/data/` + name + `/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
path "auth/token/create" { capabilities = ["update"] }`
	if err := s.Client.Sys().PutPolicy("svc-"+name, pol); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, s.Client, "auth/approle/role/"+name, map[string]any{"token_policies": "svc-" + name})
	sv := &service{name: name}
	sec, err := s.Client.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sv.roleID = sec.Data["role_id"].(string)
	sec = mustWrite(t, s.Client, "auth/approle/role/"+name+"/secret-id", nil)
	sv.secretID, sv.secretIDAccessor = sec.Data["secret_id"].(string), sec.Data["secret_id_accessor"].(string)
	sv.token, sv.accessor, err = appRoleLogin(s, sv.roleID, sv.secretID)
	if err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	sv.client = clientWith(t, s, sv.token)
	return sv
}

func appRoleLogin(s *testserver.Server, roleID, secretID string) (token, accessor string, err error) {
	cl, err := s.Client.Clone()
	if err != nil {
		return "", "", err
	}
	cl.ClearToken()
	sec, err := cl.Logical().Write("auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	if err != nil {
		return "", "", err
	}
	return sec.Auth.ClientToken, sec.Auth.Accessor, nil
}

func clientWith(t *testing.T, s *testserver.Server, token string) *api.Client {
	t.Helper()
	cl, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(token)
	return cl
}

func dbCreds(t *testing.T, cl *api.Client) (user, pass string) {
	t.Helper()
	sec, err := cl.Logical().Read("database/creds/app")
	if err != nil {
		t.Fatalf("database creds: %v", err)
	}
	return sec.Data["username"].(string), sec.Data["password"].(string)
}

func runCoffer(t *testing.T, s *testserver.Server, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	vars := map[string]string{"VAULT_ADDR": s.Addr, "VAULT_TOKEN": s.RootToken}
	code = cli.Run(t.Context(), args, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }})
	return code, out.String(), errb.String()
}

// TestIncidentContainAndReport: three AppRole services read their
// secrets and database credentials; one service's token leaks; contain
// revokes it and its child token at once, drops their database users,
// blocks the identity's logins and leaves the other two working; the
// report lists exactly what the leaked identity read; an edited audit
// log is refused or marked untrusted; release lets the identity log in
// again.
func TestIncidentContainAndReport(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	ctx := t.Context()
	auditFile := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": auditFile}}); err != nil {
		t.Fatal(err)
	}
	setUpDatabase(t, s.Client, d, "", "1h")
	if err := s.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	kv := s.Client.KVv2("secret")
	for _, p := range []string{"pay/db", "pay/db", "pay/api", "pay/unread", "ship/key", "bill/key"} {
		if _, err := kv.Put(ctx, p, map[string]any{"v": "value-of-" + p}); err != nil {
			t.Fatal(err)
		}
	}
	pay, ship, bill := setUpService(t, s, "pay"), setUpService(t, s, "ship"), setUpService(t, s, "bill")

	// Normal work: each reads its secrets and gets database users; pay
	// also makes a child token that does the same.
	if _, err := pay.client.KVv2("secret").Get(ctx, "pay/db"); err != nil {
		t.Fatal(err)
	}
	if _, err := pay.client.KVv2("secret").GetVersion(ctx, "pay/db", 1); err != nil {
		t.Fatal(err)
	}
	pay.dbUser, pay.dbPass = dbCreds(t, pay.client)
	child, err := pay.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"svc-pay"}})
	if err != nil {
		t.Fatal(err)
	}
	pay.childClient = clientWith(t, s, child.Auth.ClientToken)
	if _, err := pay.childClient.KVv2("secret").Get(ctx, "pay/api"); err != nil {
		t.Fatal(err)
	}
	pay.childUser, pay.childPass = dbCreds(t, pay.childClient)
	for _, sv := range []*service{ship, bill} {
		if _, err := sv.client.KVv2("secret").Get(ctx, sv.name+"/key"); err != nil {
			t.Fatal(err)
		}
		sv.dbUser, sv.dbPass = dbCreds(t, sv.client)
	}

	// Contain the leaked token.
	code, out, errOut := runCoffer(t, s, "incident", "contain", "-format=json", "-accessor="+pay.accessor, "-reason=pay token leaked")
	if code != 0 {
		t.Fatalf("incident contain = %d\n%s\n%s", code, out, errOut)
	}
	var sec api.Secret
	if err := json.Unmarshal([]byte(out), &sec); err != nil {
		t.Fatalf("contain output: %v\n%s", err, out)
	}
	buf, _ := json.Marshal(sec.Data)
	var rec incident.Record
	if err := json.Unmarshal(buf, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.ID == "" || rec.Status != incident.StatusOpen || len(rec.Failed()) != 0 {
		t.Fatalf("record = %+v", rec)
	}
	if got := rec.Accessors(); len(got) != 2 || !slices.Contains(got, pay.accessor) || !slices.Contains(got, child.Auth.Accessor) {
		t.Errorf("revoked accessors = %v, want the pay token and its child", got)
	}
	if n := countLeasesOf(&rec); n != 2 {
		t.Errorf("revoked leases = %d, want 2", n)
	}
	if len(rec.DisabledEntities) != 1 || len(rec.SecretIDs) != 1 || rec.SecretIDs[0].Accessor != pay.secretIDAccessor {
		t.Errorf("disabled entities %v, destroyed secret IDs %v", rec.DisabledEntities, rec.SecretIDs)
	}

	// The leaked token and its child are refused at once.
	for name, cl := range map[string]*api.Client{"token": pay.client, "child token": pay.childClient} {
		if _, err := cl.Logical().Read("secret/data/pay/db"); statusCode(err) != 403 {
			t.Errorf("the contained %s read error = %v, want 403", name, err)
		}
	}
	// Their database users are gone; the others' are untouched.
	for _, u := range []string{pay.dbUser, pay.childUser} {
		if d.UserExists(t, u) {
			t.Errorf("database user %s of the contained identity still exists", u)
		}
	}
	for _, sv := range []*service{ship, bill} {
		if _, err := sv.client.KVv2("secret").Get(ctx, sv.name+"/key"); err != nil {
			t.Errorf("%s stopped working: %v", sv.name, err)
		}
		if !d.UserExists(t, sv.dbUser) {
			t.Errorf("%s's database user was dropped", sv.name)
		}
		if err := d.Query(t, sv.dbUser, sv.dbPass); err != nil {
			t.Errorf("%s's database user cannot query: %v", sv.name, err)
		}
	}
	// The identity cannot log in again: its secret ID is destroyed, and a
	// new one does not help while its entity is disabled.
	if _, _, err := appRoleLogin(s, pay.roleID, pay.secretID); err == nil {
		t.Error("login with the leaked secret ID succeeded")
	}
	fresh := mustWrite(t, s.Client, "auth/approle/role/pay/secret-id", nil).Data["secret_id"].(string)
	if _, _, err := appRoleLogin(s, pay.roleID, fresh); statusCode(err) != 403 {
		t.Errorf("login of the contained identity with a new secret ID error = %v, want 403", err)
	}

	// Re-running is safe: nothing left to revoke, nothing fails.
	if code, out, errOut := runCoffer(t, s, "incident", "contain", "-id="+rec.ID); code != 0 {
		t.Errorf("re-run contain = %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runCoffer(t, s, "incident", "list"); code != 0 || !strings.Contains(out, rec.ID) {
		t.Errorf("incident list = %d\n%s", code, out)
	}
	if code, out, _ := runCoffer(t, s, "incident", "show", rec.ID); code != 0 || !strings.Contains(out, "revoke-token") || !strings.Contains(out, "destroy-secret-id") {
		t.Errorf("incident show = %d\n%s", code, out)
	}
	// A report window after everything pay did is empty.
	if code, out, _ := runCoffer(t, s, "incident", "report", "-since=2099-01-01T00:00:00Z", "-audit="+auditFile, rec.ID); code != 0 || !strings.Contains(out, "SECRETS READ (0)") {
		t.Errorf("report with a later -since = %d\n%s", code, out)
	}

	// The report: exactly the secrets and versions pay read.
	code, out, errOut = runCoffer(t, s, "incident", "report", "-format=json", "-audit="+auditFile, rec.ID)
	if code != 0 {
		t.Fatalf("incident report = %d\n%s\n%s", code, out, errOut)
	}
	var rep incident.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	type pv struct {
		Path     string
		Versions []int64
	}
	var got []pv
	for _, r := range rep.Reads {
		got = append(got, pv{r.Path, r.Versions})
	}
	want := []pv{{"secret/data/pay/api", []int64{1}}, {"secret/data/pay/db", []int64{1, 2}}}
	if !slices.EqualFunc(got, want, func(a, b pv) bool { return a.Path == b.Path && slices.Equal(a.Versions, b.Versions) }) {
		t.Errorf("report reads = %v, want %v", got, want)
	}
	if !rep.Trusted || len(rep.Credentials) != 2 || len(rep.Logins) != 1 {
		t.Errorf("report: trusted %v, %d credentials (want 2), %d logins (want 1)", rep.Trusted, len(rep.Credentials), len(rep.Logins))
	}
	for _, c := range rep.Credentials {
		if !strings.HasPrefix(c.LeaseID, "database/creds/app/") || c.Source == "" {
			t.Errorf("credential = %+v", c)
		}
	}
	if code, out, _ := runCoffer(t, s, "incident", "report", "-format=markdown", "-audit="+auditFile, rec.ID); code != 0 || !strings.Contains(out, "| secret/data/pay/db | 1,2 |") {
		t.Errorf("markdown report = %d\n%s", code, out)
	}

	// An edited log is refused, or reported as untrusted.
	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(t.TempDir(), "edited.log")
	if err := os.WriteFile(edited, bytes.Replace(raw, []byte("secret/data/pay/api"), []byte("secret/data/pay/apj"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCoffer(t, s, "incident", "report", "-audit="+edited, rec.ID); code != 2 || !strings.Contains(errOut, "does not verify") {
		t.Errorf("report of an edited log = %d, stderr %q; want 2 and a refusal", code, errOut)
	}
	if code, out, _ := runCoffer(t, s, "incident", "report", "-allow-untrusted", "-audit="+edited, rec.ID); code != 2 || !strings.Contains(out, "UNTRUSTED") {
		t.Errorf("untrusted report = %d\n%s", code, out)
	}

	// Release: the identity may log in again with a new secret ID.
	if code, out, errOut := runCoffer(t, s, "incident", "release", rec.ID); code != 0 {
		t.Fatalf("release = %d\n%s\n%s", code, out, errOut)
	}
	if _, _, err := appRoleLogin(s, pay.roleID, fresh); err != nil {
		t.Errorf("login after release: %v", err)
	}
}

func countLeasesOf(r *incident.Record) int {
	n := 0
	for _, t := range r.Revoked {
		n += len(t.Leases)
	}
	return n
}

// TestIncidentLockdownAndBans: a lockdown makes a prefix read-only or
// denies it to everyone but tokens with sudo on sys/incident/*, at once,
// until lifted; a banned CIDR refuses requests and logins.
func TestIncidentLockdownAndBans(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if err := s.Client.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["create", "read", "update"] }`); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("responder", `path "secret/data/app/*" { capabilities = ["create", "read", "update"] }
path "sys/incident/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }`); err != nil {
		t.Fatal(err)
	}
	mk := func(pol string) *api.Client {
		sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{pol}})
		if err != nil {
			t.Fatal(err)
		}
		return clientWith(t, s, sec.Auth.ClientToken)
	}
	app, responder := mk("app"), mk("responder")
	write := func(cl *api.Client) error {
		_, err := cl.Logical().Write("secret/data/app/x", map[string]any{"data": map[string]any{"k": "v"}})
		return err
	}
	read := func(cl *api.Client) error { _, err := cl.Logical().Read("secret/data/app/x"); return err }
	if err := write(app); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name                string
		cmd                 []string
		appRead, appWrite   int
		respRead, respWrite int
	}{
		{"read-only", []string{"incident", "lockdown", "-mode=read-only", "secret/data/app"}, 0, 403, 0, 0},
		{"deny", []string{"incident", "lockdown", "-mode=deny", "secret/data/app"}, 403, 403, 0, 0},
		{"other prefix", []string{"incident", "lockdown", "-mode=deny", "secret/data/application"}, 403, 403, 0, 0},
		{"lift", []string{"incident", "lockdown", "-lift", "secret/data/app"}, 0, 0, 0, 0},
		{"ban the client address", nil, 403, 403, 0, 0},
	}
	for _, st := range steps {
		if st.cmd != nil {
			if code, out, errOut := runCoffer(t, s, st.cmd...); code != 0 {
				t.Fatalf("%s: %v = %d\n%s\n%s", st.name, st.cmd, code, out, errOut)
			}
		} else {
			mustWrite(t, responder, "sys/incident/contain", map[string]any{"source_cidr": "127.0.0.1/32"})
		}
		for _, c := range []struct {
			what string
			err  error
			want int
		}{{"app read", read(app), st.appRead}, {"app write", write(app), st.appWrite}, {"responder read", read(responder), st.respRead}, {"responder write", write(responder), st.respWrite}} {
			if statusCode(c.err) != c.want {
				t.Errorf("%s: %s error = %v, want status %d", st.name, c.what, c.err, c.want)
			}
		}
	}
	if _, err := app.Logical().Write("sys/incident/lockdown", map[string]any{"prefix": "secret/"}); statusCode(err) != 403 {
		t.Errorf("lockdown by a token without sudo on sys/incident error = %v, want 403", err)
	}
	if _, err := responder.Logical().Write("sys/incident/lockdown", map[string]any{"prefix": "secret/", "mode": "off"}); statusCode(err) != 400 {
		t.Errorf("lockdown with a bad mode error = %v, want 400", err)
	}
}
