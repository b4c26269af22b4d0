// Package storagetest is the conformance suite every [storage.Storage]
// implementation runs from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Storage { return inmem.New() })
//	}
//
// The suite pins down the contract written in package storage, including the
// parts that text leaves open:
//
//   - List takes any string as prefix, and matches it as a plain string
//     prefix, the way Vault's physical backends do. For each key starting with
//     prefix it yields [storage.ChildName]: the rest of the key up to and
//     including the next "/". So with keys "a", "ab" and "a/b", List("a")
//     returns "", "/" and "b": a key equal to the prefix contributes the empty
//     name. Callers that want folder semantics (Coffer's own layers always
//     do) list with a prefix that is empty or ends in "/".
//   - Names come back sorted bytewise, each folder once, and an empty result
//     may be nil or empty.
//   - A value of length zero may come back as nil or as an empty slice.
//   - An operation whose context is already canceled returns an error that
//     matches [context.Canceled] and changes nothing.
//   - A storage that implements [storage.Snapshotter] gives a view that
//     holds every write acknowledged before Snapshot and none that commits
//     while the view is open, in ascending key order; one that implements
//     [storage.Restorer] replaces everything or, when the entries fail or
//     hold an invalid key, nothing. The suite skips these parts for a
//     storage without the interfaces.
//   - A transaction with an invalid key or an unknown [storage.OpKind]
//     anywhere in it returns an error and changes nothing; for an invalid key
//     the error matches [storage.ErrInvalidKey].
//
// This package is test support: only _test.go files import it. It imports
// storage, the standard library and go-cmp. Run starts subtests in parallel,
// each on its own storage from open.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// Run runs the conformance suite against the storages that open returns.
// open is called once per subtest with that subtest's t; it must return a
// new, empty storage and register with t.Cleanup whatever closes it.
func Run(t *testing.T, open func(t *testing.T) storage.Storage) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"DeleteMissing", testDeleteMissing},
		{"List", testList},
		{"ListFolderBoundaries", testListFolderBoundaries},
		{"ListAfterDelete", testListAfterDelete},
		{"ListManyKeys", testListManyKeys},
		{"Txn", testTxn},
		{"TxnAtomic", testTxnAtomic},
		{"InvalidKeys", testInvalidKeys},
		{"ValuesAreCopies", testValuesAreCopies},
		{"LargeValue", testLargeValue},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceledContext},
		{"SnapshotConsistent", testSnapshotConsistent},
		{"SnapshotOrder", testSnapshotOrder},
		{"Restore", testRestore},
		{"RestoreAtomic", testRestoreAtomic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

func mustPut(t testing.TB, s storage.Storage, key string, value []byte) {
	t.Helper()
	if err := s.Put(t.Context(), &storage.Entry{Key: key, Value: value}); err != nil {
		t.Fatalf("Put(%q) = %v, want nil", key, err)
	}
}

// mustGet returns the value at key, or nil with found false.
func mustGet(t testing.TB, s storage.Storage, key string) (value []byte, found bool) {
	t.Helper()
	e, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want nil error", key, err)
	}
	if e == nil {
		return nil, false
	}
	if e.Key != key {
		t.Errorf("Get(%q).Key = %q, want %q", key, e.Key, key)
	}
	return e.Value, true
}

func wantValue(t testing.TB, s storage.Storage, key string, want []byte) {
	t.Helper()
	got, found := mustGet(t, s, key)
	if !found {
		t.Errorf("Get(%q) = nil, want value of %d bytes", key, len(want))
		return
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Get(%q) value mismatch (-want +got):\n%s", key, diff)
	}
}

func wantMissing(t testing.TB, s storage.Storage, key string) {
	t.Helper()
	if got, found := mustGet(t, s, key); found {
		t.Errorf("Get(%q) = %q, want nil entry", key, got)
	}
}

func mustList(t testing.TB, s storage.Storage, prefix string) []string {
	t.Helper()
	got, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q) = %v, want nil error", prefix, err)
	}
	return got
}

