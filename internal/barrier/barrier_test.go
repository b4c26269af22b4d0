package barrier

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/google/go-cmp/cmp"
)

// newUnsealed returns an initialized, unsealed barrier over a fresh inmem
// storage, the storage and the root key.
func newUnsealed(tb testing.TB, opts Options) (*Barrier, *inmem.Storage, []byte) {
	tb.Helper()
	phys := inmem.New()
	b := NewWithOptions(phys, opts)
	root, err := GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Initialize(tb.Context(), root); err != nil {
		tb.Fatalf("Initialize: %v", err)
	}
	if err := b.Unseal(tb.Context(), root); err != nil {
		tb.Fatalf("Unseal: %v", err)
	}
	return b, phys, root
}

func mustPut(tb testing.TB, s storage.Storage, key string, value []byte) {
	tb.Helper()
	if err := s.Put(tb.Context(), &storage.Entry{Key: key, Value: value}); err != nil {
		tb.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(tb testing.TB, s storage.Storage, key string) []byte {
	tb.Helper()
	e, err := s.Get(tb.Context(), key)
	if err != nil {
		tb.Fatalf("Get(%q): %v", key, err)
	}
	if e == nil {
		tb.Fatalf("Get(%q) = nil, want a value", key)
	}
	if e.Key != key {
		tb.Fatalf("Get(%q) returned key %q", key, e.Key)
	}
	return e.Value
}

func termOf(tb testing.TB, ciphertext []byte) uint32 {
	tb.Helper()
	if len(ciphertext) < HeaderSize {
		tb.Fatalf("ciphertext of %d bytes has no header", len(ciphertext))
	}
	return binary.BigEndian.Uint32(ciphertext[1:HeaderSize])
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	b, phys, _ := newUnsealed(t, Options{})
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"text", "secret/a", []byte("hello")},
		{"empty", "secret/empty", []byte{}},
		{"binary", "logical/uuid/x/y", []byte{0, 1, 2, 0xff, 0}},
		{"large", "big", bytes.Repeat([]byte("0123456789"), 100_000)},
		{"unicode key", "sys/token/é", []byte("value under a unicode key")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustPut(t, b, tt.key, tt.value)
			if got := mustGet(t, b, tt.key); !bytes.Equal(got, tt.value) {
				t.Errorf("Get(%q) = %.40q, want %.40q", tt.key, got, tt.value)
			}
			raw := mustGet(t, phys, tt.key)
			if len(raw) != len(tt.value)+Overhead {
				t.Errorf("stored %d bytes for %d of plaintext, want %d", len(raw), len(tt.value), len(tt.value)+Overhead)
			}
			if raw[0] != Version || termOf(t, raw) != 1 {
				t.Errorf("stored header = %x, want version %d term 1", raw[:HeaderSize], Version)
			}
			if len(tt.value) > 0 && bytes.Contains(raw, tt.value) {
				t.Errorf("physical storage holds the plaintext")
			}
		})
	}
}

func TestPutDoesNotRetainValue(t *testing.T) {
	t.Parallel()
	b, _, _ := newUnsealed(t, Options{})
	v := []byte("original")
	mustPut(t, b, "k", v)
	copy(v, "modified")
	if got := mustGet(t, b, "k"); string(got) != "original" {
		t.Errorf("Get = %q after the caller changed its buffer, want %q", got, "original")
	}
}

func TestSameValueDifferentCiphertexts(t *testing.T) {
	t.Parallel()
	b, phys, _ := newUnsealed(t, Options{})
	mustPut(t, b, "k", []byte("v"))
	first := mustGet(t, phys, "k")
	mustPut(t, b, "k", []byte("v"))
	if second := mustGet(t, phys, "k"); bytes.Equal(first, second) {
		t.Errorf("two encryptions of one value are identical: nonces are not fresh")
	}
}

func TestGetMissing(t *testing.T) {
	t.Parallel()
	b, _, _ := newUnsealed(t, Options{})
	e, err := b.Get(t.Context(), "no/such/key")
	if err != nil || e != nil {
		t.Errorf("Get(missing) = %v, %v, want nil, nil", e, err)
	}
}

