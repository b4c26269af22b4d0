package transit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// keyType is a key ring's algorithm, named as Vault names it.
type keyType string

// The key types the engine supports.
const (
	typeAES128    keyType = "aes128-gcm96"
	typeAES256    keyType = "aes256-gcm96"
	typeChaCha    keyType = "chacha20-poly1305"
	typeEd25519   keyType = "ed25519"
	typeECDSAP256 keyType = "ecdsa-p256"
	typeECDSAP384 keyType = "ecdsa-p384"
	typeRSA2048   keyType = "rsa-2048"
	typeRSA3072   keyType = "rsa-3072"
	typeRSA4096   keyType = "rsa-4096"
	typeHMAC      keyType = "hmac"
)

// Sizes of generated key material, in bytes.
const (
	hmacKeySize        = 32  // the per-version key of the hmac/ endpoint
	defaultHMACKeySize = 32  // key_size of an "hmac" key when not given
	minHMACKeySize     = 32  // smallest key_size Vault accepts
	maxHMACKeySize     = 512 // largest key_size Vault accepts
)

// known reports whether t is a supported key type.
func (t keyType) known() bool {
	switch t {
	case typeAES128, typeAES256, typeChaCha, typeEd25519, typeECDSAP256, typeECDSAP384,
		typeRSA2048, typeRSA3072, typeRSA4096, typeHMAC:
		return true
	}
	return false
}

// symmetric reports whether t is an AEAD cipher.
func (t keyType) symmetric() bool {
	return t == typeAES128 || t == typeAES256 || t == typeChaCha
}

func (t keyType) rsa() bool {
	return t == typeRSA2048 || t == typeRSA3072 || t == typeRSA4096
}

func (t keyType) ecdsa() bool { return t == typeECDSAP256 || t == typeECDSAP384 }

// asymmetric reports whether t has a public key.
func (t keyType) asymmetric() bool { return t == typeEd25519 || t.ecdsa() || t.rsa() }

// encryption reports whether keys of type t encrypt and decrypt.
func (t keyType) encryption() bool { return t.symmetric() || t.rsa() }

// signing reports whether keys of type t sign and verify.
func (t keyType) signing() bool { return t.asymmetric() }

// derivation reports whether keys of type t may be derived per context.
func (t keyType) derivation() bool { return t.symmetric() || t == typeEd25519 }

// keyVersion is one version of a key ring as stored. It is never changed
// once created, so a cached copy may be shared between ring snapshots.
type keyVersion struct {
	// Key is the AES or ChaCha20 key, the HMAC key of an "hmac" key, or the
	// Ed25519 seed.
	Key []byte `json:"key,omitempty"`
	// Private is the PKCS #8 DER private key of an ECDSA or RSA key.
	Private []byte `json:"private,omitempty"`
	// HMACKey is the key the hmac/ endpoint uses for this version (for
	// "hmac" keys it equals Key) and the root of convergent nonces.
	HMACKey []byte `json:"hmac_key"`
	// Created is when the version was generated.
	Created time.Time `json:"created"`
}

// ring is a named, versioned key as stored at "keys/<name>" and as a
// backup carries it. A ring held by the cache is read-only; writers clone
// it.
type ring struct {
	Name                 string              `json:"name"`
	Type                 keyType             `json:"type"`
	Derived              bool                `json:"derived"`
	Convergent           bool                `json:"convergent_encryption"`
	Exportable           bool                `json:"exportable"`
	AllowPlaintextBackup bool                `json:"allow_plaintext_backup"`
	DeletionAllowed      bool                `json:"deletion_allowed"`
	AutoRotatePeriod     time.Duration       `json:"auto_rotate_period"`
	KeySize              int                 `json:"key_size,omitempty"`
	LatestVersion        int                 `json:"latest_version"`
	MinDecryptionVersion int                 `json:"min_decryption_version"`
	MinEncryptionVersion int                 `json:"min_encryption_version"`
	MinAvailableVersion  int                 `json:"min_available_version"`
	LastRotated          time.Time           `json:"last_rotated"`
	Versions             map[int]*keyVersion `json:"versions"`
}

