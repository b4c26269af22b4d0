package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// runAuditCLI runs the CLI in-process against s and returns the exit code and
// the output.
func runAuditCLI(t *testing.T, s *testserver.Server, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"COFFER_ADDR": s.Addr, "COFFER_TOKEN": s.RootToken, "HOME": t.TempDir(), "COFFER_MAX_RETRIES": "0"}
	code := Run(context.Background(), args, Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

// auditLog makes a real audit log with a few dozen entries and returns its
// path and the device's public key.
func auditLog(t *testing.T) (*testserver.Server, string, string) {
	t.Helper()
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	file := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": file, "checkpoint_every": "5"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.Client.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "leaked-value", "n": i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.Logical().Read("secret/data/nope"); err != nil {
		t.Fatal(err)
	}
	pk, err := s.Client.Logical().Read("sys/audit/file/public-key")
	if err != nil {
		t.Fatal(err)
	}
	return s, file, pk.Data["public_key"].(string)
}

func TestAuditVerifyNamesTampering(t *testing.T) {
	t.Parallel()
	s, file, key := auditLog(t)
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runAuditCLI(t, s, "", "audit", "verify", "-public-key="+key, file)
	if code != 0 || !strings.Contains(out, "Result:       OK") {
		t.Fatalf("verify of the untouched log = %d\n%s%s", code, out, errOut)
	}
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	_, otherFile, _ := auditLog(t)
	otherRaw, _ := os.ReadFile(otherFile)
	otherLines := strings.SplitAfter(string(otherRaw), "\n")
	edit := func(f func([]string) []string) string {
		cp := f(append([]string(nil), lines...))
		return strings.Join(cp, "")
	}
	tests := []struct {
		name, content, want string
	}{
		{"edited byte", edit(func(l []string) []string { l[3] = strings.Replace(l[3], `"type":"`, `"type" :"`, 1); return l }), "edited"},
		{"deleted line", edit(func(l []string) []string { return append(l[:4], l[5:]...) }), "deleted"},
		{"swapped lines", edit(func(l []string) []string { l[4], l[5] = l[5], l[4]; return l }), "line 5"},
		{"truncated mid-line", string(orig[:len(orig)-10]), "truncated"},
		{"spliced from another device", edit(func(l []string) []string { l[6] = otherLines[6]; return l }), "line 7"},
		// More problems than a report keeps: the output still counts them.
		{"thousands of garbage lines", string(orig) + strings.Repeat("x\n", 3000), "and 2000 more problem(s): 3000 in all"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tampered.log")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runAuditCLI(t, s, "", "audit", "verify", "-public-key="+key, p)
			label := "TAMPERED"
			if tt.name == "truncated mid-line" {
				// A crash mid-write leaves the same: damage, not proof of tampering.
				label = "DAMAGED"
			}
			if code != 2 || !strings.Contains(errOut, label) || !strings.Contains(errOut, tt.want) {
				t.Errorf("verify = %d, stderr %q (stdout %q), want exit 2 naming %q", code, errOut, out, tt.want)
			}
		})
	}
}

func TestAuditSearch(t *testing.T) {
	t.Parallel()
	s, file, _ := auditLog(t)
	code, out, errOut := runAuditCLI(t, s, "", "audit", "search", "-device=file", "-value=leaked-value", "-type=request", file)
	if code != 0 || strings.Count(out, "secret/data/app") != 10 {
		t.Fatalf("search by value = %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runAuditCLI(t, s, "", "audit", "search", "-path=secret/data/nope", "-type=response", "-format=json", file)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"type":"response"`) {
		t.Errorf("search by path = %d %q", code, out)
	}
	if code, _, _ := runAuditCLI(t, s, "", "audit", "search", "-value=x", file); code != 1 {
		t.Errorf("-value without -device = %d, want 1", code)
	}
	if code, _, _ := runAuditCLI(t, s, "", "audit", "search", "-path=nothing/here", file); code != 2 {
		t.Errorf("a search with no match = %d, want 2", code)
	}
}