func TestListDeleteTxn(t *testing.T) {
	t.Parallel()
	b, phys, _ := newUnsealed(t, Options{})
	ctx := t.Context()
	mustPut(t, b, "a/b", []byte("1"))
	mustPut(t, b, "a/c/d", []byte("2"))
	mustPut(t, b, "core/mounts", []byte("3"))

	got, err := b.List(ctx, "a/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b", "c/"}, got); diff != "" {
		t.Errorf("List(a/) mismatch (-want +got):\n%s", diff)
	}
	got, err = b.List(ctx, "core/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"mounts"}, got); diff != "" {
		t.Errorf("List(core/) mismatch, reserved keys must be hidden (-want +got):\n%s", diff)
	}

	err = b.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "a/e", Value: []byte("txn")}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: "a/b"}},
	})
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if got := mustGet(t, b, "a/e"); string(got) != "txn" {
		t.Errorf("Get(a/e) = %q after Txn, want %q", got, "txn")
	}
	if raw := mustGet(t, phys, "a/e"); bytes.Contains(raw, []byte("txn")) || termOf(t, raw) != 1 {
		t.Errorf("Txn stored %x, want a term 1 ciphertext", raw)
	}
	if e, _ := b.Get(ctx, "a/b"); e != nil {
		t.Errorf("Get(a/b) = %q after Txn delete, want nil", e.Value)
	}

	if err := b.Delete(ctx, "a/e"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if e, _ := b.Get(ctx, "a/e"); e != nil {
		t.Errorf("Get(a/e) = %q after Delete, want nil", e.Value)
	}

	// A failing transaction applies nothing: inmem rejects the bad key.
	err = b.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "a/f", Value: []byte("x")}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "/bad", Value: []byte("x")}},
	})
	if err == nil {
		t.Fatal("Txn with an invalid key succeeded")
	}
	if e, _ := b.Get(ctx, "a/f"); e != nil {
		t.Errorf("failed Txn wrote a/f")
	}
}

func TestReservedKeys(t *testing.T) {
	t.Parallel()
	b, phys, root := newUnsealed(t, Options{})
	ctx := t.Context()
	keyring := mustGet(t, phys, KeyringPath)
	for _, key := range []string{KeyringPath, SealConfigPath, RootKeyPath, WrappedRootKeyPath, RecoveryKeyPath} {
		ops := map[string]func() error{
			"Get":    func() error { _, err := b.Get(ctx, key); return err },
			"Put":    func() error { return b.Put(ctx, &storage.Entry{Key: key, Value: []byte("x")}) },
			"Delete": func() error { return b.Delete(ctx, key) },
			"Txn": func() error {
				return b.Txn(ctx, []storage.Op{{Kind: storage.OpDelete, Entry: storage.Entry{Key: key}}})
			},
		}
		for name, op := range ops {
			if err := op(); !errors.Is(err, ErrReservedKey) {
				t.Errorf("%s(%q) error = %v, want ErrReservedKey", name, key, err)
			}
		}
	}
	if got := mustGet(t, phys, KeyringPath); !bytes.Equal(got, keyring) {
		t.Errorf("keyring changed through the barrier")
	}
	b.Seal()
	if err := b.Unseal(ctx, root); err != nil {
		t.Errorf("Unseal after reserved-key attempts: %v", err)
	}
}

