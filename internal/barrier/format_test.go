package barrier

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/google/go-cmp/cmp"
)

type vector struct {
	Name       string `json:"name"`
	Key        string `json:"key"`
	Term       uint32 `json:"term"`
	AAD        string `json:"aad"`
	Plaintext  string `json:"plaintext"`
	Ciphertext string `json:"ciphertext"`
}

func readJSON(tb testing.TB, name string, v any) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	var vs []vector
	readJSON(tb, "vectors.json", &vs)
	if len(vs) == 0 {
		tb.Fatal("no vectors")
	}
	return vs
}

// TestKnownAnswers decrypts ciphertexts made by testdata/gen_vectors.py
// with an independent AES-GCM implementation; it pins the format.
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			key, ct, want := unhex(t, v.Key), unhex(t, v.Ciphertext), unhex(t, v.Plaintext)
			orig := slices.Clone(ct)
			term, got, err := Decrypt(key, v.AAD, ct)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if term != v.Term || !bytes.Equal(got, want) {
				t.Errorf("Decrypt = term %d, %x; want term %d, %x", term, got, v.Term, want)
			}
			if !bytes.Equal(ct, orig) {
				t.Error("Decrypt modified its input")
			}
			if _, _, err := Decrypt(key, v.AAD+"x", ct); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decrypt with another path: error = %v, want ErrCorrupt", err)
			}
			// Our own encryption of the same input decrypts the same way.
			mine, err := Encrypt(key, v.Term, v.AAD, want)
			if err != nil {
				t.Fatal(err)
			}
			if len(mine) != len(ct) || !bytes.Equal(mine[:HeaderSize], ct[:HeaderSize]) {
				t.Errorf("Encrypt header/length = %x/%d, want %x/%d", mine[:HeaderSize], len(mine), ct[:HeaderSize], len(ct))
			}
			if term, got, err := Decrypt(key, v.AAD, mine); err != nil || term != v.Term || !bytes.Equal(got, want) {
				t.Errorf("Decrypt(Encrypt()) = %d, %x, %v", term, got, err)
			}
		})
	}
}

