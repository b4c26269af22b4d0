package scan

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/coffer-secrets/coffer/internal/scan/format"
	"github.com/coffer-secrets/coffer/internal/scan/live"
	"github.com/coffer-secrets/coffer/internal/scan/report"
	"github.com/coffer-secrets/coffer/internal/scan/source"
)

// memChecker is an in-process Checker that knows some values. It stands in
// for the server in unit tests and benchmarks; internal/cli's tests use the
// real server.
type memChecker struct {
	mu      sync.Mutex
	live    map[live.Digest]live.Match
	batches int
}

func newMemChecker(values map[string]live.Match) *memChecker {
	m := &memChecker{live: map[live.Digest]live.Match{}}
	for v, mt := range values {
		m.live[sha256.Sum256([]byte(v))] = mt
	}
	return m
}

func (m *memChecker) Check(_ context.Context, ds []live.Digest) ([]live.Match, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(ds) > live.MaxBatch {
		return nil, fmt.Errorf("batch of %d", len(ds))
	}
	m.batches++
	var out []live.Match
	for i, d := range ds {
		if mt, ok := m.live[d]; ok {
			mt.Index = i
			out = append(out, mt)
		}
	}
	return out, nil
}

func TestScanChunksAndBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var big strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&big, "line %d filler text without anything secret in it at all\n", i+1)
		if i == 3999 {
			big.WriteString("PASSWORD=the-live-value-123\n") // line 4001
		}
	}
	files := map[string]string{
		"big.txt":    big.String(),
		"binary.bin": "PASSWORD=the-live-value-123\x00\x01",
		"small.env":  "X=1\nTOKEN=the-live-value-123\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ck := newMemChecker(map[string]live.Match{"the-live-value-123": {Readable: true, Mount: "secret/", Path: "p", Key: "k", Version: 1, Current: true}})
	res, err := Scan(t.Context(), source.Files{Root: dir}, Options{Checker: ck, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%s:%d:%s", filepath.Base(f.File), f.Line, f.RuleID))
	}
	want := []string{"big.txt:4001:" + report.RuleLiveCurrent, "small.env:2:" + report.RuleLiveCurrent}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	if res.Skipped != 1 || res.Blobs != 2 {
		t.Errorf("blobs %d skipped %d, want 2 and 1 (the binary file)", res.Blobs, res.Skipped)
	}
	// Too large.
	res, err = Scan(t.Context(), source.Files{Root: dir}, Options{Checker: ck, MaxFileSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 2 || len(res.Findings) != 1 {
		t.Errorf("with a 1000-byte limit: skipped %d, %d findings; want 2 and 1", res.Skipped, len(res.Findings))
	}
}

// codeLines are ordinary lines of Go, each with one %d.
var codeLines = []string{
	"\tif err := handle(ctx, req%d); err != nil {\n",
	"\t\treturn fmt.Errorf(\"handle request %d: %%w\", err)\n",
	"\t}\n\tfor i := range %d {\n\t\tsum += values[i] * weights[i]\n\t}\n",
	"// process walks the list and returns the first %d entries that match.\n",
	"\tresp, err := client.Do(req.WithContext(ctx)) // attempt %d\n",
	"\tlog.Info(\"request done\", \"status\", resp.StatusCode, \"n\", %d)\n",
	"func (s *Server) handle%d(w http.ResponseWriter, r *http.Request) {\n",
}

// genTree writes a tree of source-like files totalling about size bytes,
// with a few secrets, and returns its root.
func genTree(tb testing.TB, dir string, size int64) {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var written int64
	for i := 0; written < size; i++ {
		var b strings.Builder
		for b.Len() < 64<<10 {
			switch r.IntN(200) {
			case 0:
				fmt.Fprintf(&b, "DB_URL=postgres://app:%x@db.internal:5432/app\n", r.Uint64())
			case 1:
				fmt.Fprintf(&b, "\tapiKey := %q // %x\n", fmt.Sprintf("k-%x%x", r.Uint64(), r.Uint64()), r.Uint32())
			default:
				fmt.Fprintf(&b, codeLines[r.IntN(len(codeLines))], r.IntN(1000))
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i%97), fmt.Sprintf("f%05d.go", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
		written += int64(b.Len())
	}
}

// BenchmarkScanTree measures scan throughput (MB/s) over a generated tree
// of 16 MiB with both detectors, the live one against an in-process
// checker (so the figure is the client's own cost). COFFER_SCAN_BENCH_DIR
// names an existing tree to scan instead (the 1 GB figure in
// docs/performance.md).
func BenchmarkScanTree(b *testing.B) {
	dir := os.Getenv("COFFER_SCAN_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
		genTree(b, dir, 16<<20)
	}
	rules, err := format.DefaultRules()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"both", "format", "live"} {
		b.Run(mode, func(b *testing.B) {
			o := Options{}
			if mode != "live" {
				o.Rules = rules
			}
			if mode != "format" {
				o.Checker = newMemChecker(nil)
			}
			var bytes int64
			for b.Loop() {
				res, err := Scan(b.Context(), source.Files{Root: dir}, o)
				if err != nil {
					b.Fatal(err)
				}
				bytes = res.Bytes
			}
			b.SetBytes(bytes)
		})
	}
}

// TestGenerateBenchTree writes the 1 GB tree of docs/performance.md when
// COFFER_SCAN_GEN_TREE names a new directory (COFFER_SCAN_GEN_MB sets the
// size, default 1024); otherwise it skips (it is a tool, not a test).
func TestGenerateBenchTree(t *testing.T) {
	dir := os.Getenv("COFFER_SCAN_GEN_TREE")
	if dir == "" {
		t.Skip("set COFFER_SCAN_GEN_TREE=DIR to generate a benchmark tree")
	}
	mb := 1024
	if s := os.Getenv("COFFER_SCAN_GEN_MB"); s != "" {
		var err error
		if mb, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	genTree(t, dir, int64(mb)<<20)
}

// TestScanHistoryMaxFileSize: a blob of the history larger than
// MaxFileSize is skipped (with a note) without being read, as a file is.
func TestScanHistoryMaxFileSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"big.env":   strings.Repeat("# filler line of a large file\n", 400) + "PASSWORD=the-live-value-123\n",
		"small.env": "TOKEN=the-live-value-123\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "T", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	if _, err := wt.Commit("one", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	ck := newMemChecker(map[string]live.Match{"the-live-value-123": {Readable: true, Mount: "secret/", Path: "p", Key: "k", Version: 1, Current: true}})
	var mu sync.Mutex
	var notes []string
	note := func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }
	res, err := Scan(t.Context(), source.History{Dir: dir}, Options{Checker: ck, MaxFileSize: 1000, Note: note})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || res.Blobs != 1 || len(res.Findings) != 1 || filepath.Base(res.Findings[0].File) != "small.env" {
		t.Errorf("with a 1000-byte limit: blobs %d, skipped %d, findings %+v; want 1, 1 and small.env only", res.Blobs, res.Skipped, res.Findings)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "big.env") {
		t.Errorf("notes %q, want one about big.env", notes)
	}
}

// TestScanManifestProblem: a Secret key whose data value is not base64 is
// reported in a note naming the key (the raw text is still scanned).
func TestScanManifestProblem(t *testing.T) {
	t.Parallel()
	in := "kind: Secret\nmetadata: {name: web}\ndata:\n  password: the-live-value-123\n"
	ck := newMemChecker(map[string]live.Match{"the-live-value-123": {Readable: true, Mount: "secret/", Path: "p", Key: "k", Current: true}})
	var mu sync.Mutex
	var notes []string
	note := func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() }
	res, err := Scan(t.Context(), source.Stream{Name: "-", R: strings.NewReader(in)}, Options{Checker: ck, Note: note})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].Line != 4 {
		t.Errorf("findings %+v, want the raw value at line 4", res.Findings)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "key password of Secret web") || strings.Contains(notes[0], "the-live") {
		t.Errorf("notes %q, want one naming the key and not the value", notes)
	}
}

// TestScanBlocks: a PEM key and a pretty-printed JSON file stored whole in
// Coffer are found, though no single line holds them.
func TestScanBlocks(t *testing.T) {
	t.Parallel()
	pem := "-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAq\nZmFrZS1rZXktbWF0ZXJpYWw=\n-----END PRIVATE KEY-----\n"
	creds := "{\n  \"user\": \"app\",\n  \"password\": \"pw\"\n}"
	dir := t.TempDir()
	files := map[string]string{
		"deploy.yaml": "tls:\n  key: |\n    " + strings.ReplaceAll(strings.TrimSuffix(pem, "\n"), "\n", "\n    ") + "\n",
		"creds.json":  creds + "\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := live.Match{Readable: true, Mount: "secret/", Path: "p", Key: "k", Current: true}
	ck := newMemChecker(map[string]live.Match{pem: m, creds: m})
	res, err := Scan(t.Context(), source.Files{Root: dir}, Options{Checker: ck})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line))
	}
	if want := []string{"creds.json:1", "deploy.yaml:3"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"hunter2hunter2x", "hun…"}, {"hunter2hunter2xy", "hunt…"},
		{"{\n  \"password\": 1}", "{   …"},
		{"short", "s…"},
		{"ünïcödé-valuesss", "ünïc…"},
	}
	for _, tt := range tests {
		if got := redact([]byte(tt.in)); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
