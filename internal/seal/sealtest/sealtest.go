// Package sealtest is the conformance suite every [seal.Wrapper] passes:
// round trips of plaintexts of several sizes, fresh ciphertexts for equal
// plaintexts, and refusal of every kind of tampering with [seal.ErrUnwrap].
// It imports package seal and the standard library only.
package sealtest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/coffer-secrets/coffer/internal/seal"
)

// RunWrapper runs the suite against w, which must be ready to use.
func RunWrapper(t *testing.T, w seal.Wrapper) {
	t.Helper()
	ctx := t.Context()
	t.Run("RoundTrip", func(t *testing.T) {
		for _, n := range []int{0, 1, 32, 1000, 64 << 10} {
			p := make([]byte, n)
			rand.Read(p)
			b, err := w.Wrap(ctx, p)
			if err != nil {
				t.Fatalf("Wrap(%d bytes): %v", n, err)
			}
			// A plaintext of a few bytes appears by chance in any
			// ciphertext; only a longer one shows a leak.
			if n >= 16 && bytes.Contains(b.Ciphertext, p) {
				t.Fatalf("Wrap(%d bytes): the ciphertext holds the plaintext", n)
			}
			got, err := w.Unwrap(ctx, b)
			if err != nil {
				t.Fatalf("Unwrap(Wrap(%d bytes)): %v", n, err)
			}
			if !bytes.Equal(got, p) {
				t.Fatalf("Unwrap(Wrap(%d bytes)) differs", n)
			}
		}
	})
	t.Run("FreshCiphertexts", func(t *testing.T) {
		p := []byte("the same root key")
		a, err := w.Wrap(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.Wrap(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a.Ciphertext, b.Ciphertext) {
			t.Fatal("two Wraps of one plaintext gave the same ciphertext")
		}
	})
	t.Run("Tampering", func(t *testing.T) {
		p := make([]byte, 32)
		rand.Read(p)
		orig, err := w.Wrap(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		tampered := map[string]*seal.Blob{}
		for _, i := range []int{0, len(orig.Ciphertext) / 2, len(orig.Ciphertext) - 1} {
			c := *orig
			c.Ciphertext = bytes.Clone(orig.Ciphertext)
			c.Ciphertext[i] ^= 0x01
			tampered[fmt.Sprintf("byte %d flipped", i)] = &c
		}
		short := *orig
		short.Ciphertext = orig.Ciphertext[:len(orig.Ciphertext)-1]
		tampered["truncated"] = &short
		empty := *orig
		empty.Ciphertext = nil
		tampered["empty"] = &empty
		if orig.KeyID != "" {
			k := *orig
			k.KeyID = orig.KeyID + "x"
			tampered["other key ID"] = &k
		}
		if orig.Mechanism != "" {
			m := *orig
			m.Mechanism = orig.Mechanism + "x"
			tampered["other mechanism"] = &m
		}
		for what, b := range tampered {
			got, err := w.Unwrap(ctx, b)
			if err == nil {
				t.Errorf("Unwrap of a blob with %s succeeded", what)
				continue
			}
			if !errors.Is(err, seal.ErrUnwrap) {
				t.Errorf("Unwrap of a blob with %s: %v, want an error wrapping seal.ErrUnwrap", what, err)
			}
			if got != nil {
				t.Errorf("Unwrap of a blob with %s returned plaintext", what)
			}
			if bytes.Contains([]byte(err.Error()), p) {
				t.Errorf("Unwrap error holds the plaintext")
			}
		}
	})
}