func wantList(t testing.TB, s storage.Storage, prefix string, want []string) {
	t.Helper()
	got := mustList(t, s, prefix)
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("List(%q) mismatch (-want +got):\n%s", prefix, diff)
	}
}

// putAll writes entries in transactions of at most 500 operations, so that
// suites over storages that sync every commit stay fast.
func putAll(t testing.TB, s storage.Storage, entries map[string][]byte) {
	t.Helper()
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for chunk := range slices.Chunk(keys, 500) {
		ops := make([]storage.Op, 0, len(chunk))
		for _, k := range chunk {
			ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: k, Value: entries[k]}})
		}
		if err := s.Txn(t.Context(), ops); err != nil {
			t.Fatalf("Txn(%d puts from %q) = %v, want nil", len(ops), chunk[0], err)
		}
	}
}

func testGetMissing(t *testing.T, s storage.Storage) {
	for _, key := range []string{"missing", "a/b/c"} {
		e, err := s.Get(t.Context(), key)
		if e != nil || err != nil {
			t.Errorf("Get(%q) on empty storage = %v, %v; want nil, nil", key, e, err)
		}
	}
	mustPut(t, s, "a/b", []byte("x"))
	for _, key := range []string{"a", "a/", "a/b/c", "a/bc"} {
		wantMissing(t, s, key)
	}
}

func testPutGet(t *testing.T, s storage.Storage) {
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		// Not core/keyring: the barrier, a storage too, reserves that key.
		{"simple", "core/mounts", []byte("ciphertext")},
		{"nested", "logical/0c1d/secret/data/app", []byte(`{"k":"v"}`)},
		{"empty value", "empty", []byte{}},
		{"nil value", "nil", nil},
		{"binary value", "binary", []byte{0, 1, 2, 0xfe, 0xff, 0}},
		{"unicode key", "sys/policy/ünïcode/🔑", []byte("u")},
		{"spaces and dots", "a b/c.d/...e/.f", []byte("s")},
		{"high bytes in key", "h/\xff\xfe", []byte("h")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustPut(t, s, tt.key, tt.value)
			wantValue(t, s, tt.key, tt.value)
		})
	}
}

func testOverwrite(t *testing.T, s storage.Storage) {
	mustPut(t, s, "k", []byte("first value, longer"))
	mustPut(t, s, "k", []byte("second"))
	wantValue(t, s, "k", []byte("second"))
	mustPut(t, s, "k", nil)
	wantValue(t, s, "k", nil)
	wantList(t, s, "", []string{"k"})
}

func testDelete(t *testing.T, s storage.Storage) {
	mustPut(t, s, "a/1", []byte("1"))
	mustPut(t, s, "a/2", []byte("2"))
	if err := s.Delete(t.Context(), "a/1"); err != nil {
		t.Fatalf("Delete(%q) = %v, want nil", "a/1", err)
	}
	wantMissing(t, s, "a/1")
	wantValue(t, s, "a/2", []byte("2"))
	// A deleted key can be written again.
	mustPut(t, s, "a/1", []byte("again"))
	wantValue(t, s, "a/1", []byte("again"))
}

func testDeleteMissing(t *testing.T, s storage.Storage) {
	mustPut(t, s, "a/b", []byte("x"))
	// "a" is a folder, not a key: deleting it removes nothing.
	for _, key := range []string{"never-written", "a", "a/b/c"} {
		if err := s.Delete(t.Context(), key); err != nil {
			t.Errorf("Delete(%q) of a missing key = %v, want nil", key, err)
		}
	}
	wantValue(t, s, "a/b", []byte("x"))
}

