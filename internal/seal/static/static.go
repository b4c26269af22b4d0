// Package static is the static seal: an auto-unseal [seal.Wrapper] that
// wraps the root key with AES-256-GCM under a 32-byte key the operator
// provides, from a file or an environment variable (OpenBao's seal
// "static", with its configuration keys).
//
// Trade-off: the server unseals itself with no operator, but whoever can
// read the key and the storage can read every secret. It is a
// convenience for a key delivered by something already trusted (a
// secret manager, a Kubernetes secret, a TPM-sealed file), never
// protection when the key sits on the same disk as the data.
//
// A [Wrapper] holds the current key and, after a rotation, the previous
// one: new blobs use the current key, blobs of either key open. The key
// ID is authenticated with the ciphertext. It imports package seal and
// the standard library only; a Wrapper is safe for concurrent use.
package static

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/coffer-secrets/coffer/internal/seal"
)

// KeySize is the length of a static seal key: AES-256.
const KeySize = 32

// Type is the seal type in the configuration.
const Type = "static"

// Options configures [New].
type Options struct {
	// CurrentKeyID names CurrentKey; it is stored with every blob. It must
	// change whenever the key does. Required.
	CurrentKeyID string
	// CurrentKey wraps new blobs; 32 bytes. Required. New copies it.
	CurrentKey []byte
	// PreviousKeyID and PreviousKey, after a key rotation, still open
	// blobs the previous key made. Both or neither.
	PreviousKeyID string
	PreviousKey   []byte
}

// Wrapper is the static seal.
type Wrapper struct {
	current, previous *key // previous is nil without one
}

type key struct {
	id   string
	aead cipher.AEAD
}

// New checks opts and returns a wrapper. Errors name the field at fault,
// never a key.
func New(opts Options) (*Wrapper, error) {
	if opts.CurrentKeyID == "" {
		return nil, errors.New("static seal: current_key_id is required")
	}
	cur, err := newKey(opts.CurrentKeyID, opts.CurrentKey, "current_key")
	if err != nil {
		return nil, err
	}
	w := &Wrapper{current: cur}
	switch {
	case opts.PreviousKeyID == "" && len(opts.PreviousKey) == 0:
	case opts.PreviousKeyID == "" || len(opts.PreviousKey) == 0:
		return nil, errors.New("static seal: previous_key_id and previous_key go together")
	case opts.PreviousKeyID == opts.CurrentKeyID:
		return nil, errors.New("static seal: previous_key_id must differ from current_key_id")
	default:
		if w.previous, err = newKey(opts.PreviousKeyID, opts.PreviousKey, "previous_key"); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func newKey(id string, k []byte, field string) (*key, error) {
	if len(k) != KeySize {
		return nil, fmt.Errorf("static seal: %s must be %d bytes, got %d", field, KeySize, len(k))
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("static seal: %s: %w", field, err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(b)
	if err != nil {
		return nil, fmt.Errorf("static seal: %s: %w", field, err)
	}
	return &key{id: id, aead: aead}, nil
}

// additionalData binds a blob to its key ID.
func additionalData(id string) []byte {
	return append([]byte("coffer static seal v1\x00"), id...)
}

// Type returns "static".
func (w *Wrapper) Type() string { return Type }

// Wrap encrypts plaintext with the current key.
func (w *Wrapper) Wrap(_ context.Context, plaintext []byte) (*seal.Blob, error) {
	ct := w.current.aead.Seal(nil, nil, plaintext, additionalData(w.current.id))
	return &seal.Blob{Ciphertext: ct, KeyID: w.current.id}, nil
}

// Unwrap decrypts a blob made by the current or the previous key. A blob
// of another key, or altered in any way, fails with [seal.ErrUnwrap].
func (w *Wrapper) Unwrap(_ context.Context, b *seal.Blob) ([]byte, error) {
	var k *key
	switch {
	case b.KeyID == w.current.id:
		k = w.current
	case w.previous != nil && b.KeyID == w.previous.id:
		k = w.previous
	default:
		return nil, fmt.Errorf("%w: the blob was made by key ID %q, which this static seal does not hold", seal.ErrUnwrap, b.KeyID)
	}
	if b.Mechanism != "" {
		return nil, fmt.Errorf("%w: unexpected mechanism", seal.ErrUnwrap)
	}
	p, err := k.aead.Open(nil, nil, b.Ciphertext, additionalData(k.id))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", seal.ErrUnwrap)
	}
	if p == nil {
		p = []byte{}
	}
	return p, nil
}

// Close does nothing: the wrapper holds no resources.
func (w *Wrapper) Close() error { return nil }

// LoadKey resolves a key reference as the configuration writes it:
// "file://PATH" reads the file, "env://NAME" reads the environment
// variable with getenv, anything else is the key itself. The key is 32
// raw bytes (a file only), or 64 hex digits, or standard base64 of 32
// bytes; surrounding white space is ignored. Errors name the reference's
// file or variable, never its content.
func LoadKey(ref string, getenv func(string) string) ([]byte, error) {
	var raw []byte
	switch {
	case strings.HasPrefix(ref, "file://"):
		path := strings.TrimPrefix(ref, "file://")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		if len(b) == KeySize {
			return b, nil
		}
		raw = b
	case strings.HasPrefix(ref, "env://"):
		name := strings.TrimPrefix(ref, "env://")
		v := ""
		if getenv != nil {
			v = getenv(name)
		}
		if v == "" {
			return nil, fmt.Errorf("environment variable %s is not set", name)
		}
		raw = []byte(v)
	default:
		raw = []byte(ref)
	}
	s := string(bytes.TrimSpace(raw))
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("the key must be %d bytes: raw (in a file), hex or base64", KeySize)
}
