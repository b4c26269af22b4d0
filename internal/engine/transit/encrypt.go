package transit

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// The client-safe failures of cryptographic operations. They say what
// failed, never why in a way that helps an attacker.
var (
	errAuth = &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid ciphertext: message authentication failed"}
)

// encryptItem is one plaintext to encrypt: the request itself or one
// batch_input entry.
type encryptItem struct {
	Plaintext      *string       `json:"plaintext"`
	Context        string        `json:"context"`
	KeyVersion     framework.Int `json:"key_version"`
	Nonce          string        `json:"nonce"`
	AssociatedData string        `json:"associated_data"`
	Reference      string        `json:"reference"`
}

// encryptInput is the body of encrypt/:name.
type encryptInput struct {
	encryptItem
	Type                 string         `json:"type"`
	ConvergentEncryption framework.Bool `json:"convergent_encryption"`
	batchInput
}

// encryptResult is the answer for one encrypted item.
type encryptResult struct {
	Ciphertext string `json:"ciphertext,omitempty"`
	KeyVersion int    `json:"key_version,omitempty"`
	batchMark
}

func (b *backend) encrypt(ctx context.Context, req *logical.Request, m *framework.Match, in *encryptInput) (*logical.Response, error) {
	name := m.Get("name")
	if err := checkName(name); err != nil {
		return nil, err
	}
	items, err := batchItems[encryptItem](in.PartialFailureResponseCode, in.BatchInput)
	if err != nil {
		return nil, err
	}
	k, err := b.key(ctx, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		if k, err = b.upsert(ctx, req, name, in, items); err != nil {
			return nil, err
		}
	}
	if items == nil && in.Plaintext == nil {
		return nil, logical.InvalidRequest("missing \"plaintext\" to encrypt")
	}
	return answer(&in.encryptItem, items, in.PartialFailureResponseCode, func(it *encryptItem) (*encryptResult, error) {
		return encryptOne(k, it)
	})
}

// upsert creates the key an encryption names when the request is a
// create (core has checked the caller may create it) and config/keys does
// not disable upserts, as Vault does. The key is derived when the request
// gives a context.
func (b *backend) upsert(ctx context.Context, req *logical.Request, name string, in *encryptInput, items []encryptItem) (*key, error) {
	if req.Operation != logical.CreateOperation {
		return nil, logical.InvalidRequest(errEncryptionKeyNotFound)
	}
	cfg, err := b.keysConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.DisableUpsert {
		return nil, logical.InvalidRequest(errEncryptionKeyNotFound)
	}
	derived := in.Context != ""
	for _, it := range items {
		derived = derived || it.Context != ""
	}
	return b.create(ctx, name, &createInput{
		Type:                 in.Type,
		Derived:              framework.Bool(derived),
		ConvergentEncryption: in.ConvergentEncryption,
	})
}

// encryptVersion picks the version an encryption or signature uses:
// requested, or the latest when 0.
func encryptVersion(k *key, requested framework.Int) (int, *material, error) {
	r := k.ring
	v := int64(requested)
	if v == 0 {
		v = int64(r.LatestVersion)
	}
	switch {
	case v < 0 || v > int64(r.LatestVersion):
		return 0, nil, logical.InvalidRequest("invalid key version: want 0 for the latest or a version up to %d", r.LatestVersion)
	case r.MinEncryptionVersion > 0 && v < int64(r.MinEncryptionVersion):
		return 0, nil, logical.InvalidRequest("key version %d is below the key's \"min_encryption_version\"", v)
	}
	m := k.materials[int(v)]
	if m == nil {
		return 0, nil, logical.InvalidRequest("key version %d is no longer available", v)
	}
	return int(v), m, nil
}

// decryptVersion checks the version a ciphertext or signature names.
func decryptVersion(k *key, v int) (*material, error) {
	r := k.ring
	if v < r.MinDecryptionVersion {
		return nil, logical.InvalidRequest("key version %d is disallowed by the key's \"min_decryption_version\" (too old)", v)
	}
	m := k.materials[v]
	if m == nil {
		return nil, logical.InvalidRequest("invalid key version %d", v)
	}
	return m, nil
}

// contextFor decodes an item's context: required for derived keys and
// ignored otherwise.
func contextFor(k *key, b64 string) ([]byte, error) {
	if !k.ring.Derived {
		return nil, nil
	}
	if b64 == "" {
		return nil, logical.InvalidRequest("missing \"context\": the key is derived, so every request must give a context")
	}
	return decodeB64("context", b64)
}

// aeadFor returns the AEAD of a symmetric version for a context, and
// whether its nonces must be convergent. Non-derived keys use the AEAD
// built at load time.
func aeadFor(k *key, m *material, context []byte) (cipher.AEAD, error) {
	if !k.ring.Derived {
		return m.aead, nil
	}
	dk, err := derive(m.version.Key, context)
	if err != nil {
		return nil, err
	}
	return newAEAD(k.ring.Type, dk, !k.ring.Convergent)
}