// TestListHidesReservedFolder checks that core/, which holds the reserved
// keys, is listed only once it holds something else: a fresh barrier
// lists as an empty storage.
func TestListHidesReservedFolder(t *testing.T) {
	t.Parallel()
	for _, key := range []string{KeyringPath, SealConfigPath, RootKeyPath, WrappedRootKeyPath, RecoveryKeyPath} {
		if name, ok := strings.CutPrefix(key, reservedFolder); !ok || strings.Contains(name, "/") {
			t.Errorf("reserved key %q is not directly in %q, which List relies on", key, reservedFolder)
		}
	}
	b, phys, _ := newUnsealed(t, Options{})
	mustPut(t, phys, RecoveryKeyPath, []byte("x")) // every reserved key present
	mustPut(t, phys, SealConfigPath, []byte("x"))
	mustPut(t, phys, WrappedRootKeyPath, []byte("x"))
	list := func(prefix string) []string {
		t.Helper()
		got, err := b.List(t.Context(), prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		return got
	}
	for _, prefix := range []string{"", "c", "core/"} {
		if got := list(prefix); len(got) != 0 {
			t.Errorf("List(%q) = %q on a fresh barrier, want nothing", prefix, got)
		}
	}
	mustPut(t, b, "core/mounts", []byte("m"))
	mustPut(t, b, "sys/x", []byte("s"))
	for prefix, want := range map[string][]string{"": {"core/", "sys/"}, "c": {"ore/"}, "core/": {"mounts"}} {
		if diff := cmp.Diff(want, list(prefix)); diff != "" {
			t.Errorf("List(%q) with core/mounts written (-want +got):\n%s", prefix, diff)
		}
	}
}

func TestSealed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fresh := New(inmem.New())
	unsealedThenSealed, _, _ := newUnsealed(t, Options{})
	mustPut(t, unsealedThenSealed, "k", []byte("v"))
	unsealedThenSealed.Seal()

	for name, b := range map[string]*Barrier{"new": fresh, "after Seal": unsealedThenSealed} {
		t.Run(name, func(t *testing.T) {
			if !b.Sealed() {
				t.Fatal("Sealed() = false, want true")
			}
			ops := map[string]func() error{
				"Get":    func() error { _, err := b.Get(ctx, "k"); return err },
				"Put":    func() error { return b.Put(ctx, &storage.Entry{Key: "k", Value: []byte("x")}) },
				"Delete": func() error { return b.Delete(ctx, "k") },
				"List":   func() error { _, err := b.List(ctx, ""); return err },
				"Txn": func() error {
					return b.Txn(ctx, []storage.Op{{Kind: storage.OpDelete, Entry: storage.Entry{Key: "k"}}})
				},
				"Rotate":  func() error { _, err := b.Rotate(ctx); return err },
				"KeyInfo": func() error { _, err := b.KeyInfo(); return err },
				"RootKey": func() error { _, err := b.RootKey(); return err },
			}
			for op, f := range ops {
				if err := f(); !errors.Is(err, ErrSealed) {
					t.Errorf("%s while sealed: error = %v, want ErrSealed", op, err)
				}
			}
		})
	}
}

func TestSealZeroesKeys(t *testing.T) {
	t.Parallel()
	b, _, _ := newUnsealed(t, Options{})
	if _, err := b.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.mu.RLock()
	held := [][]byte{b.rootKey}
	for _, tk := range b.terms {
		held = append(held, tk.key)
	}
	b.mu.RUnlock()
	b.Seal()
	for i, k := range held {
		if len(k) != KeySize || !bytes.Equal(k, make([]byte, KeySize)) {
			t.Errorf("key %d = %x after Seal, want %d zero bytes", i, k, KeySize)
		}
	}
	b.Seal() // sealing twice is harmless
}

func TestRootKey(t *testing.T) {
	t.Parallel()
	b, _, root := newUnsealed(t, Options{})
	got, err := b.RootKey()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, root) {
		t.Errorf("RootKey() = %x, want %x", got, root)
	}
	clear(got)
	if again, _ := b.RootKey(); !bytes.Equal(again, root) {
		t.Errorf("RootKey() returned the barrier's own slice, not a copy")
	}
}

func TestInitializeAndUnsealErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	phys := inmem.New()
	b := New(phys)
	root, _ := GenerateKey()

	if ok, err := b.Initialized(ctx); ok || err != nil {
		t.Errorf("Initialized() on empty storage = %v, %v, want false, nil", ok, err)
	}
	if err := b.Unseal(ctx, root); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Unseal before Initialize: error = %v, want ErrNotInitialized", err)
	}
	if err := b.Initialize(ctx, root[:16]); err == nil {
		t.Error("Initialize with a 16-byte root key succeeded")
	}
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	if ok, err := b.Initialized(ctx); !ok || err != nil {
		t.Errorf("Initialized() = %v, %v, want true, nil", ok, err)
	}
	if !b.Sealed() {
		t.Error("Initialize unsealed the barrier")
	}
	keyring := mustGet(t, phys, KeyringPath)
	if err := b.Initialize(ctx, root); !errors.Is(err, ErrAlreadyInitialized) {
		t.Errorf("second Initialize: error = %v, want ErrAlreadyInitialized", err)
	}

	wrong, _ := GenerateKey()
	badKeys := map[string][]byte{"wrong": wrong, "short": root[:31], "long": append(slices.Clone(root), 0), "empty": nil}
	for name, k := range badKeys {
		if err := b.Unseal(ctx, k); !errors.Is(err, ErrBadKey) {
			t.Errorf("Unseal(%s key): error = %v, want ErrBadKey", name, err)
		}
		if !b.Sealed() {
			t.Fatalf("Unseal(%s key) unsealed the barrier", name)
		}
	}
	if got := mustGet(t, phys, KeyringPath); !bytes.Equal(got, keyring) {
		t.Error("a failed Unseal changed the keyring")
	}
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatalf("Unseal(right key): %v", err)
	}
	if err := b.Unseal(ctx, wrong); !errors.Is(err, ErrBadKey) {
		t.Errorf("Unseal(wrong key) while unsealed: error = %v, want ErrBadKey", err)
	}
	if err := b.Unseal(ctx, root); err != nil || b.Sealed() {
		t.Errorf("Unseal(right key) while unsealed = %v, sealed %v; want nil, unsealed", err, b.Sealed())
	}
}

func TestUnsealRejectsForgedKeyring(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	root, _ := GenerateKey()
	other, _ := GenerateKey()
	key, _ := GenerateKey()
	good := termJSON{Term: 1, Key: key, InstallTime: time.Unix(0, 0).UTC()}
	tests := []struct {
		name string
		kr   keyringJSON
	}{
		{"root key differs", keyringJSON{ActiveTerm: 1, RootKey: other, Keys: []termJSON{good}}},
		{"active term missing", keyringJSON{ActiveTerm: 2, RootKey: root, Keys: []termJSON{good}}},
		{"term 0", keyringJSON{ActiveTerm: 0, RootKey: root, Keys: []termJSON{{Term: 0, Key: key}}}},
		{"duplicate term", keyringJSON{ActiveTerm: 1, RootKey: root, Keys: []termJSON{good, good}}},
		{"short key", keyringJSON{ActiveTerm: 1, RootKey: root, Keys: []termJSON{{Term: 1, Key: key[:16]}}}},
		{"no keys", keyringJSON{ActiveTerm: 1, RootKey: root}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct, err := encodeKeyring(root, &tt.kr)
			if err != nil {
				t.Fatal(err)
			}
			phys := inmem.New()
			mustPut(t, phys, KeyringPath, ct)
			b := New(phys)
			if err := b.Unseal(ctx, root); !errors.Is(err, ErrBadKey) {
				t.Errorf("Unseal: error = %v, want ErrBadKey", err)
			}
			if !b.Sealed() {
				t.Error("barrier unsealed with a forged keyring")
			}
		})
	}
	t.Run("not json", func(t *testing.T) {
		t.Parallel()
		ct, _ := Encrypt(root, rootTerm, KeyringPath, []byte("not json"))
		phys := inmem.New()
		mustPut(t, phys, KeyringPath, ct)
		if err := New(phys).Unseal(ctx, root); !errors.Is(err, ErrBadKey) {
			t.Errorf("Unseal: error = %v, want ErrBadKey", err)
		}
	})
	t.Run("keyring under a data term", func(t *testing.T) {
		t.Parallel()
		ct, _ := encodeKeyring(root, &keyringJSON{ActiveTerm: 1, RootKey: root, Keys: []termJSON{good}})
		binary.BigEndian.PutUint32(ct[1:], 1)
		phys := inmem.New()
		mustPut(t, phys, KeyringPath, ct)
		if err := New(phys).Unseal(ctx, root); !errors.Is(err, ErrBadKey) {
			t.Errorf("Unseal: error = %v, want ErrBadKey", err)
		}
	})
}

