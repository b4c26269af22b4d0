// Package atomicfile replaces files so that a reader, or the machine after
// a crash, sees the old file or the whole new one, never a partial write.
// The agent writes its sinks, templates and pid file with it; tlsutil its
// local CA and certificates.
//
// It imports only the standard library.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, mode perm. See [Write].
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path with what write writes, mode perm whatever the umask:
// into a temporary file in the same directory (".NAME.tmp-*"), fsynced and
// renamed over path; then the directory is fsynced, where the platform can,
// so the rename survives a crash. When anything fails the temporary file is
// removed, path is left as it was, and the error names path.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	// CreateTemp makes the file 0600; Chmod sets the exact mode.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := write(f); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Not every platform can sync a directory; the file is in place
	// either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
