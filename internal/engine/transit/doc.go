// Package transit is the transit secrets engine: encryption as a service
// with Vault's transit API. It keeps named, versioned key rings and uses
// them to encrypt, decrypt, rewrap, sign, verify and HMAC data sent by
// clients, which never see the keys unless a key is made exportable.
//
// # Keys
//
// Key types are aes128-gcm96, aes256-gcm96, chacha20-poly1305 (AEAD,
// optionally derived per context with HKDF-SHA256, and convergent when
// derived), ed25519 (optionally derived), ecdsa-p256, ecdsa-p384,
// rsa-2048, rsa-3072, rsa-4096 (RSA-OAEP with SHA-256 for encryption; PSS
// or PKCS #1 v1.5 signatures) and hmac. Every version also carries an HMAC
// key for the hmac/ endpoint. All cryptography is Go's standard library
// and golang.org/x/crypto.
//
// Encrypting with a key that does not exist creates it when core has
// turned the request into a create (the caller may create) and
// config/keys does not set disable_upsert. Every other operation on a
// missing key answers ErrInvalidRequest with Vault's exact words
// ("encryption key not found", "signing key not found", "signature
// verification key not found"); export answers not found (404).
//
// Ciphertexts, signatures and HMACs are "vault:v<version>:<base64>", so
// existing clients parse them; an AEAD ciphertext is nonce || sealed data.
//
// # Storage layout
//
// Each key ring is one JSON value at "keys/<name>" in the mount's
// storage, which the barrier encrypts. It holds every retained version and
// the settings, including the time of the last rotation, so that
// automatic rotation ([logical.Periodic]) keeps its schedule across
// restarts. A backup is the same ring, base64-encoded JSON.
//
// # Concurrency and caching
//
// A backend is safe for concurrent use. Loaded rings are cached by name
// with their ciphers and parsed keys built once per version, so
// encryption, decryption, signing and verification read no storage.
// Writers of one key (create, config, rotate, trim, restore, delete,
// auto-rotation) are serialised by a striped lock; each change is one
// storage write followed by the replacement of the cached ring, which
// readers see atomically. The cache assumes this process is the only
// writer of the mount's storage.
//
// # Batches
//
// Requests with batch_input answer each item in batch_results. When an
// item fails Vault answers 400; Coffer, whose backends cannot attach a body
// to an error status, answers with an ErrInvalidRequest error listing the
// failed items, or with the full results when the client asked for a 2xx
// partial_failure_response_code and some items succeeded.
//
// This package imports logical and logical/framework, never core,
// httpapi or testing.
package transit
