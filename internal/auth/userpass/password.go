package userpass

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// algArgon2id names the only hash algorithm in use.
const algArgon2id = "argon2id"

// Production Argon2id parameters; see the package comment for how they
// were chosen. Changing them affects new and changed passwords only.
const (
	hashTime      = 2
	hashMemoryKiB = 19 * 1024
	hashThreads   = 1
	hashKeyLen    = 32
	hashSaltLen   = 16
)

// hashParams are the Argon2id cost parameters of new hashes. A backend
// holds its own; only tests build one with other values, to run fast.
type hashParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// productionParams returns the parameters every mount uses.
func productionParams() hashParams {
	return hashParams{Time: hashTime, MemoryKiB: hashMemoryKiB, Threads: hashThreads}
}

// Bounds on stored parameters, so that a corrupted or hostile entry cannot
// make one login cost unbounded time or memory.
const (
	maxHashTime      = 16
	maxHashMemoryKiB = 1 << 20 // 1 GiB
	maxHashThreads   = 16
)

// maxPasswordBytes bounds a submitted password. Argon2 would take more, but
// nothing legitimate needs more and a bound keeps requests cheap to refuse.
const maxPasswordBytes = 4096

// passwordHash is a stored Argon2id password hash with its parameters.
type passwordHash struct {
	Algorithm string `json:"alg"`
	Version   int    `json:"v"`
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
	Salt      []byte `json:"salt"`
	Key       []byte `json:"key"`
}

// hashPassword hashes password with a fresh random salt under p.
func hashPassword(password string, p hashParams) (passwordHash, error) {
	salt := make([]byte, hashSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return passwordHash{}, fmt.Errorf("read random salt: %w", err)
	}
	return passwordHash{
		Algorithm: algArgon2id,
		Version:   argon2.Version,
		Time:      p.Time,
		MemoryKiB: p.MemoryKiB,
		Threads:   p.Threads,
		Salt:      salt,
		Key:       argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, hashKeyLen),
	}, nil
}

// verify reports whether password matches h, comparing in constant time.
// A hash with an unknown algorithm or out-of-bounds parameters matches
// nothing (and costs nothing: such entries are not made by this package).
func (h *passwordHash) verify(password string) bool {
	if h.Algorithm != algArgon2id || h.Version != argon2.Version ||
		h.Time == 0 || h.Time > maxHashTime || h.MemoryKiB == 0 || h.MemoryKiB > maxHashMemoryKiB ||
		h.Threads == 0 || h.Threads > maxHashThreads || len(h.Key) < 16 || len(h.Key) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), h.Salt, h.Time, h.MemoryKiB, h.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(got, h.Key) == 1
}
