package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cliEnv is the environment a coffer client command needs to reach s as
// root.
func cliEnv(s *server) []string {
	return []string{"COFFER_ADDR=" + s.Addr, "COFFER_TOKEN=" + rootToken, "VAULT_ADDR=", "VAULT_TOKEN=", "COFFER_MAX_RETRIES=0"}
}

// runCofferDevNull runs the coffer binary with /dev/null as stdin, which
// is a character device but not a terminal, and returns its exit code,
// stdout and stderr.
func runCofferDevNull(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cofferBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = null
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		t.Fatalf("coffer %s: %v", strings.Join(args, " "), err)
	}
	return 0, stdout.String(), stderr.String()
}

// TestCLIVersion checks `coffer version` and the flags vault takes for it
// when they are the whole command line, and that an unknown command exits
// 127 as the vault binary's does (its command library answers 127, "not
// found"), with a usage hint.
func TestCLIVersion(t *testing.T) {
	t.Parallel()
	version := regexp.MustCompile(`^Coffer v\d+\.\d+\.\d+\S*\n$`)
	for _, args := range [][]string{{"version"}, {"-v"}, {"-version"}, {"--version"}} {
		code, stdout, stderr := runCoffer(t, "", nil, args...)
		if code != 0 || !version.MatchString(stdout) {
			t.Errorf("coffer %s = %d, stdout %q, stderr %q; want 0 and \"Coffer vX.Y.Z\"", args[0], code, stdout, stderr)
		}
	}
	// The server prints the same version.
	_, server, _ := runCoffer(t, "", nil, "server", "-version")
	if _, client, _ := runCoffer(t, "", nil, "version"); client != server {
		t.Errorf("coffer version = %q, coffer server -version = %q; want the same", client, server)
	}

	code, _, stderr := runCoffer(t, "", nil, "stauts")
	if code != 127 || !strings.Contains(stderr, `Unknown command: "stauts"`) || !strings.Contains(stderr, `Did you mean "status"?`) ||
		!strings.Contains(stderr, `Run "coffer <command> -h"`) {
		t.Errorf("coffer stauts = %d, stderr %q; want 127 with a suggestion and a usage hint", code, stderr)
	}
	if code, _, _ := runCoffer(t, "", nil); code != 127 {
		t.Errorf("coffer with no command = %d, want 127", code)
	}
	if code, _, stderr := runCoffer(t, "", nil, "version", "extra"); code != 1 || !strings.Contains(stderr, "Too many arguments") {
		t.Errorf("coffer version extra = %d, %q; want 1 with Too many arguments", code, stderr)
	}
}

// TestCLIPromptsWithoutTerminal checks the secrets the CLI prompts for on
// a terminal: with stdin /dev/null (not a terminal) nothing is prompted,
// the command says plainly that nothing was given and exits 1; with the
// value as one line on a pipe it is used.
func TestCLIPromptsWithoutTerminal(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	env := cliEnv(s)
	tests := []struct {
		args  []string
		words string
	}{
		{[]string{"operator", "unseal"}, "No unseal key given"},
		{[]string{"operator", "unseal", "-"}, "No unseal key given"},
		{[]string{"login", "-no-store"}, "No token given"},
		{[]string{"login", "-no-store", "-method=userpass", "username=alice"}, "No password given"},
	}
	for _, tt := range tests {
		code, _, stderr := runCofferDevNull(t, env, tt.args...)
		if code != 1 || !strings.Contains(stderr, tt.words) {
			t.Errorf("coffer %s </dev/null = %d, stderr %q; want 1 with %q", strings.Join(tt.args, " "), code, stderr, tt.words)
		}
		for _, bad := range []string{"ioctl", "terminal settings", "(will be hidden)"} {
			if strings.Contains(stderr, bad) {
				t.Errorf("coffer %s </dev/null stderr %q holds %q", strings.Join(tt.args, " "), stderr, bad)
			}
		}
	}

	// A key on a pipe: seal the dev server, then unseal it from stdin.
	unsealKey := s.devUnsealKey(t)
	if code, _, stderr := runCoffer(t, "", env, "operator", "seal"); code != 0 {
		t.Fatalf("coffer operator seal = %d, %s", code, stderr)
	}
	code, stdout, stderr := runCoffer(t, unsealKey+"\n", env, "operator", "unseal")
	if code != 0 || !regexp.MustCompile(`(?m)^Sealed\s+false$`).MatchString(stdout) {
		t.Fatalf("coffer operator unseal <key = %d, stdout %q, stderr %q; want 0 and Sealed false", code, stdout, stderr)
	}
	if strings.Contains(stderr, "Unseal Key (will be hidden)") {
		t.Errorf("a prompt was printed for a pipe: %q", stderr)
	}
}

