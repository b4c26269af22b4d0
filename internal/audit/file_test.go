package audit_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
)

func TestOpenFilePermissions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup prepares dir (a private temporary directory) and returns
		// the options to open.
		setup   func(t *testing.T, dir string) audit.FileOptions
		wantErr string
		// wantMode is the file's mode after a successful open.
		wantMode fs.FileMode
	}{
		{
			name: "new file in an allowed dir",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: filepath.Join(dir, "a.log"), AllowedDirs: []string{dir}}
			},
			wantMode: 0o600,
		},
		{
			name: "mode 0640 applied",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: filepath.Join(dir, "a.log"), Mode: 0o640, AllowAnyDir: true}
			},
			wantMode: 0o640,
		},
		{
			name: "existing 0644 file made 0600",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				p := writeFile(t, dir, "a.log", 0o644)
				return audit.FileOptions{Path: p, AllowAnyDir: true}
			},
			wantMode: 0o600,
		},
		{
			name: "KeepMode leaves the mode alone",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				p := writeFile(t, dir, "a.log", 0o644)
				return audit.FileOptions{Path: p, AllowAnyDir: true, KeepMode: true}
			},
			wantMode: 0o644,
		},
		{
			name: "executable file refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: writeFile(t, dir, "a.log", 0o700), AllowAnyDir: true}
			},
			wantErr: "is executable",
		},
		{
			name: "group-writable file refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: writeFile(t, dir, "a.log", 0o620), AllowAnyDir: true}
			},
			wantErr: "writable by group or others",
		},
		{
			name: "world-writable file refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: writeFile(t, dir, "a.log", 0o602), AllowAnyDir: true}
			},
			wantErr: "writable by group or others",
		},
		{
			name: "executable mode refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: filepath.Join(dir, "a.log"), Mode: 0o700, AllowAnyDir: true}
			},
			wantErr: "must not be executable",
		},
		{
			name: "directory refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				os.Mkdir(filepath.Join(dir, "d"), 0o700)
				return audit.FileOptions{Path: filepath.Join(dir, "d"), AllowAnyDir: true}
			},
			wantErr: "is a directory",
		},
		{
			name: "outside the allowed dirs refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				allowed := filepath.Join(dir, "allowed")
				os.Mkdir(allowed, 0o700)
				return audit.FileOptions{Path: filepath.Join(dir, "elsewhere.log"), AllowedDirs: []string{allowed}}
			},
			wantErr: "outside the allowed directories",
		},
		{
			name: "dot-dot escape refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				allowed := filepath.Join(dir, "allowed")
				os.Mkdir(allowed, 0o700)
				return audit.FileOptions{Path: allowed + "/../x.log", AllowedDirs: []string{allowed}}
			},
			wantErr: "outside the allowed directories",
		},
		{
			name: "the allowed dir itself refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: dir, AllowedDirs: []string{dir}}
			},
			wantErr: "outside the allowed directories",
		},
		{
			name: "symlink out of the allowed dir refused",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				allowed := filepath.Join(dir, "allowed")
				os.Mkdir(allowed, 0o700)
				target := filepath.Join(dir, "target.log")
				if err := os.Symlink(target, filepath.Join(allowed, "link.log")); err != nil {
					t.Fatal(err)
				}
				return audit.FileOptions{Path: filepath.Join(allowed, "link.log"), AllowedDirs: []string{allowed}}
			},
			wantErr: "escapes",
		},
		{
			name: "no allowed dirs refuses everything",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				return audit.FileOptions{Path: filepath.Join(dir, "a.log")}
			},
			wantErr: "outside the allowed directories",
		},
		{
			name: "nested dir under an allowed one",
			setup: func(t *testing.T, dir string) audit.FileOptions {
				os.Mkdir(filepath.Join(dir, "sub"), 0o700)
				return audit.FileOptions{Path: filepath.Join(dir, "sub", "a.log"), AllowedDirs: []string{"/nonexistent", dir}}
			},
			wantMode: 0o600,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			o := tt.setup(t, dir)
			f, err := audit.OpenFile(o)
			if tt.wantErr != "" {
				if err == nil {
					f.Close()
					t.Fatalf("OpenFile(%+v) = nil error, want %q", o, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("OpenFile() = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenFile(%+v) = %v", o, err)
			}
			defer f.Close()
			fi, err := os.Stat(o.Path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.wantMode {
				t.Errorf("mode = %#o, want %#o", fi.Mode().Perm(), tt.wantMode)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name string, mode fs.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileSpecialPaths(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	f, err := audit.OpenFile(audit.FileOptions{Path: "stdout", Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(t.Context(), []byte("line\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "line\n" {
		t.Errorf("stdout got %q", out.String())
	}
	d, err := audit.OpenFile(audit.FileOptions{Path: "discard"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(t.Context(), []byte("line\n")); err != nil {
		t.Errorf("discard Write() = %v", err)
	}
}

// TestFileReopenAfterRename rotates the log as logrotate does (rename,
// then SIGHUP) and checks that new lines go to the new file while the
// chain goes on.
func TestFileReopenAfterRename(t *testing.T) {
	t.Parallel()
	d, path := newFileDevice(t, audit.DeviceOptions{})
	ctx := t.Context()
	for range 2 {
		if err := d.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
			t.Fatal(err)
		}
	}
	rotated := path + ".1"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(ctx); err != nil {
		t.Fatalf("Reload() = %v", err)
	}
	if err := d.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	oldRaws, old := readLines(t, rotated)
	_, cur := readLines(t, path)
	if len(old) != 3 || old[2].Type != audit.TypeCheckpoint {
		t.Fatalf("rotated file has %d lines, want 2 entries and the checkpoint written on reload", len(old))
	}
	if len(cur) != 2 || cur[0].Seq != 4 || cur[0].PrevHash != audit.LineHash(oldRaws[2]) || cur[1].Type != audit.TypeCheckpoint {
		t.Errorf("new file = %+v, want seq 4 chained to the rotated file's last line, then a checkpoint", cur)
	}
}

// TestFileResumesChain restarts a device on the same file: the chain goes
// on from the file's last line.
func TestFileResumesChain(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	ctx := t.Context()
	open := func() (*audit.Device, *audit.File) {
		f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return d, f
	}
	for run := range 2 {
		d, f := open()
		if err := d.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			// A crash: the file closes without the device's final
			// checkpoint.
			f.Close()
		} else {
			d.Close(ctx)
		}
	}
	raws, lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	for i, l := range lines {
		if l.Seq != uint64(i+1) || l.ChainID != lines[0].ChainID {
			t.Errorf("line %d: seq %d chain %s, want seq %d chain %s", i+1, l.Seq, l.ChainID, i+1, lines[0].ChainID)
		}
		if i > 0 && l.PrevHash != audit.LineHash(raws[i-1]) {
			t.Errorf("line %d does not chain to line %d", i+1, i)
		}
	}
	if lines[2].Type != audit.TypeCheckpoint {
		t.Errorf("last line is %q, want the checkpoint covering entries from before the restart", lines[2].Type)
	}
}

// TestFileCutTail opens a file whose last line was cut short: the cut line
// is terminated and the chain resumes from the last complete line.
func TestFileCutTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	f0, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f0, Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	d.Log(ctx, audit.TypeRequest, sampleEntry())
	state, _ := d.State(ctx)
	// A crash: the first device's file is closed (its lock released)
	// without a final checkpoint, after a write cut short.
	f0.Close()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"seq":2,"chain_id":"`)
	fh.Close()
	f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := d2.State(ctx)
	if got != state {
		t.Errorf("resumed state = %+v, want %+v", got, state)
	}
	if err := d2.Log(ctx, audit.TypeRequest, sampleEntry()); err != nil {
		t.Fatal(err)
	}
	d2.Close(context.Background())
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 || lines[1] != `{"seq":2,"chain_id":"` || !strings.HasPrefix(lines[2], `{"seq":2,`) {
		t.Errorf("file lines = %q, want the cut line kept on its own line, then seq 2", lines)
	}
}

// fullDisk is a sink around a real file that, while full is set, writes
// only half of each line and fails as a full disk does.
type fullDisk struct {
	*audit.File
	path string
	full bool
}

func (d *fullDisk) Write(ctx context.Context, line []byte) error {
	if !d.full {
		return d.File.Write(ctx, line)
	}
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	f.Write(line[:len(line)/2])
	return &os.PathError{Op: "write", Path: d.path, Err: syscall.ENOSPC}
}

// TestFileTornWriteRecovered fills the disk mid-line: the device cuts the
// file back to its last complete line, records the torn write in its
// chain, and the file verifies with the record listed.
func TestFileTornWriteRecovered(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatal(err)
	}
	sink := &fullDisk{File: f, path: path}
	keys := testKeys(t)
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: sink, Keys: keys, CheckpointEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 8 {
		sink.full = i == 4 || i == 5
		err := d.Log(ctx, audit.TypeRequest, sampleEntry())
		if sink.full != (err != nil) {
			t.Fatalf("entry %d with a full disk %v: Log() = %v", i, sink.full, err)
		}
		if err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Log() = %v, want ENOSPC", err)
		}
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	rep, err := trail.Verify(file, d.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Fatalf("Verify() problems = %v", rep.Problems)
	}
	if len(rep.Recovered) != 1 || rep.Recovered[0].CutBytes == 0 || rep.Recovered[0].FailedWrites != 2 || !strings.Contains(rep.Recovered[0].Error, "no space left") {
		t.Fatalf("Verify() recovered = %+v, want one torn write with its cut bytes and error", rep.Recovered)
	}
}
