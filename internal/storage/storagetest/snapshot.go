package storagetest

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// viewContents reads a whole view: its Len and its records, checking that
// Range yields keys in strictly ascending order.
func viewContents(t *testing.T, v storage.View) (int64, map[string][]byte) {
	t.Helper()
	n, err := v.Len(t.Context())
	if err != nil {
		t.Fatalf("View.Len() = %v", err)
	}
	got := make(map[string][]byte)
	var last string
	err = v.Range(t.Context(), func(key string, value []byte) error {
		if len(got) > 0 && key <= last {
			return fmt.Errorf("key %q after %q: not strictly ascending", key, last)
		}
		last = key
		got[key] = slices.Clone(value)
		return nil
	})
	if err != nil {
		t.Fatalf("View.Range() = %v", err)
	}
	return n, got
}

// contents reads every key of s through List and Get.
func contents(t *testing.T, s storage.Storage) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	var walk func(prefix string)
	walk = func(prefix string) {
		for _, name := range mustList(t, s, prefix) {
			if name != "" && name[len(name)-1] == '/' {
				walk(prefix + name)
				continue
			}
			if v, ok := mustGet(t, s, prefix+name); ok {
				out[prefix+name] = v
			}
		}
	}
	walk("")
	return out
}

func testSnapshotConsistent(t *testing.T, s storage.Storage) {
	sn, ok := s.(storage.Snapshotter)
	if !ok {
		t.Skip("storage does not implement storage.Snapshotter")
	}
	before := map[string][]byte{"a/1": []byte("one"), "a/2": []byte("two"), "b": []byte("bee"), "empty": {}}
	putAll(t, s, before)
	err := sn.Snapshot(t.Context(), func(v storage.View) error {
		// Writers go on while the view is open; the view must not see them.
		// (A bolt writer may wait for the view's read transaction to end
		// when the file must grow, so the test does not insist that the
		// writes finish first.)
		done := make(chan error, 1)
		go func() {
			done <- errors.Join(
				s.Put(t.Context(), &storage.Entry{Key: "a/1", Value: []byte("changed")}),
				s.Put(t.Context(), &storage.Entry{Key: "c", Value: []byte("new")}),
				s.Delete(t.Context(), "b"),
			)
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("writes while a snapshot is open = %v", err)
			}
			done <- nil
		case <-time.After(2 * time.Second):
		}
		n, got := viewContents(t, v)
		if n != int64(len(before)) {
			t.Errorf("View.Len() = %d, want %d", n, len(before))
		}
		if diff := cmp.Diff(before, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("view contents (-want +got):\n%s", diff)
		}
		go func() { <-done }()
		return nil
	})
	if err != nil {
		t.Fatalf("Snapshot() = %v", err)
	}
	// The writes land once the view is closed, if not before.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, found := mustGet(t, s, "c")
		if found && string(v) == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes made during a snapshot never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantValue(t, s, "a/1", []byte("changed"))

	// fn's error comes back.
	sentinel := errors.New("stop")
	if err := sn.Snapshot(t.Context(), func(storage.View) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Snapshot(fn failing) = %v, want fn's error", err)
	}
}

func testSnapshotOrder(t *testing.T, s storage.Storage) {
	sn, ok := s.(storage.Snapshotter)
	if !ok {
		t.Skip("storage does not implement storage.Snapshotter")
	}
	// Keys whose byte order differs from a (dir, name) order: "a/b" sorts
	// before "a0", although its dir "a/" sorts after "".
	want := map[string][]byte{"a/b": []byte("1"), "a0": []byte("2"), "a": []byte("3"), "a/b/c": []byte("4"), "h/\xff": []byte("5"), "z": nil}
	for i := range 600 {
		want[fmt.Sprintf("many/%04d", i)] = []byte{byte(i)}
	}
	putAll(t, s, want)
	err := sn.Snapshot(t.Context(), func(v storage.View) error {
		n, got := viewContents(t, v)
		if n != int64(len(want)) {
			t.Errorf("View.Len() = %d, want %d", n, len(want))
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("view contents (-want +got):\n%s", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Snapshot() = %v", err)
	}
}

// entriesOf yields the map's entries in key order, then err if not nil.
func entriesOf(m map[string][]byte, err error) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(storage.Entry{Key: k, Value: slices.Clone(m[k])}, nil) {
				return
			}
		}
		if err != nil {
			yield(storage.Entry{}, err)
		}
	}
}

func testRestore(t *testing.T, s storage.Storage) {
	rs, ok := s.(storage.Restorer)
	if !ok {
		t.Skip("storage does not implement storage.Restorer")
	}
	putAll(t, s, map[string][]byte{"old/1": []byte("x"), "keep": []byte("old value"), "gone": []byte("y")})
	want := map[string][]byte{"keep": []byte("new value"), "new/a/b": []byte("1"), "new/c": {}, "core/keyring": []byte{0, 1, 0xff}}
	if err := rs.Restore(t.Context(), entriesOf(want, nil)); err != nil {
		t.Fatalf("Restore() = %v", err)
	}
	if diff := cmp.Diff(want, contents(t, s), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("contents after Restore (-want +got):\n%s", diff)
	}
	// The storage works as before afterwards.
	mustPut(t, s, "after", []byte("z"))
	wantValue(t, s, "after", []byte("z"))
	wantList(t, s, "new/", []string{"a/", "c"})

	if sn, ok := s.(storage.Snapshotter); ok {
		// A snapshot restored into an emptied storage gives it back.
		var saved []storage.Entry
		err := sn.Snapshot(t.Context(), func(v storage.View) error {
			return v.Range(t.Context(), func(k string, val []byte) error {
				saved = append(saved, storage.Entry{Key: k, Value: slices.Clone(val)})
				return nil
			})
		})
		if err != nil {
			t.Fatalf("Snapshot() = %v", err)
		}
		before := contents(t, s)
		if err := rs.Restore(t.Context(), entriesOf(nil, nil)); err != nil {
			t.Fatalf("Restore(nothing) = %v", err)
		}
		if got := contents(t, s); len(got) != 0 {
			t.Errorf("contents after Restore(nothing) = %v, want none", got)
		}
		err = rs.Restore(t.Context(), func(yield func(storage.Entry, error) bool) {
			for _, e := range saved {
				if !yield(e, nil) {
					return
				}
			}
		})
		if err != nil {
			t.Fatalf("Restore(saved) = %v", err)
		}
		if diff := cmp.Diff(before, contents(t, s), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("contents after a snapshot round trip (-want +got):\n%s", diff)
		}
	}
}

func testRestoreAtomic(t *testing.T, s storage.Storage) {
	rs, ok := s.(storage.Restorer)
	if !ok {
		t.Skip("storage does not implement storage.Restorer")
	}
	before := map[string][]byte{"a": []byte("1"), "b/c": []byte("2")}
	putAll(t, s, before)
	sentinel := errors.New("snapshot file went bad")
	many := make(map[string][]byte)
	for i := range 1000 {
		many[fmt.Sprintf("x/%04d", i)] = []byte("v")
	}
	tests := []struct {
		name    string
		entries iter.Seq2[storage.Entry, error]
		want    error
	}{
		{"source error", entriesOf(many, sentinel), sentinel},
		{"invalid key", entriesOf(map[string][]byte{"ok": nil, "bad/../key": nil}, nil), storage.ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := rs.Restore(t.Context(), tt.entries); !errors.Is(err, tt.want) {
				t.Errorf("Restore() = %v, want %v", err, tt.want)
			}
			if diff := cmp.Diff(before, contents(t, s), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("contents after a failed Restore (-want +got):\n%s", diff)
			}
		})
	}
}