// TestStorageKnownAnswer unseals a physical storage written by
// testdata/gen_vectors.py; it pins the keyring format.
func TestStorageKnownAnswer(t *testing.T) {
	t.Parallel()
	var kat struct {
		RootKey           string            `json:"root_key"`
		Entries           map[string]string `json:"entries"`
		Plaintexts        map[string]string `json:"plaintexts"`
		ActiveTerm        uint32            `json:"active_term"`
		ActiveInstallTime time.Time         `json:"active_install_time"`
		ActiveEncryptions uint64            `json:"active_encryptions"`
	}
	readJSON(t, "storage.json", &kat)
	phys := inmem.New()
	for k, v := range kat.Entries {
		mustPut(t, phys, k, unhex(t, v))
	}
	b := New(phys)
	root := unhex(t, kat.RootKey)
	if err := b.Unseal(t.Context(), root); err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	for k, want := range kat.Plaintexts {
		if got := mustGet(t, b, k); string(got) != want {
			t.Errorf("Get(%s) = %q, want %q", k, got, want)
		}
	}
	info, err := b.KeyInfo()
	if err != nil {
		t.Fatal(err)
	}
	want := KeyInfo{Term: kat.ActiveTerm, InstallTime: kat.ActiveInstallTime, Encryptions: kat.ActiveEncryptions}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("KeyInfo mismatch (-want +got):\n%s", diff)
	}
	if got, _ := b.RootKey(); !bytes.Equal(got, root) {
		t.Errorf("RootKey() = %x, want %x", got, root)
	}
	mustPut(t, b, "secret/newest", []byte("x"))
	if got := termOf(t, mustGet(t, phys, "secret/newest")); got != kat.ActiveTerm {
		t.Errorf("new write used term %d, want %d", got, kat.ActiveTerm)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	key, _ := GenerateKey()
	other, _ := GenerateKey()
	ct, err := Encrypt(key, 7, "core/root-key", []byte("root"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  []byte
		aad  string
		ct   []byte
	}{
		{"wrong key", other, "core/root-key", ct},
		{"wrong aad", key, "core/root-keys", ct},
		{"empty", key, "core/root-key", nil},
		{"header only", key, "core/root-key", ct[:HeaderSize]},
		{"bad version", key, "core/root-key", append([]byte{2}, ct[1:]...)},
		{"version zero", key, "core/root-key", append([]byte{0}, ct[1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			term, pt, err := Decrypt(tt.key, tt.aad, tt.ct)
			if !errors.Is(err, ErrCorrupt) || pt != nil || term != 0 {
				t.Errorf("Decrypt = %d, %q, %v; want 0, nil, ErrCorrupt", term, pt, err)
			}
		})
	}
	if _, err := Encrypt(key[:16], 1, "a", []byte("x")); err == nil {
		t.Error("Encrypt with a 16-byte key succeeded")
	}
	if _, _, err := Decrypt(key[:31], "a", ct); err == nil {
		t.Error("Decrypt with a 31-byte key succeeded")
	}
	ct2, _ := Encrypt(key, 7, "core/root-key", []byte("root"))
	if bytes.Equal(ct, ct2) {
		t.Error("two encryptions are identical: nonces are not fresh")
	}
}

// FuzzDecrypt feeds arbitrary ciphertexts and paths to the decoder under
// the known-answer keys. It must never panic, and it may return plaintext
// only for an unmodified known-answer ciphertext under its own key and path.
// The seeds are fixed (not freshly encrypted) because fuzz workers rebuild
// them in separate processes.
func FuzzDecrypt(f *testing.F) {
	vs := loadVectors(f)
	for i, v := range vs {
		f.Add(uint8(i), unhex(f, v.Ciphertext), v.AAD)
	}
	f.Add(uint8(0), []byte{}, "")
	f.Add(uint8(1), []byte{Version, 0, 0, 0, 1}, "a")
	f.Fuzz(func(t *testing.T, idx uint8, ct []byte, aad string) {
		v := vs[int(idx)%len(vs)]
		orig := slices.Clone(ct)
		term, pt, err := Decrypt(unhex(t, v.Key), aad, ct)
		if !bytes.Equal(ct, orig) {
			t.Fatal("Decrypt modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || pt != nil || term != 0 {
				t.Fatalf("Decrypt failure = %d, %x, %v; want 0, nil, ErrCorrupt", term, pt, err)
			}
			return
		}
		if aad != v.AAD || !bytes.Equal(ct, unhex(t, v.Ciphertext)) {
			t.Fatalf("Decrypt accepted a modified ciphertext %x for %q", ct, aad)
		}
		if term != v.Term || !bytes.Equal(pt, unhex(t, v.Plaintext)) {
			t.Fatalf("Decrypt = %d, %x; want %d, %s", term, pt, v.Term, v.Plaintext)
		}
	})
}

func benchmarkBarrier(b *testing.B, run func(b *testing.B, br *Barrier, key string, value []byte)) {
	for _, size := range []int{64, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			br, _, _ := newUnsealed(b, Options{})
			value := bytes.Repeat([]byte{'v'}, size)
			mustPut(b, br, "logical/bench/value", value)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			run(b, br, "logical/bench/value", value)
		})
	}
}

// BenchmarkEncrypt measures Put through the barrier over inmem.
func BenchmarkEncrypt(b *testing.B) {
	benchmarkBarrier(b, func(b *testing.B, br *Barrier, key string, value []byte) {
		e := &storage.Entry{Key: key, Value: value}
		for b.Loop() {
			if err := br.Put(b.Context(), e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecrypt measures Get through the barrier over inmem.
func BenchmarkDecrypt(b *testing.B) {
	benchmarkBarrier(b, func(b *testing.B, br *Barrier, key string, value []byte) {
		for b.Loop() {
			e, err := br.Get(b.Context(), key)
			if err != nil || len(e.Value) != len(value) {
				b.Fatalf("Get = %v, %v", e, err)
			}
		}
	})
}
