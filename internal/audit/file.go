package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// DefaultFileMode is the mode of a new audit file unless told otherwise.
const DefaultFileMode fs.FileMode = 0o600

// maxTailLine bounds how far back a file is read to find its last line.
const maxTailLine = 64 << 20

// FileOptions configure [OpenFile].
type FileOptions struct {
	// Path is the file to append to, or "stdout", or "discard".
	Path string
	// Mode is the file's permission bits; DefaultFileMode when zero. A
	// mode with execute bits or group or world write bits is refused. With
	// KeepMode set the mode of an existing file is left alone.
	Mode     fs.FileMode
	KeepMode bool
	// AllowedDirs are the directories the file may be in (the server's
	// audit_allowed_dirs), used unless AllowAnyDir is set. With neither,
	// every path is refused. Devices enabled through the API must get
	// these from the server configuration, never from the request.
	AllowedDirs []string
	// AllowAnyDir lifts the directory restriction: for devices from the
	// configuration file and for dev mode.
	AllowAnyDir bool
	// Stdout is where "stdout" writes; os.Stdout when nil.
	Stdout io.Writer
}

// File is a [Sink] appending to a file (opened with O_APPEND, so each
// line is one write at the end), or writing to stdout or nowhere. Writes
// cannot be interrupted: a file on a stuck disk blocks its writer, and
// the broker's timeout is what bounds the request. Lines are not synced
// to disk one by one.
type File struct {
	opts FileOptions
	w    io.Writer // stdout or discard; nil for a real file

	mu   sync.Mutex
	f    *os.File // guarded by mu
	last []byte   // the last complete line when first opened; guarded by mu
	end  int64    // the end of the last complete line in f; guarded by mu
}

// OpenFile opens (creating when missing) the file o names. It refuses a
// path outside o.AllowedDirs (unless AllowAnyDir), a symbolic link that
// leads out of the allowed directory, anything but a regular file, and a
// file that is executable or writable by group or others. A file whose
// last line was cut short (a crash mid-write) gets a newline, so the cut
// line stays visible to verification and new lines start clean.
func OpenFile(o FileOptions) (*File, error) {
	if o.Mode == 0 {
		o.Mode = DefaultFileMode
	}
	if o.Mode&^fs.ModePerm != 0 || o.Mode&0o111 != 0 || o.Mode&0o022 != 0 {
		return nil, fmt.Errorf("audit file mode %#o: must not be executable nor writable by group or others", o.Mode)
	}
	switch o.Path {
	case "":
		return nil, errors.New("audit file path is empty")
	case "stdout":
		w := o.Stdout
		if w == nil {
			w = os.Stdout
		}
		return &File{opts: o, w: w}, nil
	case "discard":
		return &File{opts: o, w: io.Discard}, nil
	}
	fl := &File{opts: o}
	f, last, end, err := fl.open(nil)
	if err != nil {
		return nil, err
	}
	fl.f, fl.last, fl.end = f, last, end
	return fl, nil
}

// ErrFileInUse is returned (wrapped) when an audit file is already open
// in another audit device, of this server or of another process on the
// host (another node of a cluster): two writers would interleave two hash
// chains in one file. Each node of a cluster needs its own file, for
// example with {{node_id}} in file_path.
var ErrFileInUse = errors.New("audit file is in use by another audit device")

// open opens the file, takes its lock, checks it and returns it with its
// last complete line and its size. When the path still names old (the
// file was not rotated), open returns old itself, with a nil line.
func (fl *File) open(old *os.File) (*os.File, []byte, int64, error) {
	o := fl.opts
	const flags = os.O_RDWR | os.O_APPEND | os.O_CREATE
	var f *os.File
	var err error
	if o.AllowAnyDir {
		f, err = os.OpenFile(o.Path, flags, o.Mode)
	} else {
		f, err = openInAllowed(o.Path, o.AllowedDirs, flags, o.Mode)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	if old != nil {
		fi, err1 := f.Stat()
		ofi, err2 := old.Stat()
		if err1 == nil && err2 == nil && os.SameFile(fi, ofi) {
			f.Close()
			return old, nil, ofi.Size(), nil
		}
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("%w: %q (%v): give each node of a cluster its own file, e.g. with {{node_id}} in file_path", ErrFileInUse, o.Path, err)
	}
	last, err := checkAndTail(f, o)
	if err != nil {
		f.Close()
		return nil, nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("stat audit file %q: %w", o.Path, err)
	}
	return f, last, fi.Size(), nil
}

// openInAllowed opens path through an [os.Root] on the allowed directory
// that holds it, so no symbolic link can lead outside that directory.
func openInAllowed(path string, dirs []string, flags int, mode fs.FileMode) (*os.File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("audit file path %q: %w", path, err)
	}
	for _, dir := range dirs {
		d, err := filepath.Abs(dir)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(d, abs)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			continue
		}
		root, err := os.OpenRoot(d)
		if err != nil {
			return nil, fmt.Errorf("open audit directory %q: %w", d, err)
		}
		f, err := root.OpenFile(rel, flags, mode)
		root.Close()
		if err != nil {
			return nil, fmt.Errorf("open audit file %q: %w", path, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("audit file %q is outside the allowed directories", path)
}

// checkAndTail checks an open file's type and mode, applies the configured
// mode, terminates a cut-short last line and returns the last complete
// line (nil when there is none).
func checkAndTail(f *os.File, o FileOptions) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat audit file %q: %w", o.Path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("audit file %q is not a regular file", o.Path)
	}
	perm := fi.Mode().Perm()
	if perm&0o111 != 0 {
		return nil, fmt.Errorf("audit file %q is executable", o.Path)
	}
	if perm&0o022 != 0 {
		return nil, fmt.Errorf("audit file %q is writable by group or others", o.Path)
	}
	if !o.KeepMode && perm != o.Mode {
		if err := f.Chmod(o.Mode); err != nil {
			return nil, fmt.Errorf("chmod audit file %q: %w", o.Path, err)
		}
	}
	last, cut, err := tail(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("read audit file %q: %w", o.Path, err)
	}
	if cut {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return nil, fmt.Errorf("terminate audit file %q: %w", o.Path, err)
		}
	}
	return last, nil
}

