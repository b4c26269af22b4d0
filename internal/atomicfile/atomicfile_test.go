package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		old  string // "" for no file before
		data string
		perm os.FileMode
	}{
		{name: "new file", data: "hello", perm: 0o640},
		{name: "replaces", old: "old contents", data: "new", perm: 0o600},
		{name: "empty", old: "x", data: "", perm: 0o644},
		{name: "mode beyond umask", data: "w", perm: 0o666},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "f.txt")
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, []byte(tt.data), tt.perm); err != nil {
				t.Fatalf("WriteFile(%q) error = %v", path, err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tt.data {
				t.Fatalf("after WriteFile the file holds %q, %v; want %q", got, err, tt.data)
			}
			info, err := os.Stat(path)
			if err != nil || info.Mode().Perm() != tt.perm {
				t.Fatalf("mode = %v, %v; want %v", info.Mode().Perm(), err, tt.perm)
			}
			assertOnly(t, dir, "f.txt")
		})
	}
}

// TestWriteFailureKeepsOldFile checks that a failing writer leaves the old
// file as it was and no temporary file behind.
func TestWriteFailureKeepsOldFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, 0o600, func(w io.Writer) error {
		if _, err := io.WriteString(w, "partial"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Write error = %v, want one wrapping %v and naming %s", err, boom, path)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "old" {
		t.Fatalf("after a failed Write the file holds %q, %v; want %q", got, err, "old")
	}
	assertOnly(t, dir, "f.txt")
}

func TestWriteMissingDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "f.txt")
	err := WriteFile(path, []byte("x"), 0o600)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile into a missing directory = %v, want a not-exist error naming %s", err, path)
	}
}

// assertOnly fails unless dir holds exactly the named files.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
}
