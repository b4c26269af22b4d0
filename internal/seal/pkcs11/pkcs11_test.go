//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"

	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/seal/sealtest"
)

// options returns the options of a wrapper on token with key label key.
func options(token, key string) Options {
	return Options{
		Lib:         softHSMLib,
		TokenLabel:  token,
		PIN:         testPIN,
		KeyLabel:    key,
		GenerateKey: true,
	}
}

// open returns a wrapper made with opts, closed at the end of the test.
func open(t *testing.T, opts Options) *Wrapper {
	t.Helper()
	requireHSM(t)
	w, err := New(t.Context(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w.(*Wrapper)
}

func TestConformance(t *testing.T) {
	sealtest.RunWrapper(t, open(t, options(tokenA, "conformance")))
}

func TestBlobShape(t *testing.T) {
	w := open(t, options(tokenA, "shape"))
	b, err := w.Wrap(t.Context(), []byte("root key"))
	if err != nil {
		t.Fatal(err)
	}
	if b.KeyID != "shape" || b.Mechanism != "0x1087" {
		t.Errorf("Wrap = KeyID %q, Mechanism %q; want shape, 0x1087", b.KeyID, b.Mechanism)
	}
	h, sealed, err := decodeCiphertext(b.Ciphertext)
	if err != nil {
		t.Fatalf("decodeCiphertext: %v", err)
	}
	if len(h.keyID) != generatedKeyIDLen || len(h.iv) != gcmIVLen || len(sealed) != len("root key")+gcmTagLen {
		t.Errorf("ciphertext has a %d-byte key ID, a %d-byte IV and %d sealed bytes; want %d, %d, %d",
			len(h.keyID), len(h.iv), len(sealed), generatedKeyIDLen, gcmIVLen, len("root key")+gcmTagLen)
	}
}

// TestRestart: a generated key is found again by a new wrapper, which
// opens the old blobs and generates no second key.
func TestRestart(t *testing.T) {
	ctx := t.Context()
	w1 := open(t, options(tokenA, "restart"))
	b, err := w1.Wrap(ctx, []byte("root key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := w1.Wrap(ctx, []byte("x")); err == nil {
		t.Error("Wrap after Close succeeded")
	}

	for _, generate := range []bool{true, false} {
		opts := options(tokenA, "restart")
		opts.GenerateKey = generate
		w2 := open(t, opts)
		got, err := w2.Unwrap(ctx, b)
		if err != nil || string(got) != "root key" {
			t.Fatalf("Unwrap by a new wrapper (generate_key %v) = %q, %v; want root key", generate, got, err)
		}
		if w2.wrapKey != w1.wrapKey {
			t.Errorf("the new wrapper (generate_key %v) uses key ID %x, want %x", generate, w2.wrapKey.id, w1.wrapKey.id)
		}
	}
	if n := countKeys(t, open(t, options(tokenA, "restart")), "restart"); n != 1 {
		t.Errorf("%d keys labeled restart, want 1", n)
	}
}

func countKeys(t *testing.T, w *Wrapper, label string) int {
	t.Helper()
	n := 0
	err := w.do(t.Context(), "count", func() error {
		h, err := w.findKeysLocked(label, nil)
		n = len(h)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWrongPIN(t *testing.T) {
	requireHSM(t)
	const wrong = "9713-wrong-pin"
	opts := options(tokenPIN, "k")
	opts.PIN = wrong
	w, err := New(t.Context(), opts)
	if err == nil {
		_ = w.Close()
		t.Fatal("New with a wrong PIN succeeded")
	}
	if errors.Is(err, seal.ErrUnreachable) {
		t.Errorf("New with a wrong PIN: %v wraps ErrUnreachable; a retry could lock the token", err)
	}
	if !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") || !strings.Contains(err.Error(), "pin") {
		t.Errorf("New with a wrong PIN: %q, want it to say CKR_PIN_INCORRECT and pin", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the error holds the PIN: %q", err)
	}
	// The options themselves never print the PIN.
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("opts", "pin", opts.PIN, "opts", opts)
	for _, s := range []string{fmt.Sprint(opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts), logs.String()} {
		if strings.Contains(s, wrong) {
			t.Errorf("printed options hold the PIN: %s", s)
		}
	}
}

func TestNewErrors(t *testing.T) {
	requireHSM(t)
	other := slotOf(t, tokenB)
	missingSlot := uint(424242)
	tests := []struct {
		name        string
		edit        func(*Options)
		unreachable bool
		words       string
	}{
		{"missing library", func(o *Options) { o.Lib = "/nonexistent/libpkcs11.so" }, false, "cannot load"},
		{"unknown token label", func(o *Options) { o.TokenLabel = "no-such-token" }, true, "no token labeled"},
		{"empty slot", func(o *Options) { o.TokenLabel = ""; o.Slot = &missingSlot }, true, "no token in slot"},
		{"slot and label disagree", func(o *Options) { o.Slot = &other }, false, "not \"coffer-a\""},
		{"missing key", func(o *Options) { o.KeyLabel = "never-made"; o.GenerateKey = false }, false, "generate_key"},
		{"missing key ID", func(o *Options) { o.KeyLabel = "conformance"; o.KeyID = "0xdeadbeef"; o.GenerateKey = false }, false, "generate_key"},
		{"RSA-OAEP", func(o *Options) { o.Mechanism = MechanismRSAOAEP }, false, "CKM_RSA_PKCS_OAEP"},
		{"no token", func(o *Options) { o.TokenLabel = "" }, false, "slot or token_label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := options(tokenA, "errors")
			tt.edit(&opts)
			w, err := New(t.Context(), opts)
			if err == nil {
				_ = w.Close()
				t.Fatal("New succeeded")
			}
			if got := errors.Is(err, seal.ErrUnreachable); got != tt.unreachable {
				t.Errorf("New: %v; wraps ErrUnreachable = %v, want %v", err, got, tt.unreachable)
			}
			if !strings.Contains(err.Error(), tt.words) {
				t.Errorf("New: %q, want it to say %q", err, tt.words)
			}
			if strings.Contains(err.Error(), testPIN) {
				t.Errorf("the error holds the PIN: %q", err)
			}
		})
	}
}

// TestSlot finds the token by its slot ID instead of its label.
func TestSlot(t *testing.T) {
	requireHSM(t)
	slot := slotOf(t, tokenA)
	for _, label := range []string{"", tokenA} {
		opts := options(label, "slot")
		opts.Slot = &slot
		w := open(t, opts)
		b, err := w.Wrap(t.Context(), []byte("p"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Unwrap(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
}

// slotOf returns the slot of the token labeled label.
func slotOf(t *testing.T, label string) uint {
	t.Helper()
	w := open(t, options(label, "slot-of"))
	slot, err := w.findSlot()
	if err != nil {
		t.Fatal(err)
	}
	return slot
}

// TestOtherToken: a blob made by one HSM's key does not open with another
// HSM's key of the same label.
func TestOtherToken(t *testing.T) {
	ctx := t.Context()
	a := open(t, options(tokenA, "shared-label"))
	b := open(t, options(tokenB, "shared-label"))
	blob, err := a.Wrap(ctx, []byte("root key"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Unwrap(ctx, blob)
	if !errors.Is(err, seal.ErrUnwrap) || got != nil {
		t.Errorf("Unwrap of token A's blob by token B = %q, %v; want ErrUnwrap", got, err)
	}
	// Even when the blob names token B's key ID, GCM refuses it.
	h, sealed, err := decodeCiphertext(blob.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	h.keyID = []byte(b.wrapKey.id)
	forged := *blob
	forged.Ciphertext = h.encode(sealed)
	got, err = b.Unwrap(ctx, &forged)
	if !errors.Is(err, seal.ErrUnwrap) || got != nil {
		t.Errorf("Unwrap of token A's blob relabeled for token B = %q, %v; want ErrUnwrap", got, err)
	}
}

// TestConcurrent runs Wraps and Unwraps from several goroutines on one
// wrapper (run it with -race).
func TestConcurrent(t *testing.T) {
	w := open(t, options(tokenA, "concurrent"))
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				p := fmt.Appendf(nil, "goroutine %d value %d", g, i)
				b, err := w.Wrap(ctx, p)
				if err != nil {
					t.Errorf("Wrap: %v", err)
					return
				}
				got, err := w.Unwrap(ctx, b)
				if err != nil || !bytes.Equal(got, p) {
					t.Errorf("Unwrap = %q, %v; want %q", got, err, p)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestReopen: when the session goes away under the wrapper (an HSM
// restart), the next operation opens a new one and succeeds.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	w := open(t, options(tokenA, "reopen"))
	b, err := w.Wrap(ctx, []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	// Close the session behind the wrapper's back.
	w.turn <- struct{}{}
	old := w.sess
	if err := w.lib.CloseSession(w.sess); err != nil {
		t.Fatal(err)
	}
	<-w.turn
	got, err := w.Unwrap(ctx, b)
	if err != nil || string(got) != "before" {
		t.Fatalf("Unwrap after the session closed = %q, %v; want before", got, err)
	}
	if w.sess == old {
		t.Log("the library gave the new session the old handle")
	}
	if _, err := w.Wrap(ctx, []byte("after")); err != nil {
		t.Fatalf("Wrap after reopening: %v", err)
	}
}

func TestCanceled(t *testing.T) {
	w := open(t, options(tokenA, "canceled"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w.turn <- struct{}{} // another operation holds the session
	defer func() { <-w.turn }()
	if _, err := w.Wrap(ctx, []byte("p")); !errors.Is(err, context.Canceled) {
		t.Errorf("Wrap with a canceled context while the session is busy: %v, want context.Canceled", err)
	}
}

// TestGeneratedKeyAttributes: the generated key cannot leave the HSM.
func TestGeneratedKeyAttributes(t *testing.T) {
	w := open(t, options(tokenA, "attributes"))
	var attrs []*p11.Attribute
	err := w.do(t.Context(), "read", func() error {
		h, err := w.keyLocked(w.wrapKey)
		if err != nil {
			return err
		}
		attrs, err = w.lib.GetAttributeValue(w.sess, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_TOKEN, nil),
			p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint][]byte{
		p11.CKA_SENSITIVE:   {1},
		p11.CKA_EXTRACTABLE: {0},
		p11.CKA_TOKEN:       {1},
	}
	for _, a := range attrs {
		if w, ok := want[a.Type]; ok && !bytes.Equal(a.Value, w) {
			t.Errorf("attribute 0x%x = %x, want %x", a.Type, a.Value, w)
		}
		if a.Type == p11.CKA_VALUE_LEN && (len(a.Value) == 0 || a.Value[0] != 32) {
			t.Errorf("CKA_VALUE_LEN = %x, want 32", a.Value)
		}
	}
}
