package source

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TestHistoryLinkedWorktree: a linked work tree (as `git worktree add`
// makes it: a .git file naming a directory under the main repository's
// .git/worktrees, whose commondir points back) has its history read from
// the main repository's references.
func TestHistoryLinkedWorktree(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mainDir := filepath.Join(root, "main")
	repo, err := git.PlainInit(mainDir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mainDir, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("a.txt"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "T", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	h, err := wt.Commit("one", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(root, "linked")
	admin := filepath.Join(mainDir, ".git", "worktrees", "linked")
	files := map[string]string{
		filepath.Join(admin, "HEAD"):      h.String() + "\n",
		filepath.Join(admin, "commondir"): "../..\n",
		filepath.Join(admin, "gitdir"):    filepath.Join(linked, ".git") + "\n",
		filepath.Join(linked, ".git"):     "gitdir: " + admin + "\n",
		filepath.Join(linked, "a.txt"):    "hello\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !IsRepository(linked) {
		t.Fatal("IsRepository(linked work tree) = false")
	}
	var got []Blob
	if err := (History{Dir: linked}).Each(t.Context(), func(b Blob) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Commit != h.String() || got[0].Path != filepath.ToSlash(filepath.Join(linked, "a.txt")) {
		t.Errorf("History of a linked work tree = %+v, want a.txt at %s", got, h)
	}
}

// commitFiles commits the files (name -> content) to a new repository at
// dir and returns it.
func commitFiles(t *testing.T, dir string, files map[string]string) *git.Repository {
	t.Helper()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "T", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	if _, err := wt.Commit("one", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	return repo
}

// TestHistorySizeAndStreaming: history blobs carry their size from the
// object header (so a scan can skip large ones unread), and blobs over
// LargeObject are streamed with the same content, loose or packed.
func TestHistorySizeAndStreaming(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"small.txt": "hello\n",
		"large.txt": strings.Repeat("0123456789abcdef\n", 4096), // 68 KiB
	}
	for _, packed := range []bool{false, true} {
		t.Run(fmt.Sprintf("packed=%v", packed), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			repo := commitFiles(t, dir, files)
			if packed {
				if err := repo.RepackObjects(&git.RepackConfig{}); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]string{}
			err := History{Dir: dir, LargeObject: 1 << 10}.Each(t.Context(), func(b Blob) error {
				rc, err := b.Open()
				if err != nil {
					return err
				}
				defer rc.Close()
				c, err := io.ReadAll(rc)
				if err != nil {
					return err
				}
				name := path.Base(b.Path)
				if b.Size != int64(len(files[name])) {
					t.Errorf("%s: Size = %d, want %d", name, b.Size, len(files[name]))
				}
				got[name] = string(c)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range files {
				if got[name] != c {
					t.Errorf("%s: read %d bytes, want %d", name, len(got[name]), len(c))
				}
			}
		})
	}
}