func testList(t *testing.T, s storage.Storage) {
	keys := []string{
		"a", "ab", "a-b", "a/b", "a/c/d", "a/c/e", "a/d", "abc/d",
		"b/x/y/z", "c", "folder/leaf",
	}
	entries := make(map[string][]byte, len(keys))
	for _, k := range keys {
		entries[k] = []byte("v:" + k)
	}
	putAll(t, s, entries)

	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "a-b", "a/", "ab", "abc/", "b/", "c", "folder/"}},
		{"a/", []string{"b", "c/", "d"}},
		{"a/c/", []string{"d", "e"}},
		{"b/", []string{"x/"}},
		{"b/x/", []string{"y/"}},
		{"b/x/y/", []string{"z"}},
		// A prefix without a trailing slash is a plain string prefix: "a"
		// itself yields "", the folder "a/" yields "/", "abc/d" yields "bc/".
		{"a", []string{"", "-b", "/", "b", "bc/"}},
		{"ab", []string{"", "c/"}},
		{"a/c", []string{"/"}},
		{"a/b", []string{""}},
		{"folder/", []string{"leaf"}},
		{"folder", []string{"/"}},
		{"zzz", nil},
		{"zzz/", nil},
		{"a/c/d/", nil},
		{"b/x/y/z/", nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix=%q", tt.prefix), func(t *testing.T) {
			wantList(t, s, tt.prefix, tt.want)
		})
	}
}

// testListFolderBoundaries checks keys that sort right next to a folder's
// contents: an implementation that skips a folder by seeking must land
// exactly after it.
func testListFolderBoundaries(t *testing.T, s storage.Storage) {
	putAll(t, s, map[string][]byte{
		"p/x/a":         []byte("1"),
		"p/x/\xff\xff":  []byte("2"),
		"p/x/\xff/deep": []byte("3"),
		"p/x.":          []byte("4"),
		"p/x0":          []byte("5"),
		"p/x":           []byte("6"),
		"p/x/-/y":       []byte("7"),
		"p/y\xff/z":     []byte("8"),
		"p/y\xff\xff":   []byte("9"),
		"p/z/\x01":      []byte("10"),
		"p/\x01/\x01/z": []byte("11"),
		"q":             []byte("12"),
	})
	tests := []struct {
		prefix string
		want   []string
	}{
		{"p/", []string{"\x01/", "x", "x.", "x/", "x0", "y\xff/", "y\xff\xff", "z/"}},
		{"p/x/", []string{"-/", "a", "\xff/", "\xff\xff"}},
		{"p/x", []string{"", ".", "/", "0"}},
		{"p/x/-/", []string{"y"}},
		{"p/z/", []string{"\x01"}},
		{"p/\x01/", []string{"\x01/"}},
		{"", []string{"p/", "q"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("prefix=%q", tt.prefix), func(t *testing.T) {
			wantList(t, s, tt.prefix, tt.want)
		})
	}
}

func testListAfterDelete(t *testing.T, s storage.Storage) {
	putAll(t, s, map[string][]byte{"d/x/1": nil, "d/x/2": nil, "d/y": nil})
	wantList(t, s, "d/", []string{"x/", "y"})
	for _, k := range []string{"d/x/1", "d/x/2"} {
		if err := s.Delete(t.Context(), k); err != nil {
			t.Fatalf("Delete(%q) = %v, want nil", k, err)
		}
	}
	// A folder exists only while a key lives beneath it.
	wantList(t, s, "d/", []string{"y"})
	wantList(t, s, "d/x/", nil)
}

func testListManyKeys(t *testing.T, s storage.Storage) {
	const n = 10_000
	entries := make(map[string][]byte, n)
	var leaves, folders []string
	for i := range n {
		switch {
		case i%10 == 0:
			// Every tenth key goes two levels deeper, 10 keys per folder.
			dir := fmt.Sprintf("dir%04d/", i/100)
			entries[fmt.Sprintf("many/%sk%05d/v", dir, i)] = []byte{byte(i)}
			if len(folders) == 0 || folders[len(folders)-1] != dir {
				folders = append(folders, dir)
			}
		default:
			name := fmt.Sprintf("key%05d", i)
			entries["many/"+name] = []byte{byte(i)}
			leaves = append(leaves, name)
		}
	}
	putAll(t, s, entries)

	want := append(slices.Clone(folders), leaves...)
	slices.Sort(want)
	got := mustList(t, s, "many/")
	if len(got) != len(want) {
		t.Fatalf("List(%q) returned %d names, want %d", "many/", len(got), len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List(%q) mismatch (-want +got):\n%s", "many/", diff)
	}
	wantList(t, s, "", []string{"many/"})
	wantList(t, s, "many/dir0042/", []string{
		"k04200/", "k04210/", "k04220/", "k04230/", "k04240/",
		"k04250/", "k04260/", "k04270/", "k04280/", "k04290/",
	})
	wantValue(t, s, "many/key09999", []byte{byte(9999 % 256)})
}

func testTxn(t *testing.T, s storage.Storage) {
	mustPut(t, s, "t/old", []byte("old"))
	mustPut(t, s, "t/changed", []byte("before"))
	ops := []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "t/new", Value: []byte("new")}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: "t/old"}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "t/changed", Value: []byte("after")}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: "t/never-existed"}},
		// Operations apply in order: the last write to a key wins.
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "t/put-then-delete", Value: []byte("x")}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: "t/put-then-delete"}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: "t/delete-then-put"}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "t/delete-then-put", Value: []byte("y")}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "t/twice", Value: []byte("1")}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "t/twice", Value: []byte("2")}},
	}
	if err := s.Txn(t.Context(), ops); err != nil {
		t.Fatalf("Txn = %v, want nil", err)
	}
	wantValue(t, s, "t/new", []byte("new"))
	wantMissing(t, s, "t/old")
	wantValue(t, s, "t/changed", []byte("after"))
	wantMissing(t, s, "t/put-then-delete")
	wantValue(t, s, "t/delete-then-put", []byte("y"))
	wantValue(t, s, "t/twice", []byte("2"))
	wantList(t, s, "t/", []string{"changed", "delete-then-put", "new", "twice"})

	for _, ops := range [][]storage.Op{nil, {}} {
		if err := s.Txn(t.Context(), ops); err != nil {
			t.Errorf("Txn(%#v) = %v, want nil", ops, err)
		}
	}
}

