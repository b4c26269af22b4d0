package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hashicorp/vault/api"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/coffer-secrets/coffer/internal/scan/report"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// scanPolicy may check for leaks and read the team's secrets only.
const scanPolicy = `
path "sys/leaks/check" { capabilities = ["update"] }
path "secret/data/team/*" { capabilities = ["read"] }
`

// randomValue is a fresh string shaped like a generated password.
func randomValue(t testing.TB) string {
	t.Helper()
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// testRepo is a git repository the test builds commit by commit.
type testRepo struct {
	t    testing.TB
	dir  string
	repo *git.Repository
	when time.Time
}

func newRepo(t testing.TB) *testRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &testRepo{t: t, dir: dir, repo: r, when: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// write writes (or with content "" removes) files and stages them.
func (r *testRepo) stage(files map[string]string) {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			r.t.Fatal(err)
		}
	}
}

// commit stages files and commits them; it returns the commit hash.
func (r *testRepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	r.stage(files)
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	r.when = r.when.Add(time.Hour)
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: r.when}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

// scanServer is a server holding team secrets (readable by the scanning
// token) and another team's secret (not readable).
type scanServer struct {
	s                     *testserver.Server
	vars                  map[string]string
	oldDB, currentDB, api string
	hidden                string
}

func newScanServer(t *testing.T) *scanServer {
	t.Helper()
	s := testserver.Start(t)
	ss := &scanServer{s: s, oldDB: randomValue(t), currentDB: randomValue(t), api: randomValue(t), hidden: randomValue(t)}
	kv := s.Client.KVv2("secret")
	ctx := t.Context()
	for _, w := range []struct {
		path string
		data map[string]any
	}{
		{"team/db", map[string]any{"password": ss.oldDB, "user": "app"}},
		{"team/db", map[string]any{"password": ss.currentDB, "user": "app"}}, // rotated
		{"team/api", map[string]any{"key": ss.api}},
		{"other/payments", map[string]any{"token": ss.hidden}},
	} {
		if _, err := kv.Put(ctx, w.path, w.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Client.Sys().PutPolicyWithContext(ctx, "scanner", scanPolicy); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"scanner"}})
	if err != nil {
		t.Fatal(err)
	}
	ss.vars = map[string]string{"COFFER_ADDR": s.Addr, "COFFER_TOKEN": tok.Auth.ClientToken}
	return ss
}

// scanJSON runs coffer scan -format=json and decodes its report.
func scanJSON(t *testing.T, vars map[string]string, stdin string, args ...string) (int, []report.Finding, string) {
	t.Helper()
	code, out, errOut := runCLI(t, vars, stdin, append([]string{"scan", "-format=json"}, args...)...)
	var r report.Report
	if code == scanClean || code == scanFindings {
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("scan output is not a JSON report: %v\n%s\nstderr: %s", err, out, errOut)
		}
	}
	return code, r.Findings, out + errOut
}

// findLive returns the live-secret findings at file (any line).
func findLive(fs []report.Finding, file string) []report.Finding {
	var out []report.Finding
	for _, f := range fs {
		if f.Detector == report.DetectorLive && f.File == file {
			out = append(out, f)
		}
	}
	return out
}

// TestScanHistory: a live secret committed and removed later is found in
// history with its first commit; a rotated one is an old version; one the
// token cannot read has no path; a random string of the same shape is no
// finding; -no-history sees only the working tree.
func TestScanHistory(t *testing.T) {
	t.Parallel()
	ss := newScanServer(t)
	r := newRepo(t)
	unrelated := randomValue(t)
	first := r.commit("config", map[string]string{
		"app/.env":  "DB_PASSWORD=" + ss.oldDB + "\nAPI_KEY=" + ss.api + "\n",
		"README.md": "# app\n",
	})
	second := r.commit("rotate", map[string]string{"app/.env": "DB_PASSWORD=" + ss.currentDB + "\n"})
	third := r.commit("remove secrets", map[string]string{
		"app/.env":         "",
		"deploy/pay.yaml":  "env:\n  - name: TOKEN\n    value: \"" + ss.hidden + "\"\n",
		"notes/random.txt": "SESSION=" + unrelated + "\n",
	})

	code, fs, out := scanJSON(t, ss.vars, "", r.dir)
	if code != scanFindings {
		t.Fatalf("scan exit %d, want %d\n%s", code, scanFindings, out)
	}
	env := filepath.ToSlash(filepath.Join(r.dir, "app/.env"))
	want := map[string]report.Live{}
	for _, f := range findLive(fs, env) {
		want[f.RuleID+" "+f.Live.Path+" "+f.Commit[:7]] = *f.Live
	}
	for _, k := range []string{
		report.RuleLiveOld + " team/db " + first[:7],
		report.RuleLiveCurrent + " team/api " + first[:7],
		report.RuleLiveCurrent + " team/db " + second[:7],
	} {
		if _, ok := want[k]; !ok {
			t.Errorf("history scan lacks %q; live findings in .env: %v\n%s", k, want, out)
		}
	}
	pay := findLive(fs, filepath.ToSlash(filepath.Join(r.dir, "deploy/pay.yaml")))
	if len(pay) != 1 || pay[0].RuleID != report.RuleLiveUnreadable || pay[0].Live.Path != "" || pay[0].Live.Mount != "" || pay[0].Commit != third || pay[0].Line != 3 {
		t.Errorf("unreadable secret findings = %+v, want one without path at line 3 of the third commit", pay)
	}
	if got := findLive(fs, filepath.ToSlash(filepath.Join(r.dir, "notes/random.txt"))); len(got) != 0 {
		t.Errorf("random string reported as live: %+v", got)
	}
	for _, s := range []string{ss.oldDB, ss.currentDB, ss.api, ss.hidden} {
		if strings.Contains(out, s) {
			t.Fatalf("scan output holds a secret value:\n%s", out)
		}
	}

	// The working tree no longer holds .env.
	code, fs, out = scanJSON(t, ss.vars, "", "-no-history", r.dir)
	if code != scanFindings {
		t.Fatalf("-no-history exit %d\n%s", code, out)
	}
	for _, f := range fs {
		if f.Commit != "" || strings.HasSuffix(f.File, ".env") {
			t.Errorf("-no-history finding %+v: want working tree files only", f)
		}
	}
	if len(findLive(fs, filepath.ToSlash(filepath.Join(r.dir, "deploy/pay.yaml")))) != 1 {
		t.Errorf("-no-history misses the unreadable secret: %+v", fs)
	}
}

