package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runCLI runs the CLI with the given environment variables and stdin.
func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return vars[k] },
	}
	code = Run(t.Context(), args, env)
	return code, out.String(), errb.String()
}

func TestLookup(t *testing.T) {
	t.Parallel()
	table := commands()
	tests := []struct {
		args     []string
		wantName string
		wantRest []string
	}{
		{[]string{"kv", "get", "secret/foo"}, "kv get", []string{"secret/foo"}},
		{[]string{"kv", "metadata", "get", "-mount=secret", "foo"}, "kv metadata get", []string{"-mount=secret", "foo"}},
		{[]string{"kv", "metadata"}, "kv metadata", []string{}},
		{[]string{"kv", "bogus"}, "kv", []string{"bogus"}},
		{[]string{"read", "kv"}, "read", []string{"kv"}},
		{[]string{"nope"}, "", []string{"nope"}},
	}
	for _, tt := range tests {
		name, rest := lookup(table, tt.args)
		if name != tt.wantName || !cmp.Equal(rest, tt.wantRest) {
			t.Errorf("lookup(%q) = %q, %q; want %q, %q", tt.args, name, rest, tt.wantName, tt.wantRest)
		}
	}
}

// TestCommandTable checks that every leaf has help and every command path's
// parent group exists.
func TestCommandTable(t *testing.T) {
	t.Parallel()
	table := commands()
	for name, cmd := range table {
		if cmd.synopsis == "" {
			t.Errorf("command %q has no synopsis", name)
		}
		if cmd.setup != nil && (cmd.usage == "" || cmd.help == "") {
			t.Errorf("command %q has no usage or help", name)
		}
		if i := strings.LastIndex(name, " "); i > 0 {
			if _, ok := table[name[:i]]; !ok {
				t.Errorf("command %q has no parent group %q", name, name[:i])
			}
		}
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	// No server is listening here: usage errors must be found before any
	// request is made.
	vars := map[string]string{"COFFER_ADDR": "http://127.0.0.1:1", "COFFER_MAX_RETRIES": "0"}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no args", nil, 127, "Usage: coffer"},
		{"help", []string{"-h"}, 0, "Commands:"},
		{"unknown", []string{"frobnicate"}, 127, `Unknown command: "frobnicate"`},
		{"unknown hint", []string{"frobnicate"}, 127, `for a command's usage`},
		{"typo suggestion", []string{"stauts"}, 127, `Did you mean "status"?`},
		{"version extra arg", []string{"version", "x"}, 1, "Too many arguments"},
		{"version flag with more", []string{"-version", "x"}, 127, `Unknown command: "-version"`},
		{"group", []string{"kv"}, 1, "Subcommands:"},
		{"group help", []string{"operator", "-h"}, 0, "unseal"},
		{"unknown sub", []string{"kv", "nope"}, 1, `Unknown command: "kv nope"`},
		{"command help", []string{"kv", "get", "-h"}, 0, "-mount"},
		{"double dash help", []string{"kv", "put", "--help"}, 0, "-cas"},
		{"bad flag", []string{"kv", "get", "-bogus", "secret/foo"}, 1, "flag provided but not defined: -bogus"},
		{"bad flag value", []string{"kv", "get", "-version=x", "secret/foo"}, 1, "invalid value"},
		{"bad format", []string{"read", "-format=yaml", "secret/foo"}, 1, "invalid output format"},
		{"read no path", []string{"read"}, 1, "Not enough arguments"},
		{"write no data", []string{"write", "secret/foo"}, 1, "Must supply data or use -force"},
		{"write bad pair", []string{"write", "secret/foo", "novalue"}, 1, "key=value"},
		{"write missing file", []string{"write", "secret/foo", "a=@/nonexistent/file"}, 1, "Failed to parse K=V data"},
		{"kv get no path", []string{"kv", "get"}, 1, "Wrong number of arguments"},
		{"kv get two paths", []string{"kv", "get", "a", "b"}, 1, "Wrong number of arguments"},
		{"kv put no data", []string{"kv", "put", "secret/foo"}, 1, "Must supply data"},
		{"kv put missing file", []string{"kv", "put", "secret/foo", "a=@/nonexistent/file"}, 1, "Failed to parse K=V data"},
		{"kv patch bad method", []string{"kv", "patch", "-method=nope", "secret/foo", "a=b"}, 1, "Unsupported method"},
		{"kv undelete no versions", []string{"kv", "undelete", "secret/foo"}, 1, "No versions provided"},
		{"kv destroy no versions", []string{"kv", "destroy", "secret/foo"}, 1, "No versions provided"},
		{"kv rollback no version", []string{"kv", "rollback", "secret/foo"}, 1, "-version"},
		{"kv metadata patch nothing", []string{"kv", "metadata", "patch", "secret/foo"}, 1, "Nothing to patch"},
		{"kv metadata put bad duration", []string{"kv", "metadata", "put", "-delete-version-after=soon", "secret/foo"}, 1, "invalid duration"},
		{"secrets enable no type", []string{"secrets", "enable"}, 1, "Wrong number of arguments"},
		{"secrets enable bad option", []string{"secrets", "enable", "-options=x", "kv"}, 1, "KEY=VALUE"},
		{"secrets tune nothing", []string{"secrets", "tune", "secret/"}, 1, "Nothing to tune"},
		{"secrets move one arg", []string{"secrets", "move", "a/"}, 1, "expected 2"},
		{"init bad threshold", []string{"operator", "init", "-key-shares=2", "-key-threshold=3"}, 1, "threshold"},
		{"status extra arg", []string{"status", "x"}, 1, "Too many arguments"},
		{"server missing", []string{"server", "-dev"}, 1, "no server"},
		{"login unknown method", []string{"login", "-method=ldap"}, 1, "Unknown auth method"},
		{"login two tokens", []string{"login", "a", "b"}, 1, "Too many arguments"},
		{"login bad key", []string{"login", "-method=userpass", "user=a"}, 1, `unknown key "user"`},
		{"login approle no role", []string{"login", "-method=approle", "secret_id=x"}, 1, "role_id is required"},
		{"login userpass no password", []string{"login", "-method=userpass", "username=a"}, 1, "No password given"},
		{"login token empty stdin", []string{"login"}, 1, "No token given"},
		{"unseal empty stdin", []string{"operator", "unseal"}, 1, "No unseal key given"},
		{"unseal dash empty stdin", []string{"operator", "unseal", "-"}, 1, "No unseal key given"},
		{"token group", []string{"token"}, 1, "Subcommands:"},
		{"token create arg", []string{"token", "create", "x"}, 1, "Too many arguments"},
		{"token create bad ttl", []string{"token", "create", "-ttl=x"}, 1, "invalid duration"},
		{"token lookup two", []string{"token", "lookup", "a", "b"}, 1, "Too many arguments"},
		{"token renew accessor", []string{"token", "renew", "-accessor"}, 1, "with -accessor"},
		{"token revoke none", []string{"token", "revoke"}, 1, "Not enough arguments"},
		{"token capabilities none", []string{"token", "capabilities"}, 1, "Not enough arguments"},
		{"policy write one arg", []string{"policy", "write", "a"}, 1, "Wrong number of arguments"},
		{"policy write missing file", []string{"policy", "write", "a", "/nonexistent/p.hcl"}, 1, "Error reading policy"},
		{"policy fmt missing", []string{"policy", "fmt", "/nonexistent/p.hcl"}, 1, "Error reading policy file"},
		{"auth enable none", []string{"auth", "enable"}, 1, "Wrong number of arguments"},
		{"auth tune nothing", []string{"auth", "tune", "userpass"}, 1, "Nothing to tune"},
		{"auth list extra", []string{"auth", "list", "x"}, 1, "Too many arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, vars, "", tt.args...)
			if code != tt.wantCode {
				t.Errorf("Run(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("Run(%q) stderr = %q, want it to contain %q", tt.args, stderr, tt.wantStderr)
			}
		})
	}
}

