package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// setUpAppRole enables AppRole with a role "agent" allowed everything the
// agent needs, and writes its role ID and a secret ID into dir.
func setUpAppRole(t *testing.T, cl *api.Client, dir, tokenTTL string) (roleIDFile, secretIDFile string) {
	t.Helper()
	if err := cl.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	policy := `path "*" { capabilities = ["create", "read", "update", "delete", "list"] }`
	if err := cl.Sys().PutPolicy("agent", policy); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("auth/approle/role/agent", map[string]any{"token_policies": "agent", "token_ttl": tokenTTL, "token_max_ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	rid, err := cl.Logical().Read("auth/approle/role/agent/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := cl.Logical().Write("auth/approle/role/agent/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	roleIDFile, secretIDFile = filepath.Join(dir, "role_id"), filepath.Join(dir, "secret_id")
	writeFile(t, roleIDFile, rid.Data["role_id"].(string)+"\n")
	writeFile(t, secretIDFile, sid.Data["secret_id"].(string)+"\n")
	return roleIDFile, secretIDFile
}

func setUpDatabase(t *testing.T, cl *api.Client, d *testdb.DB, ttl, maxTTL string) {
	t.Helper()
	if err := cl.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("database/config/db", map[string]any{
		"plugin_name": d.Plugin, "connection_url": d.URL, "username": d.User, "password": d.Password, "allowed_roles": "*",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("database/roles/app", map[string]any{
		"db_name": "db", "creation_statements": d.Creation(), "default_ttl": ttl, "max_ttl": maxTTL,
	}); err != nil {
		t.Fatal(err)
	}
}

// startAgent runs the agent for cfgText in the background and waits until
// it is ready. The returned channel yields Run's result.
func startAgent(t *testing.T, cfgText string, logs *logBuffer) (context.CancelFunc, <-chan error) {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgText), "agent.hcl")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Logger: logs.logger(), Stderr: logs, MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Ready: ready})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("agent stopped before it was ready: %v\nlog:\n%s", err, logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("agent not ready after 30s; log:\n%s", logs)
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return cancel, done
}

func TestAgentEndToEnd(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	s, err := testserver.New(testserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	cl := s.Client
	dir := t.TempDir()
	roleIDFile, secretIDFile := setUpAppRole(t, cl, dir, "6s")
	secretID := strings.TrimSpace(readFile(t, secretIDFile)) // the agent removes the file once read
	setUpDatabase(t, cl, d, "3s", "6s")
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "kv-pass-one"}); err != nil {
		t.Fatal(err)
	}

	tokenSink, wrappedSink := filepath.Join(dir, "token"), filepath.Join(dir, "wrapped")
	dbFile, kvFile, marker := filepath.Join(dir, "db.txt"), filepath.Join(dir, "kv.txt"), filepath.Join(dir, "marker")
	dbTmpl := filepath.Join(dir, "db.tmpl")
	writeFile(t, dbTmpl, `{{ with secret "database/creds/app" }}{{ .Data.username }}:{{ .Data.password }}{{ end }}`)
	cfgText := fmt.Sprintf(`
vault {
  address = %q
  retry { num_retries = 0 }
}
auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = %q
      secret_id_file_path = %q
    }
  }
  sink "file" {
    config = { path = %q, mode = "0600" }
  }
  sink "file" {
    wrap_ttl = "5m"
    config = { path = %q }
  }
}
template_config {
  static_secret_render_interval = "1s"
}
template {
  source      = %q
  destination = %q
  perms       = "0600"
  command     = "echo rendered >> %s"
}
template {
  contents             = "{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}"
  destination          = %q
  error_on_missing_key = true
}
`, s.Addr, roleIDFile, secretIDFile, tokenSink, wrappedSink, dbTmpl, dbFile, marker, kvFile)
	logs := &logBuffer{}
	startAgent(t, cfgText, logs)

	// The token sink: mode 0600, a working token.
	fi, err := os.Stat(tokenSink)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token sink mode = %v, want 0600", fi.Mode().Perm())
	}
	tokenClient := func(tok string) *api.Client {
		c, err := api.NewClient(&api.Config{Address: s.Addr})
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(tok)
		return c
	}
	agentToken := readFile(t, tokenSink)
	if self, err := tokenClient(agentToken).Auth().Token().LookupSelf(); err != nil || self.Data["path"] != "auth/approle/login" {
		t.Fatalf("lookup-self with the sink's token = %v, %v", self, err)
	}

	// The wrapped sink: wrap info whose token unwraps to a working token.
	var wi api.SecretWrapInfo
	if err := json.Unmarshal([]byte(readFile(t, wrappedSink)), &wi); err != nil || wi.Token == "" {
		t.Fatalf("wrapped sink is not wrap info: %v", err)
	}
	unwrapped, err := tokenClient("").Logical().Unwrap(wi.Token)
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	inner, _ := unwrapped.Data["token"].(string)
	if inner == "" {
		t.Fatalf("unwrapped data has no token")
	}
	if _, err := tokenClient(inner).Auth().Token().LookupSelf(); err != nil {
		t.Errorf("the unwrapped token does not work: %v", err)
	}

	// The database credential works for a login.
	first := readFile(t, dbFile)
	user, pass, ok := strings.Cut(first, ":")
	if !ok || user == "" || pass == "" {
		t.Fatalf("db file is not user:password (%d bytes)", len(first))
	}
	if err := d.Query(t, user, pass); err != nil {
		t.Fatalf("rendered credentials do not log in: %v", err)
	}
	if fi, _ := os.Stat(dbFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("db file mode = %v, want 0600", fi.Mode().Perm())
	}
	if got := readFile(t, kvFile); got != "kv-pass-one" {
		t.Errorf("kv file = %q, want kv-pass-one", got)
	}

	// Near the lease's max TTL the file is rendered again with new
	// credentials, and the command runs again.
	var second string
	waitFor(t, 20*time.Second, "new database credentials", func() bool {
		second = readFile(t, dbFile)
		return second != first
	})
	user2, pass2, _ := strings.Cut(second, ":")
	if user2 == user {
		t.Errorf("re-rendered with the same user")
	}
	if err := d.Query(t, user2, pass2); err != nil {
		t.Errorf("new credentials do not log in: %v", err)
	}
	// The command runs after the file is written: wait for it.
	waitFor(t, 20*time.Second, "the command to run again after the new render", func() bool {
		return strings.Count(readFile(t, marker), "rendered") >= 2
	})
	if !strings.Contains(logs.String(), "lease renewed") {
		t.Errorf("the lease was never renewed before re-fetching; log:\n%s", logs)
	}

	// A KV change reaches the file within the interval.
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "kv-pass-two"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the KV change", func() bool { return readFile(t, kvFile) == "kv-pass-two" })

	// A missing key with error_on_missing_key: the render fails and the
	// previous file stays.
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"other": "kv-other-three"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the render failure", func() bool { return strings.Contains(logs.String(), `map has no entry for key \"password\"`) })
	if got := readFile(t, kvFile); got != "kv-pass-two" {
		t.Errorf("kv file after a missing key = %q, want the previous kv-pass-two", got)
	}

	// The token outlives its 6s TTL by renewal or a new login.
	current := readFile(t, tokenSink)
	if _, err := tokenClient(current).Auth().Token().LookupSelf(); err != nil {
		t.Errorf("the sink's token no longer works: %v", err)
	}

	// The server stops: the agent backs off and keeps the last files.
	dbBefore, kvBefore := readFile(t, dbFile), readFile(t, kvFile)
	s.Close()
	closed = true
	waitFor(t, 10*time.Second, "a logged refresh failure", func() bool {
		return strings.Count(logs.String(), "refresh failed") >= 2
	})
	if readFile(t, dbFile) != dbBefore || readFile(t, kvFile) != kvBefore {
		t.Errorf("files changed while the server was down")
	}
	if readFile(t, tokenSink) == "" {
		t.Errorf("token sink emptied while the server was down")
	}

	// As in Vault Agent, the secret ID file is removed once read.
	if _, err := os.Stat(secretIDFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secret ID file still there after login: %v", err)
	}

	// Nothing secret was logged.
	assertNoSecrets(t, "agent log", logs.String(), "kv-pass-one", "kv-pass-two", "kv-other-three", pass, pass2,
		agentToken, current, inner, wi.Token, secretID, s.RootToken)
}