// encryptOne encrypts one item with k.
func encryptOne(k *key, it *encryptItem) (*encryptResult, error) {
	r := k.ring
	if !r.Type.encryption() {
		return nil, logical.InvalidRequest("key type %q does not support encryption", r.Type)
	}
	if it.Plaintext == nil {
		return nil, logical.InvalidRequest("missing \"plaintext\" to encrypt")
	}
	pt, err := decodeB64("plaintext", *it.Plaintext)
	if err != nil {
		return nil, err
	}
	ver, m, err := encryptVersion(k, it.KeyVersion)
	if err != nil {
		return nil, err
	}
	ct, err := seal(k, m, pt, it)
	if err != nil {
		return nil, err
	}
	return &encryptResult{Ciphertext: formatVersioned(ver, ct), KeyVersion: ver}, nil
}

// seal encrypts pt with version m of k as an item asks.
func seal(k *key, m *material, pt []byte, it *encryptItem) ([]byte, error) {
	r := k.ring
	if it.Nonce != "" {
		if !r.Convergent {
			return nil, logical.InvalidRequest("a \"nonce\" may only be given for convergent encryption")
		}
		// Accepted for clients written for convergent keys of old Vault
		// releases; the nonce is always derived from the plaintext.
		if n, err := decodeB64("nonce", it.Nonce); err != nil || len(n) != 12 {
			return nil, logical.InvalidRequest("invalid \"nonce\": want 12 bytes in base64")
		}
	}
	ad, err := decodeB64("associated_data", it.AssociatedData)
	if err != nil {
		return nil, err
	}
	if r.Type.rsa() {
		if len(ad) > 0 {
			return nil, logical.InvalidRequest("\"associated_data\" is not supported for RSA keys")
		}
		ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &m.rsa.PublicKey, pt, nil)
		if err != nil {
			return nil, logical.InvalidRequest("plaintext too long for this RSA key")
		}
		return ct, nil
	}
	kctx, err := contextFor(k, it.Context)
	if err != nil {
		return nil, err
	}
	a, err := aeadFor(k, m, kctx)
	if err != nil {
		return nil, err
	}
	if a.NonceSize() == 0 {
		return a.Seal(nil, nil, pt, ad), nil
	}
	var nonce []byte
	if r.Convergent {
		if nonce, err = convergentNonce(m.version, kctx, pt); err != nil {
			return nil, err
		}
	} else {
		nonce = randomBytes(a.NonceSize())
	}
	out := make([]byte, len(nonce), len(nonce)+len(pt)+a.Overhead())
	copy(out, nonce)
	return a.Seal(out, nonce, pt, ad), nil
}

// decryptItem is one ciphertext to decrypt.
type decryptItem struct {
	Ciphertext     string `json:"ciphertext"`
	Context        string `json:"context"`
	Nonce          string `json:"nonce"`
	AssociatedData string `json:"associated_data"`
	Reference      string `json:"reference"`
}

// decryptInput is the body of decrypt/:name.
type decryptInput struct {
	decryptItem
	batchInput
}

// decryptResult is the answer for one decrypted item.
type decryptResult struct {
	Plaintext string `json:"plaintext"`
	batchMark
}

func (b *backend) decrypt(ctx context.Context, _ *logical.Request, m *framework.Match, in *decryptInput) (*logical.Response, error) {
	items, err := batchItems[decryptItem](in.PartialFailureResponseCode, in.BatchInput)
	if err != nil {
		return nil, err
	}
	k, err := b.mustKey(ctx, m.Get("name"), errEncryptionKeyNotFound)
	if err != nil {
		return nil, err
	}
	return answer(&in.decryptItem, items, in.PartialFailureResponseCode, func(it *decryptItem) (*decryptResult, error) {
		pt, err := decryptOne(k, it)
		if err != nil {
			return nil, err
		}
		return &decryptResult{Plaintext: base64.StdEncoding.EncodeToString(pt)}, nil
	})
}