// TestScanStaged: -staged reports what the index adds, not what HEAD has.
func TestScanStaged(t *testing.T) {
	t.Parallel()
	ss := newScanServer(t)
	r := newRepo(t)
	// A repository without commits: no history, and the index is all new.
	if code, fs, out := scanJSON(t, ss.vars, "", r.dir); code != scanClean || len(fs) != 0 {
		t.Fatalf("scan of an empty repository: exit %d, %+v\n%s", code, fs, out)
	}
	r.stage(map[string]string{"first.env": "API_KEY=" + ss.api + "\n"})
	if code, fs, out := scanJSON(t, ss.vars, "", "-staged", r.dir); code != scanFindings || len(findLive(fs, filepath.ToSlash(filepath.Join(r.dir, "first.env")))) != 1 {
		t.Fatalf("-staged before the first commit: exit %d, %+v\n%s", code, fs, out)
	}
	r.commit("old", map[string]string{"committed.env": "API_KEY=" + ss.api + "\n"})
	code, fs, out := scanJSON(t, ss.vars, "", "-staged", r.dir)
	if code != scanClean || len(fs) != 0 {
		t.Fatalf("-staged with nothing staged: exit %d, %+v\n%s", code, fs, out)
	}
	r.stage(map[string]string{"new.go": "package x\n\nconst dsn = \"postgres://app:" + ss.currentDB + "@db/app\"\n"})
	code, fs, out = scanJSON(t, ss.vars, "", "-staged", r.dir)
	if code != scanFindings {
		t.Fatalf("-staged exit %d\n%s", code, out)
	}
	got := findLive(fs, filepath.ToSlash(filepath.Join(r.dir, "new.go")))
	if len(got) != 1 || got[0].Line != 3 || got[0].RuleID != report.RuleLiveCurrent || got[0].Live.Where() != "secret/team/db#password" {
		t.Errorf("-staged findings = %+v\n%s", fs, out)
	}
	for _, f := range fs {
		if strings.HasSuffix(f.File, "committed.env") {
			t.Errorf("-staged reported a committed file: %+v", f)
		}
	}
	// Not a repository.
	if code, _, _ := runCLI(t, ss.vars, "", "scan", "-staged", t.TempDir()); code != scanError {
		t.Errorf("-staged on a plain directory: exit %d, want %d", code, scanError)
	}
}

// TestScanManifests: Kubernetes Secrets on stdin (a List, as kubectl get
// secrets -A -o yaml prints) and in files, data base64-decoded.
func TestScanManifests(t *testing.T) {
	t.Parallel()
	ss := newScanServer(t)
	list := `apiVersion: v1
items:
- apiVersion: v1
  data:
    key: ` + base64.StdEncoding.EncodeToString([]byte(ss.api)) + `
  kind: Secret
  metadata:
    name: api
    namespace: web
- apiVersion: v1
  kind: Secret
  metadata:
    name: db
  stringData:
    password: ` + ss.oldDB + `
kind: List
metadata:
  resourceVersion: ""
`
	code, fs, out := scanJSON(t, ss.vars, list, "-")
	if code != scanFindings {
		t.Fatalf("stdin scan exit %d\n%s", code, out)
	}
	got := map[string]int{}
	for _, f := range findLive(fs, "-") {
		got[f.RuleID] = f.Line
	}
	if got[report.RuleLiveCurrent] != 5 || got[report.RuleLiveOld] != 15 {
		t.Errorf("stdin live findings by rule and line = %v, want current at 5 and old at 15\n%s", got, out)
	}

	dir := t.TempDir()
	multi := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: h}\ndata:\n  token: " +
		base64.StdEncoding.EncodeToString([]byte(ss.hidden)) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(multi), 0o600); err != nil {
		t.Fatal(err)
	}
	code, fs, out = scanJSON(t, ss.vars, "", dir)
	if code != scanFindings {
		t.Fatalf("manifest file scan exit %d\n%s", code, out)
	}
	if l := findLive(fs, filepath.ToSlash(filepath.Join(dir, "secrets.yaml"))); len(l) != 1 || l[0].RuleID != report.RuleLiveUnreadable || l[0].Line != 9 {
		t.Errorf("multi-document manifest findings = %+v", fs)
	}
}

