// Package pkcs11 is the "pkcs11" auto-unseal key source: a [seal.Wrapper]
// that encrypts the barrier's root key with an AES-256 key that lives in
// a hardware security module (or SoftHSM2) and never leaves it. The HSM is
// driven through its PKCS#11 library.
//
// # Configuration
//
// A user configures, with Vault's keys for seal "pkcs11" (the environment
// variable that overrides each one in brackets; reading them is the
// configuration loader's job):
//
//   - lib (VAULT_HSM_LIB): path of the vendor's PKCS#11 library, such as
//     /usr/lib/softhsm/libsofthsm2.so.
//   - slot (VAULT_HSM_SLOT) or token_label (VAULT_HSM_TOKEN_LABEL): which
//     token to use. With both, the token in the slot must have the label.
//   - pin (VAULT_HSM_PIN): the user PIN. It is never logged and never put
//     in an error.
//   - key_label (VAULT_HSM_KEY_LABEL): the label (CKA_LABEL) of the AES key;
//     key_id (VAULT_HSM_KEY_ID, hex) narrows the search to one CKA_ID.
//   - mechanism (VAULT_HSM_MECHANISM): a decimal or 0x-prefixed hexadecimal
//     mechanism number; only CKM_AES_GCM (0x1087, the default) is supported.
//   - generate_key (VAULT_HSM_GENERATE_KEY): create the key when no key has
//     the label. It is made as a token object that is private, sensitive
//     and not extractable, usable to encrypt and decrypt only, with a
//     random 8-byte CKA_ID.
//
// [New] connects at once: it loads the library, finds the token, logs in,
// and finds (or generates) the key, so a wrong PIN or a missing key is
// reported at start. A wrong PIN is a plain error, not [seal.ErrUnreachable]:
// retrying it could lock the token.
//
// # Ciphertext
//
// Wrap encrypts with AES-GCM in the HSM, with a 128-bit tag. The 12-byte
// IV is drawn from crypto/rand and handed to the HSM; an HSM that insists
// on its own IV (some do) writes it back, and the IV actually used is the
// one recorded. [seal.Blob.Ciphertext] is
//
//	version (1) | len(key id) (1) | key id | len(iv) (1) | iv | GCM ciphertext and tag
//
// [seal.Blob.KeyID] is the key's label and [seal.Blob.Mechanism] the
// mechanism number ("0x1087"). The additional data of GCM binds the header
// (version and CKA_ID), the label and the mechanism, so changing any of
// them fails with [seal.ErrUnwrap]. Unwrap uses the key the blob names,
// which need not be the configured one: a blob made before key_label was
// changed still opens while its key is in the token.
//
// # Sessions
//
// A wrapper holds one read-write session, logged in once, and serializes
// its operations on it (PKCS#11 allows one operation at a time per
// session; wrapping is rare). A session or device error (session closed or
// invalid, device error or removed, token not present, not logged in)
// closes the session, opens a new one and retries the operation once; if
// that fails too, the error wraps [seal.ErrUnreachable]. A blob the HSM
// refuses to decrypt gives [seal.ErrUnwrap].
//
// PKCS#11 keeps its state per process: C_Initialize, the login and the
// object handles are shared by every wrapper on the same library and token.
// So New accepts a library that is already initialized and a user already
// logged in, and Close closes the wrapper's session but neither finalizes
// nor unloads the library, which another wrapper in the process may use.
//
// # Build
//
// The package uses cgo (github.com/miekg/pkcs11 loads the library with
// dlopen). In a binary built with CGO_ENABLED=0, New returns an error
// saying so; the rest of Coffer does not need cgo.
//
// The package imports [seal] and no other Coffer package.
package pkcs11