func TestAgentTemplateSyntaxError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "bad.tmpl")
	writeFile(t, src, "ok\n{{ with secret \"a\" }}\n{{ .Data.x }\n{{ end }}\n")
	cfg, err := config.Parse(fmt.Appendf(nil, "template {\n source = %q\n destination = %q\n}\n", src, filepath.Join(dir, "out")), "agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	err = Run(t.Context(), cfg, Options{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), src+":3") {
		t.Fatalf("Run error = %v, want it to name %s:3", err, src)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("destination written despite the syntax error")
	}
}

func TestAgentTokenFileExitAfterAuth(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	dir := t.TempDir()
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{TTL: "1h", Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	tokFile, sink := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	writeFile(t, tokFile, sec.Auth.ClientToken)
	cfg, err := config.Parse(fmt.Appendf(nil, `
exit_after_auth = true
pid_file = %q
vault { address = %q }
auto_auth {
  method "token_file" { config = { token_file_path = %q } }
  sink "file" { config = { path = %q } }
}`, filepath.Join(dir, "pid"), s.Addr, tokFile, sink), "agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := Run(ctx, cfg, Options{}); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run did not exit after auth")
	}
	if got := readFile(t, sink); got != sec.Auth.ClientToken {
		t.Errorf("sink holds another token")
	}
	if fi, err := os.Stat(sink); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("sink mode = %v, %v; want the default 0640", fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left behind: %v", err)
	}
}

