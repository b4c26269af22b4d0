// Package source lists the content a scan reads: the files under a
// directory (respecting .gitignore files), every blob of every commit of a
// git repository (each blob once, with the first commit and path it
// appears at), the blobs staged in a repository's index, or one stream such
// as standard input. Repositories are read with github.com/go-git/go-git/v5,
// never by running git.
//
// A source yields [Blob] values to a callback; the content is read only
// when the callback opens it, so a source holds no file in memory. Sources
// keep no state between calls and may be used from one goroutine at a
// time.
package source

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// Blob is one piece of content to scan.
type Blob struct {
	// Path is where the content is: a slash-separated path, "-" for
	// standard input.
	Path string
	// Commit is, for a blob of a repository's history, the first commit
	// (by commit time) whose tree holds it; empty otherwise.
	Commit string
	// Size is the content's length in bytes, or -1 when unknown.
	Size int64
	// Open opens the content; the caller closes it.
	Open func() (io.ReadCloser, error)
}

// Source yields blobs to fn, stopping at the first error fn returns.
type Source interface {
	Each(ctx context.Context, fn func(Blob) error) error
}

// Files is the [Source] of the regular files under Root (a directory or a
// file). Files and directories that the .gitignore files under Root
// exclude are skipped, as are .git directories and symbolic links. Paths
// are Root joined with the path below it.
type Files struct {
	Root string
}

// Each walks the tree in lexical order.
func (f Files) Each(ctx context.Context, fn func(Blob) error) error {
	var patterns []gitignore.Pattern
	return filepath.WalkDir(f.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(f.Root, p)
		parts := splitPath(rel)
		if d.IsDir() {
			if d.Name() == ".git" && p != f.Root {
				return filepath.SkipDir
			}
			if len(parts) > 0 && ignored(patterns, parts, true) {
				return filepath.SkipDir
			}
			ps, err := readIgnore(filepath.Join(p, ".gitignore"), parts)
			if err != nil {
				return err
			}
			patterns = append(patterns, ps...)
			return nil
		}
		if !d.Type().IsRegular() || ignored(patterns, parts, false) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		return fn(Blob{
			Path: filepath.ToSlash(p),
			Size: info.Size(),
			Open: func() (io.ReadCloser, error) { return os.Open(p) },
		})
	})
}

// splitPath splits a relative OS path into its elements; "." is none.
func splitPath(rel string) []string {
	if rel == "." || rel == "" {
		return nil
	}
	return strings.Split(filepath.ToSlash(rel), "/")
}

// ignored applies the patterns, the last matching one deciding.
func ignored(ps []gitignore.Pattern, path []string, isDir bool) bool {
	for i := len(ps) - 1; i >= 0; i-- {
		switch ps[i].Match(path, isDir) {
		case gitignore.Exclude:
			return true
		case gitignore.Include:
			return false
		}
	}
	return false
}

// readIgnore parses a .gitignore file whose patterns apply below domain; a
// missing file has none.
func readIgnore(path string, domain []string) ([]gitignore.Pattern, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ps, nil
}

// Stream is the [Source] of one stream, such as standard input.
type Stream struct {
	// Name is the blob's path ("-" for standard input).
	Name string
	R    io.Reader
}

// Each yields the stream once.
func (s Stream) Each(_ context.Context, fn func(Blob) error) error {
	return fn(Blob{Path: s.Name, Size: -1, Open: func() (io.ReadCloser, error) { return io.NopCloser(s.R), nil }})
}

// IsRepository reports whether dir is the top of a git work tree (holds
// .git) or a bare repository.
func IsRepository(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		return true
	}
	_, errHead := os.Stat(filepath.Join(dir, "HEAD"))
	_, errObjects := os.Stat(filepath.Join(dir, "objects"))
	return errHead == nil && errObjects == nil
}

// Multi is the [Source] that yields the blobs of each source in turn.
type Multi []Source

// Each runs the sources in order.
func (m Multi) Each(ctx context.Context, fn func(Blob) error) error {
	for _, s := range m {
		if err := s.Each(ctx, fn); err != nil {
			return err
		}
	}
	return nil
}