func TestTamper(t *testing.T) {
	t.Parallel()
	b, phys, _ := newUnsealed(t, Options{})
	ctx := t.Context()
	secret := []byte("the plaintext must never come back")
	mustPut(t, b, "secret/x", secret)
	orig := mustGet(t, phys, "secret/x")

	check := func(t *testing.T, key string, stored []byte) {
		t.Helper()
		mustPut(t, phys, key, stored)
		e, err := b.Get(ctx, key)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get of tampered value: error = %v, want ErrCorrupt", err)
		}
		if e != nil {
			t.Fatalf("Get of tampered value returned %q", e.Value)
		}
		if strings.Contains(err.Error(), string(secret)) {
			t.Fatalf("error %q contains the plaintext", err)
		}
	}

	t.Run("flipped bit", func(t *testing.T) {
		for i := range orig {
			for _, bit := range []byte{0x01, 0x80} {
				c := slices.Clone(orig)
				c[i] ^= bit
				check(t, "secret/x", c)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for n := range len(orig) {
			check(t, "secret/x", slices.Clone(orig[:n]))
		}
	})
	t.Run("extended", func(t *testing.T) {
		check(t, "secret/x", append(slices.Clone(orig), 0))
	})
	t.Run("copied to another key", func(t *testing.T) {
		check(t, "secret/y", slices.Clone(orig))
		check(t, "secret/x2", slices.Clone(orig))
		check(t, "secret", slices.Clone(orig))
	})
	t.Run("unknown term", func(t *testing.T) {
		c := slices.Clone(orig)
		binary.BigEndian.PutUint32(c[1:], 99)
		check(t, "secret/x", c)
	})
	t.Run("keyring ciphertext as a value", func(t *testing.T) {
		check(t, "secret/x", mustGet(t, phys, KeyringPath))
	})

	mustPut(t, phys, "secret/x", orig)
	if got := mustGet(t, b, "secret/x"); !bytes.Equal(got, secret) {
		t.Errorf("original ciphertext no longer decrypts")
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 100
	b, phys, root := newUnsealed(t, Options{ReserveBatch: batch, Now: func() time.Time { return clock }})

	info, err := b.KeyInfo()
	if err != nil {
		t.Fatal(err)
	}
	// After Unseal the count is the persisted reservation (see the package
	// documentation): an upper bound, not the exact count.
	if diff := cmp.Diff(KeyInfo{Term: 1, InstallTime: clock, Encryptions: batch}, info); diff != "" {
		t.Errorf("KeyInfo after Initialize mismatch (-want +got):\n%s", diff)
	}
	mustPut(t, b, "v1", []byte("one"))

	clock = clock.Add(time.Hour)
	info, err = b.Rotate(ctx)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if diff := cmp.Diff(KeyInfo{Term: 2, InstallTime: clock}, info); diff != "" {
		t.Errorf("Rotate() mismatch (-want +got):\n%s", diff)
	}
	mustPut(t, b, "v2", []byte("two"))
	if info, _ := b.KeyInfo(); info.Term != 2 || info.Encryptions != 1 {
		t.Errorf("KeyInfo() = %+v, want term 2 with 1 encryption", info)
	}
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "v3", []byte("three"))

	want := map[string]struct {
		plaintext string
		term      uint32
	}{"v1": {"one", 1}, "v2": {"two", 2}, "v3": {"three", 3}}
	for key, w := range want {
		if got := termOf(t, mustGet(t, phys, key)); got != w.term {
			t.Errorf("%s stored under term %d, want %d", key, got, w.term)
		}
		if got := mustGet(t, b, key); string(got) != w.plaintext {
			t.Errorf("Get(%s) = %q, want %q", key, got, w.plaintext)
		}
	}

	// A second barrier over the same storage sees everything.
	b2 := New(phys)
	if err := b2.Unseal(ctx, root); err != nil {
		t.Fatalf("Unseal of second barrier: %v", err)
	}
	for key, w := range want {
		if got := mustGet(t, b2, key); string(got) != w.plaintext {
			t.Errorf("second barrier Get(%s) = %q, want %q", key, got, w.plaintext)
		}
	}
	info2, err := b2.KeyInfo()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(KeyInfo{Term: 3, InstallTime: clock, Encryptions: batch}, info2); diff != "" {
		t.Errorf("second barrier KeyInfo() mismatch (-want +got):\n%s", diff)
	}
	mustPut(t, b2, "v4", []byte("four"))
	if got := mustGet(t, b, "v4"); string(got) != "four" {
		t.Errorf("first barrier cannot read the second's write: %q", got)
	}
}

// failingStorage fails Put and Txn on demand.
type failingStorage struct {
	storage.Storage
	mu   sync.Mutex
	fail bool // guarded by mu
}

func (f *failingStorage) setFail(v bool) { f.mu.Lock(); f.fail = v; f.mu.Unlock() }

func (f *failingStorage) Put(ctx context.Context, e *storage.Entry) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.Storage.Put(ctx, e)
}

func TestRotateFailureChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	phys := &failingStorage{Storage: inmem.New()}
	b := New(phys)
	root, _ := GenerateKey()
	if err := b.Initialize(ctx, root); err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	before, _ := b.KeyInfo()
	phys.setFail(true)
	if _, err := b.Rotate(ctx); err == nil {
		t.Fatal("Rotate succeeded with failing storage")
	}
	phys.setFail(false)
	after, _ := b.KeyInfo()
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("failed Rotate changed KeyInfo (-before +after):\n%s", diff)
	}
	mustPut(t, b, "k", []byte("v"))
	if got := termOf(t, mustGet(t, phys, "k")); got != 1 {
		t.Errorf("after a failed Rotate a write used term %d, want 1", got)
	}
	b2 := New(phys)
	if err := b2.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if info, _ := b2.KeyInfo(); info.Term != 1 {
		t.Errorf("persisted active term = %d after a failed Rotate, want 1", info.Term)
	}
}

func TestAutomaticRotation(t *testing.T) {
	t.Parallel()
	const rotateAfter, batch, writes = 10, 3, 47
	b, phys, root := newUnsealed(t, Options{RotateAfter: rotateAfter, ReserveBatch: batch})
	for i := range writes {
		mustPut(t, b, fmt.Sprintf("k/%02d", i), fmt.Appendf(nil, "value %d", i))
	}
	perTerm := make(map[uint32]int)
	for i := range writes {
		key := fmt.Sprintf("k/%02d", i)
		perTerm[termOf(t, mustGet(t, phys, key))]++
		if got, want := string(mustGet(t, b, key)), fmt.Sprintf("value %d", i); got != want {
			t.Errorf("Get(%s) = %q, want %q", key, got, want)
		}
	}
	for term, n := range perTerm {
		if n > rotateAfter {
			t.Errorf("term %d encrypted %d values, more than RotateAfter %d", term, n, rotateAfter)
		}
	}
	info, _ := b.KeyInfo()
	if min := uint32((writes + rotateAfter - 1) / rotateAfter); info.Term < min {
		t.Errorf("active term = %d after %d writes, want at least %d", info.Term, writes, min)
	}
	// The rotated keyring persists: another barrier reads everything.
	b2 := New(phys)
	if err := b2.Unseal(t.Context(), root); err != nil {
		t.Fatal(err)
	}
	for i := range writes {
		mustGet(t, b2, fmt.Sprintf("k/%02d", i))
	}
}