// tail returns the last newline-terminated line of f (without its
// newline), and whether bytes follow it without a final newline. A last
// line longer than maxTailLine is not returned.
func tail(f *os.File, size int64) (last []byte, cut bool, err error) {
	if size == 0 {
		return nil, false, nil
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], size-1); err != nil {
		return nil, false, err
	}
	cut = b[0] != '\n'
	end, err := lastIndexBefore(f, size, size-2*maxTailLine)
	if err != nil || end < 0 {
		return nil, cut, err
	}
	start, err := lastIndexBefore(f, end, end-maxTailLine)
	if err != nil {
		return nil, cut, err
	}
	if end-(start+1) > maxTailLine {
		return nil, cut, nil
	}
	line := make([]byte, end-(start+1))
	if _, err := f.ReadAt(line, start+1); err != nil {
		return nil, cut, err
	}
	return line, cut, nil
}

// lastIndexBefore returns the offset of the last newline in f before
// offset end and at or after limit, or -1.
func lastIndexBefore(f *os.File, end, limit int64) (int64, error) {
	limit = max(limit, 0)
	buf := make([]byte, 32<<10)
	for end > limit {
		n := min(int64(len(buf)), end-limit)
		chunk := buf[:n]
		if _, err := f.ReadAt(chunk, end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return end - n + int64(i), nil
		}
		end -= n
	}
	return -1, nil
}

// Type returns "file".
func (fl *File) Type() string { return "file" }

// LastLine returns the last complete line the file held when it was first
// opened, without its newline, or nil.
func (fl *File) LastLine() []byte {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.last
}

// Write appends line. ctx is not consulted: a file write cannot be
// interrupted.
func (fl *File) Write(_ context.Context, line []byte) error {
	if fl.w != nil {
		_, err := fl.w.Write(line)
		return err
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.f == nil {
		return ErrClosed
	}
	n, err := fl.f.Write(line)
	if err == nil {
		fl.end += int64(n)
	}
	return err
}

// Repair cuts the file back to the end of its last complete line, removing
// what a failed write (a full disk) left of its line, so that the next
// line starts clean. It returns that offset and how many bytes it cut.
// Stdout and discard have nothing to repair.
func (fl *File) Repair() (offset, cut int64, err error) {
	if fl.w != nil {
		return 0, 0, nil
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.f == nil {
		return 0, 0, ErrClosed
	}
	fi, err := fl.f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("stat audit file %q: %w", fl.opts.Path, err)
	}
	if fi.Size() <= fl.end {
		return fl.end, 0, nil
	}
	if err := fl.f.Truncate(fl.end); err != nil {
		return 0, 0, fmt.Errorf("truncate audit file %q: %w", fl.opts.Path, err)
	}
	return fl.end, fi.Size() - fl.end, nil
}

// Reload closes and reopens the file by path, so that after a rename
// (log rotation) new lines go to a new file. When the path cannot be
// opened the old file is kept and the error returned.
func (fl *File) Reload() error {
	if fl.w != nil {
		return nil
	}
	fl.mu.Lock()
	old := fl.f
	fl.mu.Unlock()
	f, _, end, err := fl.open(old)
	if err != nil {
		return err
	}
	if f == old {
		return nil
	}
	fl.mu.Lock()
	old = fl.f
	fl.f, fl.end = f, end
	fl.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Close closes the file; stdout is left open.
func (fl *File) Close() error {
	if fl.w != nil {
		return nil
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.f == nil {
		return nil
	}
	err := fl.f.Close()
	fl.f = nil
	return err
}