func TestRunServerRouting(t *testing.T) {
	t.Parallel()
	var gotArgs []string
	var out bytes.Buffer
	env := Env{
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: io.Discard,
		Getenv: func(k string) string { return map[string]string{"X": "y"}[k] },
		Server: func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
			gotArgs = args
			io.WriteString(stdout, getenv("X"))
			return 3
		},
	}
	code := Run(t.Context(), []string{"server", "-dev", "-config=x.hcl"}, env)
	if code != 3 {
		t.Errorf("Run(server) = %d, want the server's 3", code)
	}
	if want := []string{"-dev", "-config=x.hcl"}; !cmp.Equal(gotArgs, want) {
		t.Errorf("server args = %q, want %q", gotArgs, want)
	}
	if out.String() != "y" {
		t.Errorf("server did not get the injected stdout and getenv: %q", out.String())
	}
}

// recorder is a fake server that records the token and path of each request
// and answers a fixed JSON body.
type recorder struct {
	mu       sync.Mutex
	tokens   []string
	paths    []string
	response string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.tokens = append(r.tokens, req.Header.Get("X-Vault-Token"))
	r.paths = append(r.paths, req.Method+" "+req.URL.RequestURI())
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, r.response)
}

func (r *recorder) last() (token, path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.tokens) == 0 {
		return "", ""
	}
	return r.tokens[len(r.tokens)-1], r.paths[len(r.paths)-1]
}