func TestEncryptionCountSurvivesRestart(t *testing.T) {
	t.Parallel()
	const batch, writes = 10, 25
	b, phys, root := newUnsealed(t, Options{RotateAfter: 1000, ReserveBatch: batch})
	for i := range writes {
		mustPut(t, b, fmt.Sprintf("k/%d", i), []byte("v"))
	}
	if info, _ := b.KeyInfo(); info.Encryptions < writes {
		t.Errorf("Encryptions = %d after %d writes, want at least that many", info.Encryptions, writes)
	}
	// Simulate a crash: no Seal, a new barrier over the same storage.
	b2 := NewWithOptions(phys, Options{RotateAfter: 1000, ReserveBatch: batch})
	if err := b2.Unseal(t.Context(), root); err != nil {
		t.Fatal(err)
	}
	info, _ := b2.KeyInfo()
	if info.Encryptions < writes || info.Encryptions > writes+2*batch {
		t.Errorf("Encryptions after restart = %d, want between %d and %d", info.Encryptions, writes, writes+2*batch)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b, _, root := newUnsealed(t, Options{RotateAfter: 50, ReserveBatch: 7})
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				key := fmt.Sprintf("w%d/%d", w, i)
				val := []byte(key)
				if err := b.Put(ctx, &storage.Entry{Key: key, Value: val}); err != nil {
					errs <- err
					return
				}
				e, err := b.Get(ctx, key)
				if err != nil || e == nil || !bytes.Equal(e.Value, val) {
					errs <- fmt.Errorf("Get(%s) = %v, %v", key, e, err)
					return
				}
				if i%10 == 0 {
					if _, err := b.Rotate(ctx); err != nil {
						errs <- err
						return
					}
				}
				if _, err := b.List(ctx, fmt.Sprintf("w%d/", w)); err != nil {
					errs <- err
					return
				}
				if _, err := b.KeyInfo(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Seal and Unseal racing with readers: every operation either works
	// or reports ErrSealed.
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if _, err := b.Get(ctx, "w0/1"); err != nil && !errors.Is(err, ErrSealed) {
					t.Errorf("Get during seal/unseal: %v", err)
				}
				if err := b.Put(ctx, &storage.Entry{Key: "w0/1", Value: []byte("w0/1")}); err != nil && !errors.Is(err, ErrSealed) {
					t.Errorf("Put during seal/unseal: %v", err)
				}
			}
		})
	}
	for range 20 {
		b.Seal()
		if err := b.Unseal(ctx, root); err != nil {
			t.Errorf("Unseal: %v", err)
		}
	}
	wg.Wait()
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		opts             Options
		rotate, reserveN uint64
	}{
		{"zero", Options{}, DefaultRotateAfter, DefaultReserveBatch},
		{"lower", Options{RotateAfter: 100, ReserveBatch: 10}, 100, 10},
		{"above the limit is clamped", Options{RotateAfter: 1 << 33}, DefaultRotateAfter, DefaultReserveBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := NewWithOptions(inmem.New(), tt.opts)
			if b.rotateAfter != tt.rotate || b.reserveBatch != tt.reserveN || b.now == nil {
				t.Errorf("NewWithOptions(%+v) = rotate %d, batch %d; want %d, %d", tt.opts, b.rotateAfter, b.reserveBatch, tt.rotate, tt.reserveN)
			}
		})
	}
}