// clone returns a copy of r that can be changed without touching r. The
// versions themselves are shared: they are immutable.
func (r *ring) clone() *ring {
	c := *r
	c.Versions = maps.Clone(r.Versions)
	return &c
}

// rotate adds a new latest version generated at now.
func (r *ring) rotate(now time.Time) error {
	v, err := generate(r.Type, r.KeySize, now)
	if err != nil {
		return err
	}
	r.LatestVersion++
	if r.Versions == nil {
		r.Versions = make(map[int]*keyVersion)
	}
	r.Versions[r.LatestVersion] = v
	r.LastRotated = now
	return nil
}

// validate checks the invariants of a ring read from storage or a backup.
func (r *ring) validate() error {
	if !r.Type.known() {
		return errors.New("unknown key type")
	}
	if err := checkName(r.Name); err != nil {
		return err
	}
	if r.Convergent && !r.Derived {
		return errors.New("convergent encryption without derivation")
	}
	if r.Derived && !r.Type.derivation() {
		return errors.New("derivation not supported by the key type")
	}
	if r.Type == typeHMAC && (r.KeySize < minHMACKeySize || r.KeySize > maxHMACKeySize) {
		return errors.New("bad hmac key size")
	}
	if r.LatestVersion < 1 || r.MinAvailableVersion < 0 || r.MinAvailableVersion > r.LatestVersion ||
		r.MinDecryptionVersion < 1 || r.MinDecryptionVersion > r.LatestVersion ||
		r.MinEncryptionVersion < 0 || r.MinEncryptionVersion > r.LatestVersion ||
		r.AutoRotatePeriod < 0 {
		return errors.New("inconsistent versions")
	}
	first := max(r.MinAvailableVersion, 1)
	if len(r.Versions) != r.LatestVersion-first+1 {
		return errors.New("missing or extra versions")
	}
	for n := first; n <= r.LatestVersion; n++ {
		v := r.Versions[n]
		if v == nil || len(v.HMACKey) == 0 {
			return fmt.Errorf("version %d missing", n)
		}
	}
	return nil
}

// generate makes the material of one new version of a key of type t.
func generate(t keyType, keySize int, now time.Time) (*keyVersion, error) {
	v := &keyVersion{Created: now.UTC(), HMACKey: randomBytes(hmacKeySize)}
	switch t {
	case typeAES128:
		v.Key = randomBytes(16)
	case typeAES256, typeChaCha:
		v.Key = randomBytes(32)
	case typeHMAC:
		v.Key = randomBytes(keySize)
		v.HMACKey = v.Key
	case typeEd25519:
		v.Key = randomBytes(ed25519.SeedSize)
	case typeECDSAP256, typeECDSAP384:
		priv, err := ecdsa.GenerateKey(curveOf(t), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate ecdsa key: %w", err)
		}
		if v.Private, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
			return nil, fmt.Errorf("marshal ecdsa key: %w", err)
		}
	case typeRSA2048, typeRSA3072, typeRSA4096:
		priv, err := rsa.GenerateKey(rand.Reader, rsaBits(t))
		if err != nil {
			return nil, fmt.Errorf("generate rsa key: %w", err)
		}
		if v.Private, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
			return nil, fmt.Errorf("marshal rsa key: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown key type %q", t)
	}
	return v, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return b
}

// material is a key version made ready for use: ciphers and parsed keys
// built once when the ring is loaded. It is read-only and shared.
type material struct {
	version *keyVersion
	aead    cipher.AEAD // non-derived AES (random nonce inside) or ChaCha20-Poly1305
	ed      ed25519.PrivateKey
	ec      *ecdsa.PrivateKey
	rsa     *rsa.PrivateKey
}

// key is a loaded ring with its materials, as the cache holds it. Both are
// read-only: a change builds a new key.
type key struct {
	ring      *ring
	materials map[int]*material
}

