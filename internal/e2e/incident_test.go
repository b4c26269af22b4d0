package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	return runCofferAs(t, s, s.RootToken, args...)
}

// runCofferAs runs the coffer command with token.
func runCofferAs(t *testing.T, s *testserver.Server, token string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	vars := map[string]string{"VAULT_ADDR": s.Addr, "VAULT_TOKEN": token}
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

// agentLog collects an agent process's output.
type agentLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *agentLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *agentLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agentService is a service whose secrets a real `coffer agent` process
// renders into files.
type agentService struct {
	name, dir string
	roleID    string
	secretID  string
	files     map[string]string // template name -> rendered file
	log       *agentLog
	cmd       *exec.Cmd
}

func (a *agentService) file(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(a.files[name])
	if err != nil {
		t.Fatalf("%s's %s file: %v", a.name, name, err)
	}
	return string(b)
}

func (a *agentService) token(t *testing.T) string { return strings.TrimSpace(a.file(t, "token")) }

// startAgentService makes an AppRole role for name with policy pol and
// starts `coffer agent` logging in with it and rendering templates (name
// -> template text) every second; it waits until every file is there.
// With a Kubernetes service account token (k8sJWT), the agent logs in
// with the Kubernetes role name instead.
func startAgentService(t *testing.T, s *testserver.Server, name, pol, k8sJWT string, templates map[string]string) *agentService {
	t.Helper()
	if err := s.Client.Sys().PutPolicy("svc-"+name, pol); err != nil {
		t.Fatal(err)
	}
	a := &agentService{name: name, dir: t.TempDir(), files: map[string]string{}, log: &agentLog{}}
	write := func(f, v string) {
		if err := os.WriteFile(f, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var method string
	if k8sJWT != "" {
		mustWrite(t, s.Client, "auth/kubernetes/role/"+name, map[string]any{
			"bound_service_account_names": name, "bound_service_account_namespaces": "shop", "audience": "coffer", "token_policies": "svc-" + name,
		})
		jwtFile := filepath.Join(a.dir, "sa-token")
		write(jwtFile, k8sJWT)
		method = fmt.Sprintf(`method "kubernetes" {
    config = { role = %q, token_path = %q }
  }`, name, jwtFile)
	} else {
		mustWrite(t, s.Client, "auth/approle/role/"+name, map[string]any{"token_policies": "svc-" + name, "token_ttl": "1h"})
		sec, err := s.Client.Logical().Read("auth/approle/role/" + name + "/role-id")
		if err != nil {
			t.Fatal(err)
		}
		a.roleID = sec.Data["role_id"].(string)
		a.secretID = mustWrite(t, s.Client, "auth/approle/role/"+name+"/secret-id", nil).Data["secret_id"].(string)
		roleFile, secretFile := filepath.Join(a.dir, "role_id"), filepath.Join(a.dir, "secret_id")
		write(roleFile, a.roleID)
		write(secretFile, a.secretID)
		method = fmt.Sprintf(`method "approle" {
    config = { role_id_file_path = %q, secret_id_file_path = %q }
  }`, roleFile, secretFile)
	}
	a.files["token"] = filepath.Join(a.dir, "token")
	cfg := fmt.Sprintf(`vault { address = %q }
auto_auth {
  %s
  sink "file" { config = { path = %q } }
}
template_config { static_secret_render_interval = "1s" }
`, s.Addr, method, a.files["token"])
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range templates {
			if !yield(k) {
				return
			}
		}
	})
	for _, n := range names {
		a.files[n] = filepath.Join(a.dir, n+".txt")
		cfg += fmt.Sprintf("template {\n  contents = %q\n  destination = %q\n}\n", templates[n], a.files[n])
	}
	cfgFile := filepath.Join(a.dir, "agent.hcl")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cmd = exec.CommandContext(ctx, cofferBin, "agent", "-config="+cfgFile)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.Env = []string{"HOME=" + a.dir, "PATH=" + os.Getenv("PATH")}
	if err := a.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		a.cmd.Wait()
	})
	pollUntil(t, 30*time.Second, name+"'s agent to render its files", func() bool {
		for _, f := range a.files {
			if b, err := os.ReadFile(f); err != nil || len(b) == 0 {
				return false
			}
		}
		return true
	}, a.log)
	return a
}