func TestAgentExecMode(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "db", map[string]any{"password": "exec-secret-1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "child.out")
	// The child records the hash of the variable and its own command line,
	// then waits to be stopped.
	script := `printf '%s ' "$(printf %s "$DB_PASSWORD" | sha256sum | cut -d' ' -f1)" >> ` + out + `; tr '\0' ' ' < /proc/$$/cmdline >> ` + out + `; echo >> ` + out + `; trap 'exit 7' TERM; while :; do sleep 0.05; done`
	cfg, err := config.Parse(fmt.Appendf(nil, `
vault { address = %q }
template_config { static_secret_render_interval = "1s" }
exec {
  command = ["/bin/sh", "-c", %q]
}
env_template "DB_PASSWORD" {
  contents = "{{ with secret \"secret/data/db\" }}{{ .Data.data.password }}{{ end }}"
}`, s.Addr, script), "agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Logger: logs.logger(), Stderr: logs, Getenv: func(k string) string {
			if k == "VAULT_TOKEN" {
				return s.RootToken
			}
			return ""
		}, Environ: []string{"PATH=" + os.Getenv("PATH")}, MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	}()
	hash := func(v string) string { return sha256Hex(v) }
	waitFor(t, 10*time.Second, "the child to start", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "\n")
	})
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "db", map[string]any{"password": "exec-secret-2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the child to restart", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") >= 2
	})
	cancel()
	err = <-done
	if ee, ok := errors.AsType[*ExitError](err); !ok || ee.Code != 7 {
		t.Errorf("Run = %v, want the child's exit code 7", err)
	}
	lines := strings.Split(strings.TrimSpace(readFile(t, out)), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], hash("exec-secret-1")) || !strings.HasPrefix(lines[len(lines)-1], hash("exec-secret-2")) {
		t.Errorf("child saw hashes %q, want those of the first then the second value", lines)
	}
	all := readFile(t, out)
	assertNoSecrets(t, "child command line", all, "exec-secret-1", "exec-secret-2")
	assertNoSecrets(t, "agent log", logs.String(), "exec-secret-1", "exec-secret-2", s.RootToken)
}

// TestAgentExitAfterAuthTemplates runs exit_after_auth with a template
// whose destination directory does not exist: by default the agent
// creates it (create_dest_dirs, as Vault Agent), renders and exits; with
// create_dest_dirs = false the render fails and the agent exits at once
// with an error naming the template, instead of retrying forever.
func TestAgentExitAfterAuthTemplates(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "exit-pass"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		extra    string // added to the template block
		wantErr  string // "" for success
		wantFile bool
	}{
		{name: "dirs created by default", wantFile: true},
		{name: "dirs created when asked", extra: "create_dest_dirs = true", wantFile: true},
		{name: "missing dir without create_dest_dirs", extra: "create_dest_dirs = false", wantErr: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tokFile := filepath.Join(dir, "token")
			writeFile(t, tokFile, s.RootToken)
			dest := filepath.Join(dir, "conf", "deep", "app.txt")
			cfg, err := config.Parse(fmt.Appendf(nil, `
exit_after_auth = true
vault {
  address = %q
  retry { num_retries = 0 }
}
auto_auth {
  method "token_file" { config = { token_file_path = %q } }
}
template {
  contents    = %q
  destination = %q
  %s
}`, s.Addr, tokFile, kvTemplate, dest, tt.extra), "agent.hcl")
			if err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			err = Run(ctx, cfg, Options{Logger: logs.logger(), Stderr: logs, MinBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second})
			if ctx.Err() != nil {
				t.Fatalf("Run did not exit after the first render; log:\n%s", logs)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Run = %v, want success; log:\n%s", err, logs)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dest)):
				t.Fatalf("Run = %v, want an error naming %s with %q", err, dest, tt.wantErr)
			}
			b, readErr := os.ReadFile(dest)
			if tt.wantFile {
				if readErr != nil || string(b) != "exit-pass" {
					t.Fatalf("rendered file = %q, %v; want exit-pass", b, readErr)
				}
				fi, err := os.Stat(filepath.Dir(dest))
				if err != nil || !fi.IsDir() || fi.Mode().Perm()&^0o755 != 0 {
					t.Errorf("created directory = %v, %v; want a directory with at most mode 0755", fi, err)
				}
			} else if !errors.Is(readErr, os.ErrNotExist) {
				t.Errorf("destination exists after a failed render: %v", readErr)
			}
			if err != nil {
				assertNoSecrets(t, "error", err.Error(), "exit-pass", s.RootToken)
			}
			assertNoSecrets(t, "agent log", logs.String(), "exit-pass", s.RootToken)
		})
	}
}