// TestClientEnvironment checks where the address and token come from: the
// -address flag, then COFFER_*, then VAULT_*, then the token file; and that
// nothing is read from the real process environment.
func TestClientEnvironment(t *testing.T) {
	// Not parallel: it sets VAULT_TOKEN in the process environment to prove
	// the CLI ignores it.
	t.Setenv("VAULT_TOKEN", "process-env-token")
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")

	rec := &recorder{response: `{"data":{"value":"v"}}`}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, tokenFile), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		vars      map[string]string
		args      []string
		wantToken string
		wantCode  int
	}{
		{"coffer vars", map[string]string{"COFFER_ADDR": srv.URL, "COFFER_TOKEN": "c-token", "VAULT_TOKEN": "v-token", "HOME": home}, nil, "c-token", 0},
		{"vault vars", map[string]string{"VAULT_ADDR": srv.URL, "VAULT_TOKEN": "v-token", "HOME": home}, nil, "v-token", 0},
		{"token file", map[string]string{"COFFER_ADDR": srv.URL, "HOME": home}, nil, "file-token", 0},
		{"no token", map[string]string{"COFFER_ADDR": srv.URL}, nil, "", 0},
		{"address flag wins", map[string]string{"COFFER_ADDR": "http://127.0.0.1:1", "COFFER_TOKEN": "c-token"}, []string{"-address=" + srv.URL}, "c-token", 0},
		{"double dash flag", map[string]string{"COFFER_TOKEN": "c-token"}, []string{"--address", srv.URL}, "c-token", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"read"}, tt.args...)
			args = append(args, "secret/foo")
			code, stdout, stderr := runCLI(t, tt.vars, "", args...)
			if code != tt.wantCode {
				t.Fatalf("Run(%q) = %d, want %d; stderr:\n%s", args, code, tt.wantCode, stderr)
			}
			token, path := rec.last()
			if token != tt.wantToken {
				t.Errorf("token sent = %q, want %q", token, tt.wantToken)
			}
			if path != "GET /v1/secret/foo" {
				t.Errorf("request = %q, want GET /v1/secret/foo", path)
			}
			if !strings.Contains(stdout, "value    v") {
				t.Errorf("stdout = %q, want the value row", stdout)
			}
		})
	}
}

// TestConnectionFailure checks the exit codes when no server answers: 2 for
// ordinary commands, 1 for status.
func TestConnectionFailure(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens at addr any more
	vars := map[string]string{"COFFER_ADDR": addr, "COFFER_MAX_RETRIES": "0"}
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"read", "secret/foo"}, 2},
		{[]string{"kv", "get", "secret/foo"}, 2},
		{[]string{"status"}, 1},
	} {
		code, _, stderr := runCLI(t, vars, "", tt.args...)
		if code != tt.want {
			t.Errorf("Run(%q) = %d, want %d; stderr:\n%s", tt.args, code, tt.want, stderr)
		}
		if !strings.Contains(stderr, "Error") {
			t.Errorf("Run(%q) stderr = %q, want an error", tt.args, stderr)
		}
	}
}