func testTxnAtomic(t *testing.T, s storage.Storage) {
	before := map[string][]byte{"x/keep": []byte("keep"), "x/overwrite": []byte("orig")}
	putAll(t, s, before)
	good := []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "x/new", Value: []byte("n")}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: "x/keep"}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "x/overwrite", Value: []byte("changed")}},
	}
	tests := []struct {
		name       string
		bad        storage.Op
		invalidKey bool
	}{
		{"empty key", storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: ""}}, true},
		{"dot-dot put", storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: "x/../y", Value: []byte("v")}}, true},
		{"leading slash delete", storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: "/x/keep"}}, true},
		{"NUL key", storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: "x/a\x00b"}}, true},
		{"zero kind", storage.Op{Entry: storage.Entry{Key: "x/fine"}}, false},
		{"unknown kind", storage.Op{Kind: storage.OpKind(99), Entry: storage.Entry{Key: "x/fine"}}, false},
	}
	for _, tt := range tests {
		for pos := range len(good) + 1 {
			t.Run(fmt.Sprintf("%s at %d", tt.name, pos), func(t *testing.T) {
				ops := slices.Insert(slices.Clone(good), pos, tt.bad)
				err := s.Txn(t.Context(), ops)
				if err == nil {
					t.Fatalf("Txn with %s at %d = nil, want error", tt.name, pos)
				}
				if tt.invalidKey && !errors.Is(err, storage.ErrInvalidKey) {
					t.Errorf("Txn with %s = %v, want error matching storage.ErrInvalidKey", tt.name, err)
				}
				for k, v := range before {
					wantValue(t, s, k, v)
				}
				wantMissing(t, s, "x/new")
				wantMissing(t, s, "x/fine")
				wantList(t, s, "x/", []string{"keep", "overwrite"})
			})
		}
	}
}