// newKey prepares every version of r. Versions already prepared in prev
// (the key's previous snapshot, or nil) are reused.
func newKey(r *ring, prev *key) (*key, error) {
	k := &key{ring: r, materials: make(map[int]*material, len(r.Versions))}
	for n, v := range r.Versions {
		if prev != nil {
			if m := prev.materials[n]; m != nil && m.version == v {
				k.materials[n] = m
				continue
			}
		}
		m, err := prepare(r, v)
		if err != nil {
			return nil, fmt.Errorf("prepare version %d: %w", n, err)
		}
		k.materials[n] = m
	}
	return k, nil
}

func prepare(r *ring, v *keyVersion) (*material, error) {
	m := &material{version: v}
	t := r.Type
	switch {
	case t.symmetric():
		if r.Derived {
			return m, checkSymmetricKey(t, v.Key)
		}
		a, err := newAEAD(t, v.Key, true)
		if err != nil {
			return nil, err
		}
		m.aead = a
	case t == typeEd25519:
		if len(v.Key) != ed25519.SeedSize {
			return nil, errors.New("bad ed25519 seed")
		}
		if !r.Derived {
			m.ed = ed25519.NewKeyFromSeed(v.Key)
		}
	case t.ecdsa():
		priv, err := x509.ParsePKCS8PrivateKey(v.Private)
		if err != nil {
			return nil, fmt.Errorf("parse ecdsa key: %w", err)
		}
		ec, ok := priv.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != curveOf(t) {
			return nil, errors.New("ecdsa key of the wrong kind")
		}
		m.ec = ec
	case t.rsa():
		priv, err := x509.ParsePKCS8PrivateKey(v.Private)
		if err != nil {
			return nil, fmt.Errorf("parse rsa key: %w", err)
		}
		rk, ok := priv.(*rsa.PrivateKey)
		if !ok || rk.N.BitLen() != rsaBits(t) {
			return nil, errors.New("rsa key of the wrong kind")
		}
		m.rsa = rk
	case t == typeHMAC:
		if len(v.Key) < minHMACKeySize {
			return nil, errors.New("bad hmac key")
		}
	}
	return m, nil
}

func rsaBits(t keyType) int {
	switch t {
	case typeRSA2048:
		return 2048
	case typeRSA3072:
		return 3072
	case typeRSA4096:
		return 4096
	}
	return 0
}

func checkSymmetricKey(t keyType, k []byte) error {
	want := 32
	if t == typeAES128 {
		want = 16
	}
	if len(k) != want {
		return errors.New("bad symmetric key length")
	}
	return nil
}

// newAEAD builds the AEAD of a symmetric key. With randomNonce, an AES
// AEAD generates its own nonce and prefixes it to the ciphertext
// (NonceSize() is 0); otherwise the caller supplies 12-byte nonces.
func newAEAD(t keyType, k []byte, randomNonce bool) (cipher.AEAD, error) {
	if err := checkSymmetricKey(t, k); err != nil {
		return nil, err
	}
	if t == typeChaCha {
		return chacha20poly1305.New(k)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	if randomNonce {
		return cipher.NewGCMWithRandomNonce(block)
	}
	return cipher.NewGCM(block)
}

// derive returns the per-context key of a derived ring's version: HKDF
// with SHA-256 over the version key, the context as info, of the same
// length as the version key.
func derive(secret, context []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, string(context), len(secret))
}

// convergentNonce is the deterministic nonce of convergent encryption: an
// HMAC-SHA256, keyed by a key derived for the context, of the plaintext.
// Equal plaintexts under one context get equal nonces; nothing else does
// (short of an HMAC collision).
func convergentNonce(v *keyVersion, context, plaintext []byte) ([]byte, error) {
	nk, err := hkdf.Key(sha256.New, v.HMACKey, nil, "coffer transit convergent nonce\x00"+string(context), 32)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, nk)
	mac.Write(plaintext)
	return mac.Sum(nil)[:12], nil
}

// curveOf returns the curve of an ECDSA key type.
func curveOf(t keyType) elliptic.Curve {
	if t == typeECDSAP384 {
		return elliptic.P384()
	}
	return elliptic.P256()
}
