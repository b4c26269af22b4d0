package barrier

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/json"
	"sync/atomic"
	"time"
)

// Reserved physical keys. The barrier refuses Get, Put, Delete and Txn on
// them and leaves them out of List results.
const (
	// KeyringPath holds the keyring, encrypted with the root key.
	KeyringPath = "core/keyring"
	// SealConfigPath holds the seal configuration (package seal).
	SealConfigPath = "core/seal-config"
	// RootKeyPath holds the root key encrypted by the seal (package seal).
	RootKeyPath = "core/root-key"
	// WrappedRootKeyPath holds the root key wrapped by an auto-unseal
	// seal (package seal).
	WrappedRootKeyPath = "core/wrapped-root-key"
	// RecoveryKeyPath holds the check value of an auto-unseal seal's
	// recovery key (package seal).
	RecoveryKeyPath = "core/recovery-key"
)

// reservedFolder is the folder that holds every reserved key, directly.
const reservedFolder = "core/"

// rootTerm is the term written in the header of the keyring ciphertext: it
// is encrypted with the root key, not a data key, and no data key has term 0.
const rootTerm = 0

func reserved(key string) bool {
	switch key {
	case KeyringPath, SealConfigPath, RootKeyPath, WrappedRootKeyPath, RecoveryKeyPath:
		return true
	}
	return false
}

// termKey is one data key of the keyring with its cached cipher.
type termKey struct {
	term      uint32
	key       []byte // zeroed on Seal
	installed time.Time
	aead      cipher.AEAD

	// encryptions counts encryptions under this term, pessimistically
	// (see the package documentation on rotation).
	encryptions atomic.Uint64
	// reserved is the persisted bound that encryptions may not pass before
	// the keyring is written again. Written with Barrier.mu held
	// exclusively, read with it held shared.
	reserved uint64
}

// keyringJSON is the persisted keyring, the plaintext of [KeyringPath].
type keyringJSON struct {
	ActiveTerm uint32     `json:"active_term"`
	RootKey    []byte     `json:"root_key"`
	Keys       []termJSON `json:"keys"`
}

// termJSON is one persisted term. Reserved is the count of encryptions the
// term may reach before the keyring must be persisted again.
type termJSON struct {
	Term        uint32    `json:"term"`
	Key         []byte    `json:"key"`
	InstallTime time.Time `json:"install_time"`
	Reserved    uint64    `json:"reserved_encryptions"`
}

// encodeKeyring marshals and encrypts kr under rootKey. The JSON plaintext,
// which holds every key in base64, is zeroed before returning.
func encodeKeyring(rootKey []byte, kr *keyringJSON) ([]byte, error) {
	plaintext, err := json.Marshal(kr)
	if err != nil {
		return nil, err
	}
	defer clear(plaintext)
	return Encrypt(rootKey, rootTerm, KeyringPath, plaintext)
}

// decodeKeyring decrypts and validates a stored keyring. A wrong root key
// and an inconsistent keyring both return ErrBadKey, without saying which.
func decodeKeyring(rootKey, ciphertext []byte) (*keyringJSON, error) {
	term, plaintext, err := Decrypt(rootKey, KeyringPath, ciphertext)
	if err != nil || term != rootTerm {
		return nil, ErrBadKey
	}
	defer clear(plaintext)
	var kr keyringJSON
	if err := json.Unmarshal(plaintext, &kr); err != nil {
		// The JSON error could quote plaintext; drop it.
		kr.zero()
		return nil, ErrBadKey
	}
	if !validKeyring(rootKey, &kr) {
		kr.zero()
		return nil, ErrBadKey
	}
	return &kr, nil
}

func validKeyring(rootKey []byte, kr *keyringJSON) bool {
	if subtle.ConstantTimeCompare(kr.RootKey, rootKey) != 1 {
		return false
	}
	seen := make(map[uint32]bool, len(kr.Keys))
	for _, k := range kr.Keys {
		if k.Term == rootTerm || seen[k.Term] || len(k.Key) != KeySize {
			return false
		}
		seen[k.Term] = true
	}
	return seen[kr.ActiveTerm]
}

// zero clears the key material kr holds.
func (kr *keyringJSON) zero() {
	clear(kr.RootKey)
	for _, k := range kr.Keys {
		clear(k.Key)
	}
}