// TestCLIAuditDevices checks `coffer audit enable|list|disable` in the
// vault binary's forms, and that sys/audit takes options as vault write
// sends them (options=KEY=VALUE, a string), as Vault's key/value pair
// field does.
func TestCLIAuditDevices(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	env := cliEnv(s)
	dir := t.TempDir()
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCoffer(t, "", env, args...)
		if code != want {
			t.Fatalf("coffer %s = %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
		}
		return stdout, stderr
	}

	if out, _ := run(2, "audit", "list"); strings.TrimSpace(out) != "No audit devices are enabled." {
		t.Errorf("audit list with none = %q", out)
	}
	first := filepath.Join(dir, "first.log")
	if out, _ := run(0, "audit", "enable", "file", "file_path="+first); !strings.Contains(out, "Success! Enabled the file audit device at: file/") {
		t.Errorf("audit enable = %q", out)
	}
	run(0, "audit", "enable", "-path=second", "-description=the second", "-local", "file", "file_path="+filepath.Join(dir, "second.log"), "mode=0600")
	run(0, "write", "sys/audit/third", "type=file", "options=file_path="+filepath.Join(dir, "third.log"))

	out, _ := run(0, "audit", "list", "-detailed")
	for _, want := range []string{
		`(?m)^Path\s+Type\s+Description\s+Replication\s+Options$`,
		`(?m)^file/\s+file\s+n/a\s+replicated\s+file_path=` + regexp.QuoteMeta(first) + `$`,
		`(?m)^second/\s+file\s+the second\s+local\s+file_path=\S+ mode=0600$`,
		`(?m)^third/\s+file\s`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("audit list -detailed does not match %s:\n%s", want, out)
		}
	}

	// The API takes the three forms of Vault's key/value pairs.
	for i, body := range []string{
		fmt.Sprintf(`{"type":"file","options":{"file_path":%q}}`, filepath.Join(dir, "obj.log")),
		fmt.Sprintf(`{"type":"file","options":[%q]}`, "file_path="+filepath.Join(dir, "list.log")),
		fmt.Sprintf(`{"type":"file","options":%q}`, "file_path="+filepath.Join(dir, "str.log")),
	} {
		if r := s.raw(t, "PUT", fmt.Sprintf("/v1/sys/audit/api%d", i), rootToken, body); r.Status != 204 && r.Status != 200 {
			t.Errorf("PUT sys/audit/api%d %s = %d %s", i, body, r.Status, r.Body)
		}
	}
	r := s.raw(t, "PUT", "/v1/sys/audit/bad", rootToken, `{"type":"file","options":"file_path"}`)
	if r.Status != 400 || !strings.Contains(r.Body, `invalid value for \"options\"`) {
		t.Errorf("PUT sys/audit/bad with a pair without = : %d %s; want 400 naming options", r.Status, r.Body)
	}
	if _, stderr := run(2, "audit", "enable", "-path=dup", "file", "file_path="+first); !strings.Contains(stderr, "already writes to that file") {
		t.Errorf("enabling a second device on one file: %q", stderr)
	}
	if _, stderr := run(1, "audit", "enable"); !strings.Contains(stderr, "Not enough arguments") {
		t.Errorf("audit enable without a type: %q", stderr)
	}

	for _, p := range []string{"file", "second/", "third", "api0", "api1", "api2"} {
		if out, _ := run(0, "audit", "disable", p); !strings.Contains(out, "Success! Disabled audit device (if it was enabled) at: ") {
			t.Errorf("audit disable %s = %q", p, out)
		}
	}
	run(0, "audit", "disable", "file") // again: still a success, as in Vault
	run(2, "audit", "list")
}

// TestCLIAgentExitAfterAuthTemplates runs `coffer agent` with
// exit_after_auth and a template whose directory does not exist: created
// by default (create_dest_dirs, true as in Vault Agent) and the agent
// exits 0; with create_dest_dirs = false it exits 1 at once, naming the
// template, instead of retrying forever.
func TestCLIAgentExitAfterAuthTemplates(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "agent", map[string]any{"v": "rendered-value"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(rootToken), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(dest, extra string) string {
		p := filepath.Join(dir, fmt.Sprintf("agent-%d.hcl", time.Now().UnixNano()))
		text := fmt.Sprintf(`
exit_after_auth = true
vault {
  address = %q
  retry { num_retries = 0 }
}
auto_auth {
  method "token_file" { config = { token_file_path = %q } }
}
template {
  contents    = "{{ with secret \"secret/data/agent\" }}{{ .Data.data.v }}{{ end }}"
  destination = %q
  %s
}
`, s.Addr, tok, dest, extra)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := []string{"VAULT_ADDR=", "VAULT_TOKEN=", "COFFER_TOKEN="}

	dest := filepath.Join(dir, "a", "b", "out.txt")
	code, _, stderr := runCoffer(t, "", env, "agent", "-config", config(dest, ""))
	if code != 0 {
		t.Fatalf("coffer agent (create_dest_dirs default) = %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(dest); err != nil || string(b) != "rendered-value" {
		t.Errorf("rendered file = %q, %v", b, err)
	}

	missing := filepath.Join(dir, "nodir", "out.txt")
	start := time.Now()
	code, _, stderr = runCoffer(t, "", env, "agent", "-config", config(missing, "create_dest_dirs = false"))
	if code != 1 || !strings.Contains(stderr, "exit_after_auth: template "+missing) {
		t.Errorf("coffer agent (create_dest_dirs = false) = %d, stderr:\n%s\nwant 1 naming the template", code, stderr)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the agent took %v to give up: it must exit after the first render", took)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory was created despite create_dest_dirs = false: %v", err)
	}
	if strings.Contains(stderr, "rendered-value") || strings.Contains(stderr, rootToken) {
		t.Errorf("agent output holds a secret")
	}
}
