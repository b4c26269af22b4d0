package scan

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/coffer-secrets/coffer/internal/scan/format"
	"github.com/coffer-secrets/coffer/internal/scan/source"
)

// genRepo writes a bare repository with the given number of commits to
// dir, straight into the object store (no work tree): 200 files of about
// 4 KiB in 10 directories, each commit rewriting one file.
func genRepo(tb testing.TB, dir string, commits int) {
	tb.Helper()
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		tb.Fatal(err)
	}
	st := repo.Storer
	put := func(enc interface {
		Encode(o plumbing.EncodedObject) error
	}) plumbing.Hash {
		o := st.NewEncodedObject()
		if err := enc.Encode(o); err != nil {
			tb.Fatal(err)
		}
		h, err := st.SetEncodedObject(o)
		if err != nil {
			tb.Fatal(err)
		}
		return h
	}
	r := rand.New(rand.NewPCG(3, 4))
	blob := func(i, rev int) plumbing.Hash {
		var b strings.Builder
		for b.Len() < 4<<10 {
			switch r.IntN(200) {
			case 0:
				fmt.Fprintf(&b, "DB_URL=postgres://app:%x@db.internal:5432/app\n", r.Uint64())
			default:
				fmt.Fprintf(&b, codeLines[r.IntN(len(codeLines))], r.IntN(1000))
			}
		}
		fmt.Fprintf(&b, "// file %d revision %d\n", i, rev)
		o := st.NewEncodedObject()
		o.SetType(plumbing.BlobObject)
		w, err := o.Writer()
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(b.String()))
		w.Close()
		h, err := st.SetEncodedObject(o)
		if err != nil {
			tb.Fatal(err)
		}
		return h
	}
	const dirs, perDir = 10, 20
	files := make([][]plumbing.Hash, dirs)
	subtrees := make([]plumbing.Hash, dirs)
	subtree := func(d int) plumbing.Hash {
		t := &object.Tree{}
		for f, h := range files[d] {
			t.Entries = append(t.Entries, object.TreeEntry{Name: fmt.Sprintf("f%02d.go", f), Mode: filemode.Regular, Hash: h})
		}
		return put(t)
	}
	for d := range dirs {
		for f := range perDir {
			files[d] = append(files[d], blob(d*perDir+f, 0))
		}
		subtrees[d] = subtree(d)
	}
	var parent plumbing.Hash
	when := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for c := range commits {
		d, f := r.IntN(dirs), r.IntN(perDir)
		files[d][f] = blob(d*perDir+f, c+1)
		subtrees[d] = subtree(d)
		root := &object.Tree{}
		for i, h := range subtrees {
			root.Entries = append(root.Entries, object.TreeEntry{Name: fmt.Sprintf("d%d", i), Mode: filemode.Dir, Hash: h})
		}
		when = when.Add(time.Minute)
		sig := object.Signature{Name: "Bench", Email: "bench@example.com", When: when}
		cm := &object.Commit{Author: sig, Committer: sig, Message: "change " + strconv.Itoa(c), TreeHash: put(root)}
		if !parent.IsZero() {
			cm.ParentHashes = []plumbing.Hash{parent}
		}
		parent = put(cm)
	}
	if err := st.SetReference(plumbing.NewHashReference("refs/heads/master", parent)); err != nil {
		tb.Fatal(err)
	}
}

// TestGenerateBenchRepo writes the 10,000-commit repository of
// docs/performance.md when COFFER_SCAN_GEN_REPO names a new directory;
// otherwise it skips (it is a tool, not a test).
func TestGenerateBenchRepo(t *testing.T) {
	dir := os.Getenv("COFFER_SCAN_GEN_REPO")
	if dir == "" {
		t.Skip("set COFFER_SCAN_GEN_REPO=DIR (and COFFER_SCAN_GEN_COMMITS, default 10000) to generate a benchmark repository")
	}
	n := 10000
	if s := os.Getenv("COFFER_SCAN_GEN_COMMITS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	genRepo(t, dir, n)
}

// BenchmarkScanHistory measures a history scan (every blob of every
// commit, once) of a generated repository of 300 commits, or of the one
// COFFER_SCAN_BENCH_REPO names.
func BenchmarkScanHistory(b *testing.B) {
	dir := os.Getenv("COFFER_SCAN_BENCH_REPO")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "repo.git")
		genRepo(b, dir, 300)
	}
	rules, err := format.DefaultRules()
	if err != nil {
		b.Fatal(err)
	}
	var res Result
	for b.Loop() {
		res, err = Scan(b.Context(), source.History{Dir: dir}, Options{Rules: rules, Checker: newMemChecker(nil)})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(res.Bytes)
	b.ReportMetric(float64(res.Blobs), "blobs")
	b.ReportMetric(float64(res.Checked), "candidates")
}

// TestHistoryOnce checks on a generated repository that each blob is
// scanned once and attributed to the commit that introduced it.
func TestHistoryOnce(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "repo.git")
	genRepo(t, dir, 30)
	seen := map[string]string{}
	n := 0
	err := source.History{Dir: dir}.Each(t.Context(), func(b source.Blob) error {
		n++
		if prev, ok := seen[b.Path+"@"+b.Commit]; ok {
			t.Errorf("blob %s at %s yielded twice (%s)", b.Path, b.Commit, prev)
		}
		seen[b.Path+"@"+b.Commit] = b.Commit
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 200+29 {
		t.Errorf("%d blobs, want 229 (200 in the first commit, one new in each later one)", n)
	}
}