// pollUntil polls cond, which looks at files another process writes,
// until it holds or timeout passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool, log *agentLog) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling files written by another process
	}
	t.Fatalf("timed out after %v waiting for %s; agent log:\n%s", timeout, what, log)
}

// responderPolicy is the runbook's policy for incident responders who
// rotate (docs/incident-response.md).
const responderPolicy = `path "sys/incident/*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }
path "sys/incident" { capabilities = ["list", "sudo"] }
path "secret/rotation/*" { capabilities = ["read"] }
path "secret/rotate/*" { capabilities = ["update"] }
path "database/rotate-role/*" { capabilities = ["update"] }
path "transit/keys/*" { capabilities = ["read", "update"] }
path "pki/certs/" { capabilities = ["list"] }
path "pki/revoke" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update", "sudo"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/audit-hash/*" { capabilities = ["update"] }
`

// TestIncidentRotateThroughAgents: three services read their secrets,
// a shared secret, a database static role and dynamic database
// credentials through real `coffer agent` processes; one service's token
// and secret ID leak. contain revokes it (403 at once, its database user
// dropped) while the other two keep working; report lists exactly what it
// read; rotate (by a responder with the runbook's policy, refusing an
// edited log) rotates the KV secrets with a rotation policy, the static
// role and the transit key it encrypted with, revokes the certificate its
// agent was issued, lists the rest as a checklist, reports a failed
// rotator and records each outcome so that a re-run retries only what
// failed and skips what is done; the other
// services' agents (one logged in with Kubernetes) render the new values,
// following events.
func TestIncidentRotateThroughAgents(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	ctx := t.Context()
	cl := s.Client
	auditFile := filepath.Join(t.TempDir(), "audit.log")
	if err := cl.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": auditFile}}); err != nil {
		t.Fatal(err)
	}
	setUpDatabase(t, cl, d, "", "1h")
	staticUser := "st" + d.Suffix
	if _, err := d.Admin.ExecContext(ctx, "CREATE ROLE "+staticUser+" LOGIN PASSWORD 'First-pw-"+d.Suffix+"'"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "database/static-roles/report", map[string]any{"db_name": "db", "username": staticUser, "rotation_period": "24h"})
	if err := cl.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "transit/keys/pay", nil)
	if err := cl.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	k8s := newFakeTokenReview(t)
	mustWrite(t, cl, "sys/auth/kubernetes", map[string]any{"type": "kubernetes"})
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k8s.srv.Certificate().Raw}))
	mustWrite(t, cl, "auth/kubernetes/config", map[string]any{"kubernetes_host": k8s.srv.URL, "kubernetes_ca_cert": caPEM, "token_reviewer_jwt": "reviewer"})
	if err := cl.Sys().Mount("pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "87600h"}}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "pki/root/generate/internal", map[string]any{"common_name": "Coffer Test Root", "key_type": "ec", "ttl": "87600h"})
	mustWrite(t, cl, "pki/roles/svc", map[string]any{"allowed_domains": "svc.local", "allow_subdomains": true, "key_type": "ec", "key_bits": 256, "ttl": "1h"})
	kv := cl.KVv2("secret")
	for _, p := range []string{"shared/api", "pay/db", "pay/note", "ship/key", "bill/key"} {
		if _, err := kv.Put(ctx, p, map[string]any{"v": "first-" + strings.ReplaceAll(p, "/", "-")}); err != nil {
			t.Fatal(err)
		}
	}
	// pay/db's rotator refuses at first; pay/note has no rotation policy:
	// it is left to a human.
	var hookDown atomic.Bool
	hookDown.Store(true)
	hook := newRotHook(t, func(int, *http.Request) int {
		if hookDown.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	mustWrite(t, cl, "secret/rotation/shared/api", map[string]any{"period": "720h", "keys": map[string]any{"v": map[string]any{"generator": "random"}}})
	mustWrite(t, cl, "secret/rotation/pay/db", hook.policy("720h"))

	kvTmpl := func(p string) string {
		return `{{ with secret "secret/data/` + p + `" }}{{ .Data.data.v }}{{ end }}`
	}
	const dbTmpl = `{{ with secret "database/creds/app" }}{{ .Data.username }}:{{ .Data.password }}{{ end }}`
	const staticTmpl = `{{ with secret "database/static-creds/report" }}{{ .Data.password }}{{ end }}`
	pol := func(name string, extra ...string) string {
		p := `path "secret/data/` + name + `/*" { capabilities = ["read"] }
path "secret/data/shared/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
path "database/static-creds/report" { capabilities = ["read"] }
path "sys/events/subscribe/kv-v2/*" { capabilities = ["read"] }
`
		for _, e := range extra {
			p += `path "` + e + `" { capabilities = ["update"] }` + "\n"
		}
		return p
	}
	pay := startAgentService(t, s, "pay", pol("pay", "transit/encrypt/pay", "pki/issue/svc"), "", map[string]string{
		"shared": kvTmpl("shared/api"), "db-secret": kvTmpl("pay/db"), "note": kvTmpl("pay/note"), "db": dbTmpl, "static": staticTmpl,
		"cert": `{{ with pkiCert "pki/issue/svc" "common_name=pay.svc.local" }}{{ .Data.Cert }}{{ end }}`,
	})
	ship := startAgentService(t, s, "ship", pol("ship"), "", map[string]string{"shared": kvTmpl("shared/api"), "own": kvTmpl("ship/key"), "db": dbTmpl, "static": staticTmpl})
	bill := startAgentService(t, s, "bill", pol("bill"), k8s.token(t, "shop", "bill"), map[string]string{"shared": kvTmpl("shared/api"), "own": kvTmpl("bill/key"), "db": dbTmpl})
	others := []*agentService{ship, bill}

	// pay also encrypts with its transit key, directly with its token.
	payToken := pay.token(t)
	payClient := clientWith(t, s, payToken)
	if _, err := payClient.Logical().Write("transit/encrypt/pay", map[string]any{"plaintext": "aGVsbG8="}); err != nil {
		t.Fatalf("pay encrypt: %v", err)
	}
	self, err := payClient.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	payAccessor := self.Data["accessor"].(string)
	payUser, _, _ := strings.Cut(pay.file(t, "db"), ":")
	payCert := parseCert(t, pay.file(t, "cert"))
	paySerial := serialOf(payCert)
	if got := ship.file(t, "shared"); got != "first-shared-api" {
		t.Fatalf("ship's shared secret = %q", got)
	}

	// pay's token and secret ID leak: contain it.
	code, out, errOut := runCoffer(t, s, "incident", "contain", "-format=json", "-accessor="+payAccessor, "-reason=pay token leaked")
	if code != 0 {
		t.Fatalf("incident contain = %d\n%s\n%s", code, out, errOut)
	}
	var sec api.Secret
	if err := json.Unmarshal([]byte(out), &sec); err != nil {
		t.Fatalf("contain output: %v\n%s", err, out)
	}
	id, _ := sec.Data["id"].(string)
	if _, err := payClient.Logical().Read("secret/data/pay/db"); statusCode(err) != 403 {
		t.Errorf("the leaked token's read error = %v, want 403", err)
	}
	if _, _, err := appRoleLogin(s, pay.roleID, pay.secretID); err == nil {
		t.Error("login with the leaked secret ID succeeded")
	}
	waitGone(t, d, payUser)
	for _, o := range others {
		if _, err := clientWith(t, s, o.token(t)).KVv2("secret").Get(ctx, o.name+"/key"); err != nil {
			t.Errorf("%s stopped working: %v", o.name, err)
		}
		user, pass, _ := strings.Cut(o.file(t, "db"), ":")
		if err := d.Query(t, user, pass); err != nil {
			t.Errorf("%s's database user cannot query: %v", o.name, err)
		}
	}

	// The report: exactly what pay read, with the versions.
	code, out, errOut = runCoffer(t, s, "incident", "report", "-format=json", "-audit="+auditFile, id)
	if code != 0 {
		t.Fatalf("incident report = %d\n%s\n%s", code, out, errOut)
	}
	var rep incident.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	var reads []string
	for _, r := range rep.Reads {
		reads = append(reads, fmt.Sprintf("%s%v", r.Path, r.Versions))
	}
	wantReads := []string{"database/static-creds/report[]", "secret/data/pay/db[1]", "secret/data/pay/note[1]", "secret/data/shared/api[1]"}
	if !slices.Equal(reads, wantReads) {
		t.Errorf("report reads = %v, want %v", reads, wantReads)
	}

	// Rotate, and check each outcome.
	beforeStatic := ship.file(t, "static")
	// A responder with the runbook's policy runs rotate; an edited audit
	// log is refused and changes nothing.
	if err := cl.Sys().PutPolicy("responder", responderPolicy); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"responder"}})
	if err != nil {
		t.Fatal(err)
	}
	responder := resp.Auth.ClientToken
	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(t.TempDir(), "edited.log")
	if err := os.WriteFile(edited, bytes.Replace(raw, []byte("secret/data/pay/note"), []byte("secret/data/pay/nope"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCofferAs(t, s, responder, "incident", "rotate", "-audit="+edited, id); code != 2 || !strings.Contains(errOut, "does not verify") {
		t.Errorf("rotate from an edited log = %d, stderr %q; want 2 and a refusal", code, errOut)
	}
	code, out, errOut = runCofferAs(t, s, responder, "incident", "rotate", "-dry-run", "-audit="+auditFile, id)
	if code != 0 || strings.Count(out, "planned") != 7 {
		t.Errorf("rotate -dry-run = %d\n%s\n%s", code, out, errOut)
	}
	if v, err := kv.Get(ctx, "shared/api"); err != nil || v.VersionMetadata.Version != 1 {
		t.Errorf("rotate -dry-run rotated shared/api: %v, %v", v, err)
	}
	code, out, errOut = runCofferAs(t, s, responder, "incident", "rotate", "-format=json", "-audit="+auditFile, id)
	if code != 2 {
		t.Fatalf("incident rotate with a failing rotator = %d, want 2\n%s\n%s", code, out, errOut)
	}
	type result struct {
		Action, Target, Outcome, Detail string
		Skipped                         bool
	}
	var results []result
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("rotate output: %v\n%s", err, out)
	}
	var got []string
	for _, r := range results {
		target := r.Target
		switch r.Action {
		case incident.ActionRevokeLease:
			target = "database/creds/app/..."
		case incident.ActionRevokeCert:
			target, _, _ = strings.Cut(target, ":")
			target += ":..."
			if !strings.Contains(r.Detail, paySerial) {
				t.Errorf("revoke-cert %q does not name pay's certificate %s", r.Detail, paySerial)
			}
		}
		got = append(got, r.Action+" "+target+" "+r.Outcome)
	}
	want := []string{
		"rotate-kv secret/data/pay/db failed",
		"rotate-kv secret/data/pay/note manual",
		"rotate-kv secret/data/shared/api ok",
		"rotate-static-role database/static-creds/report ok",
		"revoke-lease database/creds/app/... ok",
		"rotate-transit-key transit/keys/pay ok",
		"rewrap transit/keys/pay manual",
		"revoke-cert hmac-sha256:... ok",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rotate steps:\n%s\nwant:\n%s\noutput:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	for _, r := range results {
		// The log holds ciphertexts as HMACs: the item names the key
		// versions pay used and the version to require after rewrapping.
		if r.Action == incident.ActionRewrap && (!strings.Contains(r.Detail, "versions 1 of the key") || !strings.Contains(r.Detail, "min_decryption_version=2")) {
			t.Errorf("rewrap item = %q", r.Detail)
		}
		if r.Outcome == incident.OutcomeManual && !strings.Contains(r.Detail, "coffer ") {
			t.Errorf("checklist item %s %s has no command: %q", r.Action, r.Target, r.Detail)
		}
	}
	if k, err := cl.Logical().Read("transit/keys/pay"); err != nil || fmt.Sprint(k.Data["latest_version"]) != "2" {
		t.Errorf("transit key after rotate = %v, %v; want latest_version 2", k, err)
	}
	revoked, err := cl.Logical().List("pki/certs/revoked")
	if err != nil || revoked == nil || !slices.Contains(revoked.Data["keys"].([]any), any(paySerial)) {
		t.Errorf("revoked certificates = %v, %v; want pay's %s", revoked, err, paySerial)
	}
	if !inCRL(t, s, payCert) {
		t.Errorf("pay's certificate %s is not in the CRL", paySerial)
	}
	newShared, err := kv.Get(ctx, "shared/api")
	if err != nil {
		t.Fatal(err)
	}
	if newShared.VersionMetadata.Version != 2 || newShared.Data["v"] == "first-shared-api" {
		t.Errorf("shared/api after rotate: version %d", newShared.VersionMetadata.Version)
	}

	// The rotator is back: a re-run retries the failed step only.
	hookDown.Store(false)
	code, out, errOut = runCofferAs(t, s, responder, "incident", "rotate", "-audit="+auditFile, id)
	if code != 0 || !regexp.MustCompile(`rotate-kv +secret/data/pay/db +ok`).MatchString(out) || strings.Count(out, "done before") != 5 {
		t.Errorf("rotate after the rotator came back = %d\n%s\n%s", code, out, errOut)
	}

	// The other services' agents render the new values.
	for _, o := range others {
		pollUntil(t, 20*time.Second, o.name+"'s agent to render the rotated shared secret", func() bool {
			return o.file(t, "shared") == newShared.Data["v"]
		}, o.log)
	}
	pollUntil(t, 20*time.Second, "ship's agent to render the rotated static role password", func() bool {
		return ship.file(t, "static") != beforeStatic
	}, ship.log)

	// A re-run skips what is done and lists the checklist again; the
	// record holds every outcome.
	code, out, errOut = runCoffer(t, s, "incident", "rotate", "-audit="+auditFile, id)
	if code != 0 || strings.Count(out, "done before") != 6 || !strings.Contains(out, "CHECKLIST: 2 item(s)") || !strings.Contains(out, "coffer kv put -mount=secret pay/note") {
		t.Errorf("re-run rotate = %d\n%s\n%s", code, out, errOut)
	}
	if v, err := kv.Get(ctx, "shared/api"); err != nil || v.VersionMetadata.Version != 2 {
		t.Errorf("the re-run rotated shared/api again: %v, %v", v, err)
	}
	// The other agents followed events and never saw an error; pay's
	// was refused.
	for _, o := range others {
		if l := o.log.String(); strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || !strings.Contains(l, "following events") {
			t.Errorf("%s's agent logged a problem or did not follow events:\n%s", o.name, l)
		}
	}
	if !strings.Contains(pay.log.String(), "403") {
		t.Errorf("pay's agent was not refused; log:\n%s", pay.log)
	}
	if code, out, _ := runCoffer(t, s, "incident", "show", id); code != 0 || !strings.Contains(out, "rotate-static-role") {
		t.Errorf("incident show = %d\n%s", code, out)
	}
	rec, err := cl.Logical().Read("sys/incident/" + id)
	if err != nil {
		t.Fatal(err)
	}
	buf, _ := json.Marshal(rec.Data)
	var r incident.Record
	if err := json.Unmarshal(buf, &r); err != nil {
		t.Fatal(err)
	}
	if st, ok := r.Rotated(incident.ActionRotateKV, "secret/data/pay/db"); len(r.Rotations) != 8 || !ok || st.Outcome != incident.OutcomeOK || st.Attempts != 2 {
		t.Errorf("recorded rotations = %+v, want 8 and pay/db ok at the second attempt", r.Rotations)
	}
}

// serialOf is a certificate's serial as the PKI engine writes it.
func serialOf(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// inCRL reports whether the pki mount's CRL lists c.
func inCRL(t *testing.T, s *testserver.Server, c *x509.Certificate) bool {
	t.Helper()
	resp, err := http.Get(s.Addr + "/v1/pki/crl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
			return true
		}
	}
	return false
}
