package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// defaultLargeObject is the size above which a blob is streamed from disk
// rather than inflated whole into memory: the scan's default chunk size.
const defaultLargeObject = 4 << 20

// History is the [Source] of every blob of every commit reachable from any
// reference of the repository at Dir. Commits are visited oldest first (by
// commit time); a tree seen before is not walked again, so each blob is
// yielded once, with the first commit and path it appears at. Paths are Dir
// joined with the path in the repository. Submodules and symbolic links are
// skipped.
//
// Each blob's size is read from its object header before it is yielded,
// so a scan skips blobs over its size limit without inflating them, and
// blobs over LargeObject bytes are streamed rather than read whole. The walk keeps
// the hash of every tree and blob seen (about 60 bytes each: some 60 MB
// for a history of a million distinct blobs and trees).
type History struct {
	Dir string
	// LargeObject is the size in bytes above which a blob is streamed
	// (default 4 MiB).
	LargeObject int64
}

// Each walks the history.
func (h History) Each(ctx context.Context, fn func(Blob) error) error {
	repo, err := openRepo(h.Dir, h.LargeObject)
	if err != nil {
		return err
	}
	iter, err := repo.Log(&git.LogOptions{All: true})
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil // no commits yet
	}
	if err != nil {
		return fmt.Errorf("read history of %s: %w", h.Dir, err)
	}
	type ref struct {
		hash plumbing.Hash
		tree plumbing.Hash
		when int64
	}
	var commits []ref
	err = iter.ForEach(func(c *object.Commit) error {
		commits = append(commits, ref{c.Hash, c.TreeHash, c.Committer.When.Unix()})
		return nil
	})
	iter.Close()
	if err != nil {
		return fmt.Errorf("read history of %s: %w", h.Dir, err)
	}
	// Log lists newest first; reversed and stably sorted by time, parents
	// come before children even when their times are equal.
	slices.Reverse(commits)
	slices.SortStableFunc(commits, func(a, b ref) int { return cmp.Compare(a.when, b.when) })

	w := treeWalker{repo: repo, dir: h.Dir, fn: fn, trees: map[plumbing.Hash]struct{}{}, blobs: map[plumbing.Hash]struct{}{}}
	for _, c := range commits {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.commit = c.hash.String()
		if err := w.walk(c.tree, ""); err != nil {
			return err
		}
	}
	return nil
}

// openRepo opens the repository at dir: a work tree, a bare repository or
// a linked work tree (git worktree add), whose references live in the
// main repository's directory. Objects over large bytes (0: the default)
// are streamed.
func openRepo(dir string, large int64) (*git.Repository, error) {
	if large <= 0 {
		large = defaultLargeObject
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	// PlainOpen found the directories; open its storage again so that
	// large objects are streamed (PlainOpen has no option for it).
	st, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return repo, nil
	}
	s := filesystem.NewStorageWithOptions(st.Filesystem(), cache.NewObjectLRUDefault(),
		filesystem.Options{LargeObjectThreshold: large})
	if repo, err = git.Open(s, nil); err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	return repo, nil
}

// treeWalker yields the blobs of trees not walked before.
type treeWalker struct {
	repo   *git.Repository
	dir    string
	fn     func(Blob) error
	commit string
	trees  map[plumbing.Hash]struct{}
	blobs  map[plumbing.Hash]struct{}
}

func (w *treeWalker) walk(h plumbing.Hash, prefix string) error {
	if _, ok := w.trees[h]; ok {
		return nil
	}
	w.trees[h] = struct{}{}
	t, err := w.repo.TreeObject(h)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		p := path.Join(prefix, e.Name)
		switch e.Mode {
		case filemode.Dir:
			if err := w.walk(e.Hash, p); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			if _, ok := w.blobs[e.Hash]; ok {
				continue
			}
			w.blobs[e.Hash] = struct{}{}
			b, err := blobOf(w.repo, e.Hash, joinDir(w.dir, p), w.commit)
			if err != nil {
				return err
			}
			if err := w.fn(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// blobOf describes a blob of the repository. Its size comes from the
// object's header; a packed object's content is read only on open, a small
// loose one (at most the large-object size) is inflated here.
func blobOf(repo *git.Repository, h plumbing.Hash, p, commit string) (Blob, error) {
	obj, err := repo.Storer.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return Blob{}, fmt.Errorf("read blob %s: %w", h, err)
	}
	return Blob{
		Path:   p,
		Commit: commit,
		Size:   obj.Size(),
		Open:   obj.Reader,
	}, nil
}

// joinDir joins the scan's directory argument and a repository path.
func joinDir(dir, p string) string {
	return filepath.ToSlash(filepath.Join(dir, filepath.FromSlash(p)))
}

// Staged is the [Source] of the blobs in the index of the repository at
// Dir that differ from HEAD: what the next commit adds. It is what a
// pre-commit hook scans.
type Staged struct {
	Dir string
	// LargeObject is as for [History].
	LargeObject int64
}

// Each yields the staged blobs in index order.
func (s Staged) Each(ctx context.Context, fn func(Blob) error) error {
	repo, err := openRepo(s.Dir, s.LargeObject)
	if err != nil {
		return err
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("read index of %s: %w", s.Dir, err)
	}
	var head *object.Tree
	if ref, err := repo.Head(); err == nil {
		c, err := repo.CommitObject(ref.Hash())
		if err != nil {
			return fmt.Errorf("read HEAD of %s: %w", s.Dir, err)
		}
		if head, err = c.Tree(); err != nil {
			return fmt.Errorf("read HEAD tree of %s: %w", s.Dir, err)
		}
	} else if !errors.Is(err, plumbing.ErrReferenceNotFound) {
		return fmt.Errorf("read HEAD of %s: %w", s.Dir, err)
	}
	for _, e := range idx.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Mode != filemode.Regular && e.Mode != filemode.Executable {
			continue
		}
		if head != nil {
			if f, err := head.File(e.Name); err == nil && f.Hash == e.Hash {
				continue
			}
		}
		b, err := blobOf(repo, e.Hash, joinDir(s.Dir, e.Name), "")
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}
