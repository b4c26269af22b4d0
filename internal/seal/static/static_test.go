package static

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/seal/sealtest"
)

func newKey32(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

func TestWrapper(t *testing.T) {
	t.Parallel()
	w, err := New(Options{CurrentKeyID: "k1", CurrentKey: newKey32(t)})
	if err != nil {
		t.Fatal(err)
	}
	sealtest.RunWrapper(t, w)
}

func TestRotation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	k1, k2 := newKey32(t), newKey32(t)
	old, err := New(Options{CurrentKeyID: "k1", CurrentKey: k1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := old.Wrap(ctx, []byte("root key"))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := New(Options{CurrentKeyID: "k2", CurrentKey: k2, PreviousKeyID: "k1", PreviousKey: k1})
	if err != nil {
		t.Fatal(err)
	}
	sealtest.RunWrapper(t, rotated)
	if got, err := rotated.Unwrap(ctx, b); err != nil || string(got) != "root key" {
		t.Errorf("Unwrap of a previous-key blob = %q, %v; want the plaintext", got, err)
	}
	nb, _ := rotated.Wrap(ctx, []byte("x"))
	if nb.KeyID != "k2" {
		t.Errorf("Wrap after rotation used key %q, want k2", nb.KeyID)
	}
	// Without the previous key the old blob no longer opens.
	only2, _ := New(Options{CurrentKeyID: "k2", CurrentKey: k2})
	if _, err := only2.Unwrap(ctx, b); !errors.Is(err, seal.ErrUnwrap) {
		t.Errorf("Unwrap of a blob of a dropped key = %v, want ErrUnwrap", err)
	}
	// Same ID, other key: authentication fails.
	other, _ := New(Options{CurrentKeyID: "k1", CurrentKey: k2})
	if _, err := other.Unwrap(ctx, b); !errors.Is(err, seal.ErrUnwrap) {
		t.Errorf("Unwrap with another key under the same ID = %v, want ErrUnwrap", err)
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	k := newKey32(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no id", Options{CurrentKey: k}, "current_key_id is required"},
		{"short key", Options{CurrentKeyID: "a", CurrentKey: k[:16]}, "current_key must be 32 bytes"},
		{"previous without id", Options{CurrentKeyID: "a", CurrentKey: k, PreviousKey: k}, "go together"},
		{"same ids", Options{CurrentKeyID: "a", CurrentKey: k, PreviousKeyID: "a", PreviousKey: k}, "must differ"},
		{"short previous", Options{CurrentKeyID: "a", CurrentKey: k, PreviousKeyID: "b", PreviousKey: k[:3]}, "previous_key must be 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%s) = %v, want an error containing %q", tt.name, err, tt.want)
			}
		})
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	k := newKey32(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := write("raw", k)
	b64 := write("b64", []byte(base64.StdEncoding.EncodeToString(k)+"\n"))
	hx := write("hex", []byte(hex.EncodeToString(k)))
	short := write("short", k[:31])
	env := map[string]string{"KEY_B64": base64.StdEncoding.EncodeToString(k)}
	getenv := func(n string) string { return env[n] }
	tests := []struct {
		ref     string
		wantErr string
	}{
		{"file://" + raw, ""},
		{"file://" + b64, ""},
		{"file://" + hx, ""},
		{"env://KEY_B64", ""},
		{hex.EncodeToString(k), ""},
		{base64.StdEncoding.EncodeToString(k), ""},
		{"file://" + short, "must be 32 bytes"},
		{"file://" + filepath.Join(dir, "missing"), "read key file"},
		{"env://NOPE", "NOPE is not set"},
		{"not a key", "must be 32 bytes"},
	}
	for _, tt := range tests {
		got, err := LoadKey(tt.ref, getenv)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("LoadKey(%q) = %v, want an error containing %q", tt.ref, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("LoadKey(%q) = %x, %v; want the key", tt.ref, got, err)
		}
	}
}