func testInvalidKeys(t *testing.T, s storage.Storage) {
	mustPut(t, s, "a/b", []byte("v"))
	mustPut(t, s, "b", []byte("v"))
	invalid := []string{
		"", "/", "/a", "/a/b", ".", "..", "a/..", "../a", "a/../b", "a/./b", "./a", "a/.",
		"\x00", "a\x00", "a/\x00/b",
	}
	for _, key := range invalid {
		t.Run(fmt.Sprintf("key=%q", key), func(t *testing.T) {
			if err := storage.ValidateKey(key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("ValidateKey(%q) = %v, want storage.ErrInvalidKey", key, err)
			}
			err := s.Put(t.Context(), &storage.Entry{Key: key, Value: []byte("x")})
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want storage.ErrInvalidKey", key, err)
			}
			if err := s.Delete(t.Context(), key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Delete(%q) = %v, want storage.ErrInvalidKey", key, err)
			}
		})
	}
	wantList(t, s, "", []string{"a/", "b"})
	wantValue(t, s, "a/b", []byte("v"))

	// Keys that merely look odd are valid.
	for _, key := range []string{"a..b", "...", ".hidden", "a/.b", "a/b..", "a/b c", "\xff"} {
		if err := storage.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
		mustPut(t, s, key, []byte(key))
		wantValue(t, s, key, []byte(key))
	}

	// Empty segments are a matter of storage.ValidateKey's policy; a
	// storage must follow it exactly, whichever way it goes.
	for _, key := range []string{"a//b", "a/b/", "e/"} {
		if storage.ValidateKey(key) == nil {
			mustPut(t, s, key, []byte(key))
			wantValue(t, s, key, []byte(key))
			continue
		}
		err := s.Put(t.Context(), &storage.Entry{Key: key, Value: []byte("x")})
		if !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want storage.ErrInvalidKey as ValidateKey says", key, err)
		}
		wantMissing(t, s, key)
	}
}

func testValuesAreCopies(t *testing.T, s storage.Storage) {
	v := []byte("original")
	mustPut(t, s, "c", v)
	v[0] = 'X' // after Put returned: storage must not see it

	got, _ := mustGet(t, s, "c")
	if string(got) != "original" {
		t.Fatalf("Get after mutating the Put value = %q, want %q", got, "original")
	}
	for i := range got {
		got[i] = 'Y'
	}
	wantValue(t, s, "c", []byte("original"))

	// Transaction values are copied too.
	tv := []byte("txn value")
	if err := s.Txn(t.Context(), []storage.Op{{Kind: storage.OpPut, Entry: storage.Entry{Key: "ct", Value: tv}}}); err != nil {
		t.Fatalf("Txn = %v, want nil", err)
	}
	tv[0] = 'X'
	wantValue(t, s, "ct", []byte("txn value"))

	// Two reads do not share memory.
	a, _ := mustGet(t, s, "c")
	b, _ := mustGet(t, s, "c")
	a[0] = 'Z'
	if string(b) != "original" {
		t.Errorf("second Get shares memory with the first: got %q", b)
	}
}

func testLargeValue(t *testing.T, s storage.Storage) {
	big := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(big) // ChaCha8.Read never fails
	mustPut(t, s, "big/one", big)
	got, found := mustGet(t, s, "big/one")
	if !found || !slices.Equal(got, big) {
		t.Fatalf("Get(%q) returned %d bytes (found %v), want the 1 MiB written", "big/one", len(got), found)
	}
	// Several large values in one transaction, then shrink one.
	ops := make([]storage.Op, 3)
	for i := range ops {
		v := slices.Clone(big)
		v[0] = byte(i)
		ops[i] = storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: fmt.Sprintf("big/txn%d", i), Value: v}}
	}
	if err := s.Txn(t.Context(), ops); err != nil {
		t.Fatalf("Txn of three 1 MiB values = %v, want nil", err)
	}
	for _, op := range ops {
		got, _ := mustGet(t, s, op.Entry.Key)
		if !slices.Equal(got, op.Entry.Value) {
			t.Errorf("Get(%q) returned %d bytes that differ from the 1 MiB written", op.Entry.Key, len(got))
		}
	}
	mustPut(t, s, "big/one", []byte("small"))
	wantValue(t, s, "big/one", []byte("small"))
	wantList(t, s, "big/", []string{"one", "txn0", "txn1", "txn2"})
}

