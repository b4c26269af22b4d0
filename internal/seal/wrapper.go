package seal

import (
	"context"
	"errors"
)

// Wrapper is an auto-unseal key source: it encrypts and decrypts the
// barrier's root key with a key that never leaves it (a static key from a
// file, a transit key of another server, a key in an HSM), so a server can
// unseal itself at start without operators.
//
// Contract, checked by sealtest.RunWrapper for every implementation:
//   - Wrap uses authenticated encryption: Unwrap of a Blob whose
//     Ciphertext, KeyID or Mechanism was changed fails with an error
//     wrapping [ErrUnwrap], never with wrong plaintext.
//   - Unwrap(Wrap(p)) == p for any p of 0 to 64 KiB, also for a blob made
//     by an earlier key version the source still holds (key rotation).
//   - Two Wraps of the same plaintext give different ciphertexts.
//   - A key source that cannot be reached (a server down, an HSM
//     unplugged) answers an error wrapping [ErrUnreachable]; callers retry
//     those with backoff and no others.
//   - Errors never hold key material or plaintext.
//
// Implementations are safe for concurrent use. Close releases what the
// wrapper holds (sessions, connections); a closed wrapper is not used
// again.
type Wrapper interface {
	// Type is the seal type as written in the configuration: "static",
	// "transit", "pkcs11".
	Type() string
	// Wrap encrypts plaintext.
	Wrap(ctx context.Context, plaintext []byte) (*Blob, error)
	// Unwrap decrypts a blob made by Wrap.
	Unwrap(ctx context.Context, blob *Blob) ([]byte, error)
	// Close releases the wrapper's resources.
	Close() error
}

// Blob is a wrapped value as stored (as JSON) outside the barrier. It is
// not secret: only the key source can open it.
type Blob struct {
	// Ciphertext is the encrypted value with its nonce and tag, in the
	// implementation's own format.
	Ciphertext []byte `json:"ciphertext"`
	// KeyID names the key (and version) that made the blob, such as a
	// transit key version or an HSM key label, so that a rotated source
	// still finds the old key. It is authenticated with the ciphertext.
	KeyID string `json:"key_id,omitempty"`
	// Mechanism names the algorithm when the source has several (an HSM's
	// mechanism); empty otherwise. It is authenticated with the ciphertext.
	Mechanism string `json:"mechanism,omitempty"`
}

// Errors of a [Wrapper]. Match them with errors.Is.
var (
	// ErrUnwrap reports a blob the key source refused to open: tampered,
	// made by another key, or corrupt. Retrying does not help.
	ErrUnwrap = errors.New("seal: the key source could not decrypt the wrapped key")
	// ErrUnreachable reports a key source that could not be asked (a
	// network error, a server answering 5xx, an HSM that is not there).
	// Retrying later may help.
	ErrUnreachable = errors.New("seal: the key source is unreachable")
)