// TestScanExitCodesBaselineSARIF covers exit codes, -offline, -baseline and
// SARIF output validated against the 2.1.0 schema.
func TestScanExitCodesBaselineSARIF(t *testing.T) {
	t.Parallel()
	ss := newScanServer(t)
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean")
	dirty := filepath.Join(dir, "dirty")
	for _, d := range []string{clean, dirty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(clean, "main.go"), "package main\n\nfunc main() {}\n")
	write(filepath.Join(dirty, "aws.go"), "package x\n\nconst id = \"AKIAZ7VRSQ5TQPKXB3QN\"\n")
	write(filepath.Join(dirty, "db.env"), "DB_PASSWORD="+ss.currentDB+"\n")
	write(filepath.Join(dirty, ".gitignore"), "ignored/\n")
	if err := os.MkdirAll(filepath.Join(dirty, "ignored"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dirty, "ignored", "x.env"), "API_KEY="+ss.api+"\n")

	if code, out, _ := runCLI(t, ss.vars, "", "scan", clean); code != scanClean || !strings.Contains(out, "No secrets found.") {
		t.Errorf("clean scan: exit %d, %q", code, out)
	}
	code, fs, out := scanJSON(t, ss.vars, "", dirty)
	if code != scanFindings {
		t.Fatalf("dirty scan exit %d\n%s", code, out)
	}
	rules := map[string]bool{}
	for _, f := range fs {
		rules[f.RuleID] = true
		if strings.Contains(f.File, "ignored") {
			t.Errorf("finding in a .gitignored file: %+v", f)
		}
	}
	if !rules["aws-access-token"] || !rules[report.RuleLiveCurrent] {
		t.Errorf("dirty scan rules = %v, want aws-access-token and %s", rules, report.RuleLiveCurrent)
	}
	// -offline: the format detector alone, no server (the random password
	// in db.env is also a generic-api-key finding).
	code, fs, out = scanJSON(t, map[string]string{"COFFER_ADDR": "http://127.0.0.1:1"}, "", "-offline", dirty)
	if code != scanFindings || len(fs) == 0 || fs[0].RuleID != "aws-access-token" || fs[0].Line != 3 || fs[0].Redacted != "AKIA…" {
		t.Errorf("-offline: exit %d, findings %+v\n%s", code, fs, out)
	}
	// Baseline: the findings of a JSON report are accepted.
	_, stdout, _ := runCLI(t, ss.vars, "", "scan", "-format=json", dirty)
	base := filepath.Join(dir, "baseline.json")
	write(base, stdout)
	if code, _, out := runCLI(t, ss.vars, "", "scan", "-baseline", base, dirty); code != scanClean || !strings.Contains(out, "in the baseline") {
		t.Errorf("scan with baseline: exit %d\n%s", code, out)
	}
	// SARIF.
	code, sarif, errOut := runCLI(t, ss.vars, "", "scan", dirty, "-format=sarif")
	if code != scanFindings {
		t.Fatalf("sarif scan exit %d: %s", code, errOut)
	}
	validateSARIF(t, []byte(sarif))
	if !strings.Contains(sarif, "secret/team/db#password") {
		t.Errorf("SARIF lacks the Coffer path:\n%s", sarif)
	}
	// Errors are 2: a missing path, a bad flag, a bad format, a token
	// without the capability, no server.
	noCap := map[string]string{"COFFER_ADDR": ss.s.Addr, "COFFER_TOKEN": "not-a-token"}
	for _, tt := range []struct {
		name string
		vars map[string]string
		args []string
	}{
		{"missing path", ss.vars, []string{"scan", filepath.Join(dir, "nope")}},
		{"bad flag", ss.vars, []string{"scan", "-bogus", dirty}},
		{"bad format", ss.vars, []string{"scan", "-format=xml", dirty}},
		{"bad token", noCap, []string{"scan", dirty}},
		{"no detector", ss.vars, []string{"scan", "-offline", "-no-format", dirty}},
		{"bad baseline", ss.vars, []string{"scan", "-baseline", filepath.Join(clean, "main.go"), dirty}},
	} {
		if code, _, out := runCLI(t, tt.vars, "", tt.args...); code != scanError {
			t.Errorf("%s: exit %d, want %d\n%s", tt.name, code, scanError, out)
		}
	}
}

// validateSARIF checks b against the SARIF 2.1.0 schema of the OASIS
// sarif-spec repository.
func validateSARIF(t *testing.T, b []byte) {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("..", "scan", "report", "testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("SARIF is not JSON: %v\n%s", err, b)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("SARIF does not validate against 2.1.0: %v", err)
	}
}
