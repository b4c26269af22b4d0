package source

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFilesGitignore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		".gitignore":           "*.log\nbuild/\n!keep.log\n",
		"a.go":                 "x",
		"debug.log":            "x",
		"keep.log":             "x",
		"build/out.bin":        "x",
		"sub/.gitignore":       "local.env\n",
		"sub/local.env":        "x",
		"sub/app.env":          "x",
		"other/local.env":      "x",
		".git/config":          "x",
		"vendor/lib/README.md": "x",
	}
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := Files{Root: dir}.Each(t.Context(), func(b Blob) error {
		got = append(got, strings.TrimPrefix(b.Path, filepath.ToSlash(dir)+"/"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gitignore", "a.go", "keep.log", "other/local.env", "sub/.gitignore", "sub/app.env", "vendor/lib/README.md"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Files = %q, want %q", got, want)
	}
	if IsRepository(dir) != true {
		t.Error("IsRepository = false for a directory holding .git")
	}
	if IsRepository(filepath.Join(dir, "sub")) {
		t.Error("IsRepository = true for a plain directory")
	}
}