func TestDetached(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	phys := inmem.New()
	b := New(phys)
	key, _ := GenerateKey()
	if err := b.Initialize(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(ctx, key); err != nil {
		t.Fatal(err)
	}
	ct, err := b.EncryptDetached(ctx, "token/batch", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(ct)
	pt, err := b.DecryptDetached("token/batch", ct)
	if err != nil || string(pt) != "payload" {
		t.Fatalf("DecryptDetached = %q, %v", pt, err)
	}
	if !bytes.Equal(ct, orig) {
		t.Error("DecryptDetached modified its input")
	}
	if _, err := b.DecryptDetached("other", ct); !errors.Is(err, ErrCorrupt) {
		t.Errorf("DecryptDetached with another aad error = %v, want ErrCorrupt", err)
	}
	// A detached value stored under the key named by its aad still fails.
	if err := phys.Put(ctx, &storage.Entry{Key: "token/batch", Value: ct}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "token/batch"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Get of a detached value error = %v, want ErrCorrupt", err)
	}
	ct[len(ct)-1] ^= 1
	if _, err := b.DecryptDetached("token/batch", ct); !errors.Is(err, ErrCorrupt) {
		t.Errorf("tampered detached value error = %v, want ErrCorrupt", err)
	}
	b.Seal()
	if _, err := b.EncryptDetached(ctx, "x", nil); !errors.Is(err, ErrSealed) {
		t.Errorf("EncryptDetached while sealed error = %v", err)
	}
}

// TestReload checks that a barrier sharing storage with another one sees
// the other's rotation after Reload, not before, and that its own writes
// afterwards use the new term and a fresh reservation.
func TestReload(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const batch = 10
	active, phys, root := newUnsealed(t, Options{ReserveBatch: batch})
	standby := NewWithOptions(phys, Options{ReserveBatch: batch})
	if err := standby.Reload(ctx); !errors.Is(err, ErrSealed) {
		t.Fatalf("Reload while sealed = %v, want ErrSealed", err)
	}
	if err := standby.Unseal(ctx, root); err != nil {
		t.Fatal(err)
	}
	if _, err := active.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, active, "after-rotate", []byte("new term"))
	if _, err := standby.Get(ctx, "after-rotate"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get before Reload = %v, want ErrCorrupt (unknown term)", err)
	}
	if err := standby.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := mustGet(t, standby, "after-rotate"); string(got) != "new term" {
		t.Errorf("Get after Reload = %q, want %q", got, "new term")
	}
	info, err := standby.KeyInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.Term != 2 || info.Encryptions != batch {
		t.Errorf("KeyInfo after Reload = %+v, want term 2 counted at the whole reservation %d", info, batch)
	}
	mustPut(t, standby, "from-standby", []byte("x"))
	if got := termOf(t, mustGet(t, phys, "from-standby")); got != 2 {
		t.Errorf("standby wrote under term %d, want 2", got)
	}
	// Its write reserved a new batch past what the other node may have
	// used.
	if err := active.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// (the count taken by the first attempt is lost, as extend says).
	if info, _ := active.KeyInfo(); info.Encryptions != 2*batch+1 {
		t.Errorf("reservation after the standby's write = %d, want %d", info.Encryptions, 2*batch+1)
	}
	// A keyring replaced by one under another root key is refused and
	// changes nothing.
	bad := NewWithOptions(inmem.New(), Options{})
	otherRoot, _ := GenerateKey()
	if err := bad.Initialize(ctx, otherRoot); err != nil {
		t.Fatal(err)
	}
	foreign, err := bad.phys.Get(ctx, KeyringPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := phys.Put(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	if err := standby.Reload(ctx); !errors.Is(err, ErrBadKey) {
		t.Fatalf("Reload of a foreign keyring = %v, want ErrBadKey", err)
	}
	if got := mustGet(t, standby, "after-rotate"); string(got) != "new term" {
		t.Errorf("Get after a refused Reload = %q", got)
	}
}

func TestCheckKeyring(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, phys, _ := newUnsealed(t, Options{})
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	own := mustGet(t, phys, KeyringPath)
	_, otherPhys, _ := newUnsealed(t, Options{})
	foreign := mustGet(t, otherPhys, KeyringPath)
	flipped := slices.Clone(own)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name       string
		ciphertext []byte
		want       error
	}{
		{"own keyring", own, nil},
		{"another root key", foreign, ErrBadKey},
		{"flipped byte", flipped, ErrBadKey},
		{"empty", nil, ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			info, err := b.CheckKeyring(tt.ciphertext)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckKeyring() = %v, want %v", err, tt.want)
			}
			if err == nil && info.Term != 2 {
				t.Errorf("CheckKeyring() term = %d, want 2", info.Term)
			}
		})
	}
	sealed := New(phys)
	if _, err := sealed.CheckKeyring(own); !errors.Is(err, ErrSealed) {
		t.Errorf("CheckKeyring while sealed = %v, want ErrSealed", err)
	}
}