// testConcurrent runs writers, readers and listers at once. Each writer owns
// its keys, so it can check its own reads exactly; everyone reads everyone's
// keys and checks that whatever comes back is a value that was written.
func testConcurrent(t *testing.T, s storage.Storage) {
	const (
		workers = 16
		rounds  = 40
		keysPer = 4
	)
	value := func(w, k, round int) []byte { return fmt.Appendf(nil, "w%d/k%d/r%d", w, k, round) }
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			errs <- concurrentWorker(t.Context(), s, w, workers, rounds, keysPer, value)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var wantTop []string
	for w := range workers {
		wantTop = append(wantTop, fmt.Sprintf("w%02d/", w))
		for k := range keysPer {
			wantValue(t, s, fmt.Sprintf("w%02d/k%d", w, k), value(w, k, rounds-1))
		}
	}
	wantList(t, s, "", wantTop)
}

func concurrentWorker(ctx context.Context, s storage.Storage, w, workers, rounds, keysPer int, value func(w, k, round int) []byte) error {
	key := func(w, k int) string { return fmt.Sprintf("w%02d/k%d", w, k) }
	for r := range rounds {
		for k := range keysPer {
			if r%5 == 4 && k == 0 {
				if err := s.Delete(ctx, key(w, k)); err != nil {
					return fmt.Errorf("worker %d: Delete = %w", w, err)
				}
			}
			var err error
			if k%2 == 0 {
				err = s.Put(ctx, &storage.Entry{Key: key(w, k), Value: value(w, k, r)})
			} else {
				err = s.Txn(ctx, []storage.Op{{Kind: storage.OpPut, Entry: storage.Entry{Key: key(w, k), Value: value(w, k, r)}}})
			}
			if err != nil {
				return fmt.Errorf("worker %d: write = %w", w, err)
			}
			e, err := s.Get(ctx, key(w, k))
			if err != nil || e == nil || string(e.Value) != string(value(w, k, r)) {
				return fmt.Errorf("worker %d: Get(%q) after write = %v, %v; want %q", w, key(w, k), e, err, value(w, k, r))
			}
		}
		// Read another worker's key: absent or some value that worker wrote.
		other := (w + r + 1) % workers
		e, err := s.Get(ctx, key(other, 1))
		if err != nil {
			return fmt.Errorf("worker %d: Get(other) = %w", w, err)
		}
		if e != nil {
			var ow, ok, or int
			if n, _ := fmt.Sscanf(string(e.Value), "w%d/k%d/r%d", &ow, &ok, &or); n != 3 || ow != other || ok != 1 || or >= rounds {
				return fmt.Errorf("worker %d: Get(%q) = %q, not a value its writer wrote", w, key(other, 1), e.Value)
			}
		}
		names, err := s.List(ctx, fmt.Sprintf("w%02d/", w))
		if err != nil {
			return fmt.Errorf("worker %d: List = %w", w, err)
		}
		if !slices.IsSorted(names) || len(names) < keysPer-1 || len(names) > keysPer {
			return fmt.Errorf("worker %d: List of own folder = %q, want %d or %d sorted names", w, names, keysPer-1, keysPer)
		}
		if _, err := s.List(ctx, ""); err != nil {
			return fmt.Errorf("worker %d: List(\"\") = %w", w, err)
		}
	}
	return nil
}

func testCanceledContext(t *testing.T, s storage.Storage) {
	mustPut(t, s, "present", []byte("v"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "present"); return err }},
		{"List", func() error { _, err := s.List(ctx, ""); return err }},
		{"Put", func() error { return s.Put(ctx, &storage.Entry{Key: "canceled-put", Value: []byte("v")}) }},
		{"Delete", func() error { return s.Delete(ctx, "present") }},
		{"Txn", func() error {
			return s.Txn(ctx, []storage.Op{{Kind: storage.OpPut, Entry: storage.Entry{Key: "canceled-txn", Value: []byte("v")}}})
		}},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want error matching context.Canceled", c.name, err)
		}
	}
	wantValue(t, s, "present", []byte("v"))
	wantMissing(t, s, "canceled-put")
	wantMissing(t, s, "canceled-txn")
}
