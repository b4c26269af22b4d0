// Package barrier is Coffer's encryption barrier: a [storage.Storage] that
// encrypts every value before it reaches physical storage and authenticates
// it on the way back.
//
// # Ciphertext format
//
// Every value is sealed with AES-256-GCM and a random 96-bit nonce
// (cipher.NewGCMWithRandomNonce):
//
//	version (1 byte, 0x01) | term (4 bytes, big endian) | nonce (12) | ciphertext | tag (16)
//
// The additional authenticated data is the 5-byte header followed by the
// storage key (path) the value is stored under, so a value copied to another
// key, or relabelled with another term or version, fails authentication.
// [Encrypt] and [Decrypt] are the single implementation of this format; the
// seal uses them too.
//
// # Keyring
//
// Data keys are numbered by term. The active term encrypts; every term in
// the keyring decrypts. The keyring (terms with their keys and install
// times, the active term, and the root key) is stored as JSON at
// "core/keyring", encrypted with the root key in the same format with term 0.
// The root key itself is protected by the seal (package seal), which keeps
// its own data at "core/seal-config" and "core/root-key" directly in
// physical storage. The barrier refuses all operations on these three
// reserved keys.
//
// # Rotation policy
//
// Random 96-bit nonces must not be used more than 2^32 times under one key.
// The barrier counts encryptions per term and rotates automatically when the
// active term reaches [DefaultRotateAfter] (2^30) encryptions, a quarter of
// that limit (nonce collision probability below 2^-37). The count survives
// restarts pessimistically: the keyring persists a reservation (a count the
// term may reach before the keyring must be written again, in batches of
// [DefaultReserveBatch]) and a term is never used beyond its persisted
// reservation, so a crash can only make the count too high, never too low.
// After unsealing, a term's count starts at its reservation.
//
// # Concurrency
//
// A [Barrier] is safe for concurrent use. A read-write mutex guards the
// keyring: encryption and decryption take it shared, so they run in
// parallel; unseal, seal and rotation take it exclusively. Cipher objects
// are built once per term and cached.
//
// This package imports only the standard library and internal/storage.
package barrier