// decryptOne decrypts one item with k. Every cryptographic failure gives
// the same error.
func decryptOne(k *key, it *decryptItem) ([]byte, error) {
	r := k.ring
	if !r.Type.encryption() {
		return nil, logical.InvalidRequest("key type %q does not support decryption", r.Type)
	}
	if it.Ciphertext == "" {
		return nil, logical.InvalidRequest("missing \"ciphertext\" to decrypt")
	}
	ver, ct, err := parseVersioned("ciphertext", it.Ciphertext)
	if err != nil {
		return nil, err
	}
	m, err := decryptVersion(k, ver)
	if err != nil {
		return nil, err
	}
	if it.Nonce != "" && !r.Convergent {
		return nil, logical.InvalidRequest("a \"nonce\" may only be given for convergent encryption")
	}
	ad, err := decodeB64("associated_data", it.AssociatedData)
	if err != nil {
		return nil, err
	}
	if r.Type.rsa() {
		if len(ad) > 0 {
			return nil, logical.InvalidRequest("\"associated_data\" is not supported for RSA keys")
		}
		pt, err := rsa.DecryptOAEP(sha256.New(), nil, m.rsa, ct, nil)
		if err != nil {
			return nil, errAuth
		}
		return pt, nil
	}
	kctx, err := contextFor(k, it.Context)
	if err != nil {
		return nil, err
	}
	a := m.aead
	if r.Derived {
		dk, err := derive(m.version.Key, kctx)
		if err != nil {
			return nil, err
		}
		// Convergent ciphertexts carry their nonce in front like random
		// ones, so the prefix-reading AEAD opens both.
		if a, err = newAEAD(r.Type, dk, true); err != nil {
			return nil, err
		}
	}
	var pt []byte
	if ns := a.NonceSize(); ns == 0 {
		pt, err = a.Open(nil, nil, ct, ad)
	} else if len(ct) < ns+a.Overhead() {
		return nil, errAuth
	} else {
		pt, err = a.Open(nil, ct[:ns], ct[ns:], ad)
	}
	if err != nil {
		return nil, errAuth
	}
	return pt, nil
}

// rewrapItem is one ciphertext to re-encrypt.
type rewrapItem struct {
	Ciphertext     string        `json:"ciphertext"`
	Context        string        `json:"context"`
	Nonce          string        `json:"nonce"`
	KeyVersion     framework.Int `json:"key_version"`
	AssociatedData string        `json:"associated_data"`
	Reference      string        `json:"reference"`
}

// rewrapInput is the body of rewrap/:name.
type rewrapInput struct {
	rewrapItem
	batchInput
}

func (b *backend) rewrap(ctx context.Context, _ *logical.Request, m *framework.Match, in *rewrapInput) (*logical.Response, error) {
	items, err := batchItems[rewrapItem](in.PartialFailureResponseCode, in.BatchInput)
	if err != nil {
		return nil, err
	}
	k, err := b.mustKey(ctx, m.Get("name"), errEncryptionKeyNotFound)
	if err != nil {
		return nil, err
	}
	return answer(&in.rewrapItem, items, in.PartialFailureResponseCode, func(it *rewrapItem) (*encryptResult, error) {
		return rewrapOne(k, it)
	})
}

// rewrapOne decrypts an item and encrypts the plaintext again with the
// requested (by default the latest) version.
func rewrapOne(k *key, it *rewrapItem) (*encryptResult, error) {
	pt, err := decryptOne(k, &decryptItem{Ciphertext: it.Ciphertext, Context: it.Context, Nonce: it.Nonce, AssociatedData: it.AssociatedData})
	if err != nil {
		return nil, err
	}
	s := base64.StdEncoding.EncodeToString(pt)
	return encryptOne(k, &encryptItem{Plaintext: &s, Context: it.Context, KeyVersion: it.KeyVersion, Nonce: it.Nonce, AssociatedData: it.AssociatedData})
}

// datakeyInput is the body of datakey/:kind/:name.
type datakeyInput struct {
	Context        string        `json:"context"`
	Nonce          string        `json:"nonce"`
	Bits           framework.Int `json:"bits"`
	KeyVersion     framework.Int `json:"key_version"`
	AssociatedData string        `json:"associated_data"`
}

// datakeyResponse is the data of a datakey answer; Plaintext is empty for
// "wrapped".
type datakeyResponse struct {
	Ciphertext string `json:"ciphertext"`
	KeyVersion int    `json:"key_version"`
	Plaintext  string `json:"plaintext,omitempty"`
}

func (b *backend) datakey(ctx context.Context, _ *logical.Request, m *framework.Match, in *datakeyInput) (*logical.Response, error) {
	bits := in.Bits
	if bits == 0 {
		bits = 256
	}
	if bits != 128 && bits != 256 && bits != 512 {
		return nil, logical.InvalidRequest("invalid \"bits\": want 128, 256 or 512")
	}
	k, err := b.mustKey(ctx, m.Get("name"), errEncryptionKeyNotFound)
	if err != nil {
		return nil, err
	}
	dk := base64.StdEncoding.EncodeToString(randomBytes(int(bits) / 8))
	res, err := encryptOne(k, &encryptItem{Plaintext: &dk, Context: in.Context, Nonce: in.Nonce, KeyVersion: in.KeyVersion, AssociatedData: in.AssociatedData})
	if err != nil {
		return nil, err
	}
	out := &datakeyResponse{Ciphertext: res.Ciphertext, KeyVersion: res.KeyVersion}
	if m.Get("kind") == "plaintext" {
		out.Plaintext = dk
	}
	return &logical.Response{Data: out}, nil
}
