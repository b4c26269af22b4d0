package conformance

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// auditLines reads an audit file into its entries' (type, path, error).
func auditLines(t *testing.T, path string) []auditLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []auditLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l struct {
			Type    string `json:"type"`
			Error   string `json:"error"`
			Request struct {
				Path      string `json:"path"`
				Operation string `json:"operation"`
			} `json:"request"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, auditLine{l.Type, l.Request.Path, l.Error})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type auditLine struct{ typ, path, err string }

// TestAuditEverySysEndpoint sends one request to every sys endpoint family
// (the core's sys path table and the endpoints the HTTP layer serves
// itself) and checks that the file device holds a request and a response
// line for each, denied requests included; sys/seal comes last.
func TestAuditEverySysEndpoint(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	// A token that may do nothing, for the denied cases.
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	weak := sec.Auth.ClientToken
	type call struct{ method, path, token, body string }
	calls := []call{
		// Served by the HTTP layer itself.
		{"GET", "sys/init", "", ""},
		{"GET", "sys/seal-status", "", ""},
		{"GET", "sys/health", "", ""},
		{"HEAD", "sys/health", "", ""},
		{"GET", "sys/leader", "", ""},
		{"PUT", "sys/unseal", "", `{"reset":true}`},
		{"GET", "sys/metrics", rootToken, ""},
		{"GET", "sys/metrics?format=prometheus", rootToken, ""},
		{"GET", "sys/metrics", weak, ""},
		{"GET", "sys/storage/snapshot", weak, ""},
		// The core's sys path table.
		{"GET", "sys/audit", rootToken, ""},
		{"GET", "sys/audit/file/public-key", rootToken, ""},
		{"PUT", "sys/audit-hash/file", rootToken, `{"input":"x"}`},
		{"PUT", "sys/step-down", weak, ""},
		{"GET", "sys/ha-status", rootToken, ""},
		{"GET", "sys/host-info", rootToken, ""},
		{"GET", "sys/leases", rootToken, ""},
		{"PUT", "sys/leases/lookup", rootToken, `{"lease_id":"nope"}`},
		{"LIST", "sys/leases/lookup/", rootToken, ""},
		{"PUT", "sys/leases/renew", rootToken, `{"lease_id":"nope"}`},
		{"PUT", "sys/leases/revoke", rootToken, `{"lease_id":"nope"}`},
		{"PUT", "sys/leases/revoke-prefix/nope", rootToken, ""},
		{"PUT", "sys/leases/revoke-force/nope", weak, ""},
		{"PUT", "sys/leases/tidy", rootToken, ""},
		{"GET", "sys/config/state/sanitized", rootToken, ""},
		{"GET", "sys/in-flight-req", rootToken, ""},
		{"GET", "sys/version-history", rootToken, ""},
		{"LIST", "sys/policies/password/", rootToken, ""},
		{"GET", "sys/policies/password/nope", rootToken, ""},
		{"GET", "sys/plugins/catalog", rootToken, ""},
		{"GET", "sys/rotate/config", rootToken, ""},
		{"GET", "sys/mounts", rootToken, ""},
		{"GET", "sys/mounts/secret/tune", rootToken, ""},
		{"GET", "sys/auth", rootToken, ""},
		{"GET", "sys/remount/status/nope", rootToken, ""},
		{"GET", "sys/key-status", rootToken, ""},
		{"GET", "sys/internal/ui/mounts", rootToken, ""},
		{"GET", "sys/policy", rootToken, ""},
		{"GET", "sys/policy/default", rootToken, ""},
		{"LIST", "sys/policies/acl/", rootToken, ""},
		{"PUT", "sys/capabilities-self", rootToken, `{"paths":["secret/x"]}`},
		{"PUT", "sys/capabilities", rootToken, `{"token":"nope","paths":["secret/x"]}`},
		{"GET", "sys/locked-users", rootToken, ""},
		{"PUT", "sys/wrapping/lookup", rootToken, `{"token":"nope"}`},
		{"PUT", "sys/wrapping/unwrap", rootToken, `{"token":"nope"}`},
		{"GET", "sys/rekey/init", "", ""},
		{"GET", "sys/generate-root/attempt", "", ""},
		{"GET", "sys/nope", rootToken, ""},
		{"PUT", "sys/seal", weak, ""},
		{"PUT", "sys/seal", rootToken, ""},
	}
	for _, c := range calls {
		r := s.raw(t, c.method, "/v1/"+c.path, c.token, c.body)
		if r.Status >= 500 && r.Status != 503 {
			t.Errorf("%s %s = %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	// sys/seal was refused for the weak token and then sealed.
	if r := s.raw(t, "GET", "/v1/sys/seal-status", "", ""); !strings.Contains(r.Body, `"sealed":true`) {
		t.Fatalf("the server did not seal: %s", r.Body)
	}
	counts := map[string][2]int{}
	var sealErrs []string
	for _, l := range auditLines(t, logPath) {
		c := counts[l.path]
		switch l.typ {
		case "request":
			c[0]++
		case "response":
			c[1]++
			if l.path == "sys/seal" {
				sealErrs = append(sealErrs, l.err)
			}
		}
		counts[l.path] = c
	}
	want := map[string][2]int{}
	for _, c := range calls {
		p, _, _ := strings.Cut(c.path, "?")
		w := want[p]
		w[0]++
		w[1]++
		want[p] = w
	}
	for p, w := range want {
		if got := counts[p]; got[0] < w[0] || got[1] < w[1] {
			t.Errorf("%s: %d request and %d response lines, want %d and %d", p, got[0], got[1], w[0], w[1])
		}
	}
	if len(sealErrs) != 2 || !strings.Contains(sealErrs[0], "permission denied") || sealErrs[1] != "" {
		t.Errorf("sys/seal response errors = %q, want the refusal then a success", sealErrs)
	}
}

// TestAuditFullDisk fills the disk under a file device (a small tmpfs;
// the test needs root): the request whose entry does not fit fails (fail
// closed); once there is room again the device cuts the torn line away,
// records the torn write in its chain, and `coffer audit verify` passes
// and lists the recovery.
func TestAuditFullDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot mount a tmpfs (needs root), and CI=true: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	filler := filepath.Join(dir, "filler")
	fill, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer fill.Close()
	for {
		if _, err := fill.Write(make([]byte, 1024)); err != nil {
			break
		}
	}
	fi, err := fill.Stat()
	if err != nil {
		t.Fatal(err)
	}
	// Room for the device to start and a few entries.
	if err := fill.Truncate(fi.Size() - 12<<10); err != nil {
		t.Fatal(err)
	}
	s := startDev(t)
	logPath := filepath.Join(dir, "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	pk, err := s.Client.Logical().Read("sys/audit/file/public-key")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pk.Data["public_key"].(string)
	failed := false
	for i := 0; i < 200 && !failed; i++ {
		_, err := s.Client.Logical().Write("secret/data/full", map[string]any{"data": map[string]any{"n": i}})
		if err != nil {
			wantError(t, "a write whose audit entry does not fit", err, 500, "internal error")
			failed = true
		}
	}
	if !failed {
		t.Fatal("the disk never filled")
	}
	if err := fill.Truncate(0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Client.Logical().Write("secret/data/full", map[string]any{"data": map[string]any{"n": i}}); err != nil {
			t.Fatalf("write after the disk has room again: %v", err)
		}
	}
	code, out, errOut := runCoffer(t, "", nil, "audit", "verify", "-public-key="+key, logPath)
	if code != 0 || !strings.Contains(out, "RECOVERED: line") || !strings.Contains(out, "torn write, recovered") || !strings.Contains(out, "no space left on device") {
		t.Fatalf("audit verify = %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestAuditVerifyAgainstLiveHead checks sys/audit/NAME/head (sudo, signed)
// and `coffer audit verify -server`: the live file verifies; a copy with
// its last lines cut verifies offline but not against the head.
func TestAuditVerifyAgainstLiveHead(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Client.Logical().Write("secret/data/head", map[string]any{"data": map[string]any{"n": i}}); err != nil {
			t.Fatal(err)
		}
	}
	head, err := s.Client.Logical().Read("sys/audit/file/head")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"chain_id", "seq", "hash", "time", "signature"} {
		if head.Data[k] == nil || head.Data[k] == "" {
			t.Errorf("sys/audit/file/head lacks %q: %v", k, head.Data)
		}
	}
	_, err = s.Client.Logical().Read("sys/audit/nope/head")
	wantError(t, "the head of a device that does not exist", err, 400, "no audit device")
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	weak, _ := s.Client.Clone()
	weak.SetToken(sec.Auth.ClientToken)
	_, err = weak.Logical().Read("sys/audit/file/head")
	wantError(t, "the head without sudo", err, 403, "permission denied")

	env := []string{"VAULT_TOKEN=" + rootToken, "COFFER_TOKEN="}
	code, out, errOut := runCoffer(t, "", env, "audit", "verify", "-server="+s.Addr, logPath)
	if code != 0 || !strings.Contains(out, "Live head:") || !strings.Contains(out, "Result:       OK") {
		t.Fatalf("verify -server of the live file = %d\n%s\n%s", code, out, errOut)
	}
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(raw), "\n"), "\n")
	cut := filepath.Join(dir, "cut.log")
	if err := os.WriteFile(cut, []byte(strings.Join(lines[:len(lines)-3], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCoffer(t, "", nil, "audit", "verify", cut); code != 0 {
		t.Fatalf("offline verify of a file cut at a line boundary = %d (it cannot tell)\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCoffer(t, "", env, "audit", "verify", "-server="+s.Addr, "-device=file", cut)
	if code != 2 || !strings.Contains(errOut, "TAMPERED") || !strings.Contains(errOut, "cut-short") || !strings.Contains(errOut, "missing from the end") {
		t.Fatalf("verify -server of a file cut short = %d\n%s\n%s", code, out, errOut)
	}
	// A head checked with another device's key does not verify.
	other := filepath.Join(dir, "other.log")
	if err := s.Client.Sys().EnableAuditWithOptions("other", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": other}}); err != nil {
		t.Fatal(err)
	}
	pk, err := s.Client.Logical().Read("sys/audit/other/public-key")
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCoffer(t, "", env, "audit", "verify", "-server="+s.Addr, "-public-key="+pk.Data["public_key"].(string), logPath)
	if code == 0 || !strings.Contains(errOut, "signature does not verify") {
		t.Fatalf("verify -server with another device's key = %d\n%s", code, errOut)
	}
}
