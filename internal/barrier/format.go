package barrier

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// Format constants.
const (
	// Version is the format version byte at the start of every ciphertext.
	Version byte = 1
	// KeySize is the size of every barrier, root and unseal key: AES-256.
	KeySize = 32
	// HeaderSize is the version byte plus the 4-byte term.
	HeaderSize = 5
	// Overhead is how much longer a ciphertext is than its plaintext:
	// header, 12-byte nonce and 16-byte tag.
	Overhead = HeaderSize + 12 + 16
)

// ErrCorrupt reports a ciphertext that failed to decode or authenticate:
// wrong key, wrong path, modified, truncated, unknown version or unknown
// term. The cause is deliberately not given.
var ErrCorrupt = errors.New("authentication failed")

// newAEAD returns AES-256-GCM with random nonces for key, which must be
// [KeySize] bytes. The returned AEAD holds its own copy of the key schedule.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("barrier: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("barrier: create cipher: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("barrier: create gcm: %w", err)
	}
	return aead, nil
}

// Encrypt seals plaintext under key (which must be [KeySize] bytes) with the
// given term in the header and aad (the storage path) bound as additional
// data. Each call draws a fresh random nonce. The result is newly allocated
// and len(plaintext)+[Overhead] bytes long; plaintext is not modified.
func Encrypt(key []byte, term uint32, aad string, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return seal(aead, term, aad, plaintext), nil
}

// Decrypt opens a ciphertext made by [Encrypt] under key with the same aad.
// It returns the term from the header and a newly allocated plaintext; the
// ciphertext is not modified. Any failure (bad key size aside) is an error
// wrapping [ErrCorrupt], and no plaintext is returned.
func Decrypt(key []byte, aad string, ciphertext []byte) (term uint32, plaintext []byte, err error) {
	aead, err := newAEAD(key)
	if err != nil {
		return 0, nil, err
	}
	term, err = parseHeader(ciphertext)
	if err != nil {
		return 0, nil, err
	}
	plaintext, err = open(aead, aad, ciphertext, nil)
	if err != nil {
		return 0, nil, err
	}
	return term, plaintext, nil
}

// parseHeader checks the version and length of ciphertext and returns its
// term.
func parseHeader(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < Overhead || ciphertext[0] != Version {
		return 0, ErrCorrupt
	}
	return binary.BigEndian.Uint32(ciphertext[1:HeaderSize]), nil
}

// seal encrypts plaintext with aead into a new buffer laid out as the
// package documentation describes. It makes one allocation: the tail of
// the buffer, past the returned slice's capacity, holds the additional data
// (header and path), which is not secret.
func seal(aead cipher.AEAD, term uint32, aad string, plaintext []byte) []byte {
	n := HeaderSize + len(plaintext) + aead.Overhead()
	buf := make([]byte, n+HeaderSize+len(aad))
	out, ad := buf[:HeaderSize:n], buf[n:]
	out[0] = Version
	binary.BigEndian.PutUint32(out[1:], term)
	copy(ad, out)
	copy(ad[HeaderSize:], aad)
	return aead.Seal(out, nil, plaintext, ad)
}

// open authenticates and decrypts ciphertext, whose header the caller has
// checked with parseHeader. The plaintext is appended to dst; pass
// ciphertext[HeaderSize:HeaderSize] to decrypt in place. On failure it
// returns ErrCorrupt and no plaintext.
func open(aead cipher.AEAD, aad string, ciphertext, dst []byte) ([]byte, error) {
	ad := make([]byte, HeaderSize+len(aad))
	copy(ad, ciphertext[:HeaderSize])
	copy(ad[HeaderSize:], aad)
	plaintext, err := aead.Open(dst, nil, ciphertext[HeaderSize:], ad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plaintext, nil
}
