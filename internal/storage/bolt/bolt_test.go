package bolt_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
	"github.com/coffer-secrets/coffer/internal/storage/storagetest"
)

// openTemp opens a new database in t's temporary directory and closes it
// when t ends.
func openTemp(tb testing.TB, noSync bool) *bolt.Storage {
	tb.Helper()
	s, err := bolt.Open(bolt.Options{Path: filepath.Join(tb.TempDir(), "coffer.db"), NoSync: noSync})
	if err != nil {
		tb.Fatalf("Open = %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close = %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	// The suite's many small writes would each wait for an fsync; crash
	// safety with fsync on is what TestCrash checks.
	storagetest.Run(t, func(t *testing.T) storage.Storage { return openTemp(t, true) })
}

// TestConformanceSynced runs the suite once more with fsync on, as
// production runs, when not in -short mode.
func TestConformanceSynced(t *testing.T) {
	if testing.Short() {
		t.Skip("fsync on every commit is slow; run without -short")
	}
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Storage { return openTemp(t, false) })
}

func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "coffer.db")
	s, err := bolt.Open(bolt.Options{Path: path})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	ctx := t.Context()
	writes := []error{
		s.Put(ctx, &storage.Entry{Key: "core/keyring", Value: []byte("ring")}),
		s.Put(ctx, &storage.Entry{Key: "gone", Value: []byte("x")}),
		s.Txn(ctx, []storage.Op{
			{Kind: storage.OpPut, Entry: storage.Entry{Key: "sys/token/a", Value: []byte("a")}},
			{Kind: storage.OpPut, Entry: storage.Entry{Key: "sys/token/b", Value: []byte("b")}},
		}),
		s.Delete(ctx, "gone"),
	}
	if err := errors.Join(writes...); err != nil {
		t.Fatalf("writes = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if _, err := s.Get(ctx, "core/keyring"); err == nil {
		t.Errorf("Get after Close = nil error, want an error")
	}

	s, err = bolt.Open(bolt.Options{Path: path})
	if err != nil {
		t.Fatalf("second Open = %v", err)
	}
	defer s.Close()
	want := map[string]string{"core/keyring": "ring", "sys/token/a": "a", "sys/token/b": "b"}
	for k, v := range want {
		e, err := s.Get(ctx, k)
		if err != nil || e == nil || string(e.Value) != v {
			t.Errorf("Get(%q) after reopen = %v, %v; want value %q", k, e, err, v)
		}
	}
	if e, err := s.Get(ctx, "gone"); e != nil || err != nil {
		t.Errorf("Get(%q) after reopen = %v, %v; want nil, nil", "gone", e, err)
	}
	names, err := s.List(ctx, "")
	if err != nil {
		t.Fatalf("List = %v", err)
	}
	if diff := cmp.Diff([]string{"core/", "sys/"}, names); diff != "" {
		t.Errorf("List(\"\") after reopen mismatch (-want +got):\n%s", diff)
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "coffer.db")
	first, err := bolt.Open(bolt.Options{Path: path, NoSync: true})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer first.Close()

	const timeout = 300 * time.Millisecond
	start := time.Now()
	second, err := bolt.Open(bolt.Options{Path: path, Timeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatalf("second Open of a locked file = nil error, want ErrLocked")
	}
	if !errors.Is(err, bolt.ErrLocked) {
		t.Errorf("second Open = %v, want error matching ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("second Open error %q does not name the file %q", err, path)
	}
	// bbolt polls the lock every 50ms and gives up within one poll of the
	// deadline.
	if elapsed < timeout-100*time.Millisecond || elapsed > timeout+2*time.Second {
		t.Errorf("second Open took %v, want about the %v timeout", elapsed, timeout)
	}

	// Once the first is closed the file opens again.
	if err := first.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	third, err := bolt.Open(bolt.Options{Path: path, Timeout: timeout})
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	third.Close()
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "deeper")
	path := filepath.Join(dir, "coffer.db")
	s, err := bolt.Open(bolt.Options{Path: path, NoSync: true})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer s.Close()
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{
		{dir, os.ModeDir | 0o700},
		{filepath.Dir(dir), os.ModeDir | 0o700},
		{path, 0o600},
	} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatalf("Stat(%q) = %v", tt.path, err)
		}
		if fi.Mode() != tt.want {
			t.Errorf("mode of %q = %v, want %v", tt.path, fi.Mode(), tt.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bolt file ", 1024)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"empty path", ""},
		{"parent is a file", filepath.Join(notDir, "coffer.db")},
		{"not a database", garbage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := bolt.Open(bolt.Options{Path: tt.path, Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil error, want an error", tt.path)
			}
			if errors.Is(err, bolt.ErrLocked) {
				t.Errorf("Open(%q) = %v, want an error other than ErrLocked", tt.path, err)
			}
		})
	}
}

func TestTxnLimits(t *testing.T) {
	t.Parallel()
	s := openTemp(t, true)
	long := strings.Repeat("k", 32769)
	err := s.Txn(t.Context(), []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "ok", Value: []byte("v")}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: long, Value: []byte("v")}},
	})
	if !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("Txn with a %d-byte key = %v, want storage.ErrInvalidKey", len(long), err)
	}
	if e, err := s.Get(t.Context(), "ok"); e != nil || err != nil {
		t.Errorf("Get(%q) after the failed Txn = %v, %v; want nil, nil", "ok", e, err)
	}
}

// FuzzList compares List with a direct computation from the keys written,
// which exercises the folder skipping on arbitrary key shapes. Input is
// newline-separated keys and a prefix.
func FuzzList(f *testing.F) {
	seeds := []struct{ keys, prefix string }{
		{"a\nab\na/b\na/c/d\nabc/d", ""},
		{"a\nab\na/b\na/c/d\nabc/d", "a"},
		{"p/x/a\np/x/\xff\xff\np/x0\np/x.\np/x//y", "p/"},
		{"x/\xff/\xff\nx/\xff0\nx/\xff\xff/", "x/\xff"},
		{"//a\na//b\na/b/", "a/"},
	}
	for _, sd := range seeds {
		f.Add(sd.keys, sd.prefix)
	}
	s := openTemp(f, true)
	var round int // each input writes under its own top-level folder
	f.Fuzz(func(t *testing.T, keys, prefix string) {
		round++
		root := fmt.Sprintf("r%08d/", round)
		var ops []storage.Op
		want := map[string]bool{}
		for k := range strings.SplitSeq(keys, "\n") {
			full := root + k
			if storage.ValidateKey(full) != nil || len(full) > 1024 {
				continue
			}
			ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: full}})
			if strings.HasPrefix(full, root+prefix) {
				want[storage.ChildName(root+prefix, full)] = true
			}
		}
		if err := s.Txn(t.Context(), ops); err != nil {
			t.Fatalf("Txn(%d puts) = %v", len(ops), err)
		}
		got, err := s.List(t.Context(), root+prefix)
		if err != nil {
			t.Fatalf("List(%q) = %v", root+prefix, err)
		}
		wantNames := make([]string, 0, len(want))
		for n := range want {
			wantNames = append(wantNames, n)
		}
		slices.Sort(wantNames)
		if diff := cmp.Diff(wantNames, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("List(%q) over keys %q mismatch (-want +got):\n%s", root+prefix, keys, diff)
		}
	})
}
