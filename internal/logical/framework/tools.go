package framework

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Vault's random and hash utilities, served in two places with the same
// behaviour: sys/tools/random and sys/tools/hash by core, random and hash
// by the transit engine. [ToolPaths] returns their path table.

// Bounds of the random endpoints.
const (
	defaultRandomBytes = 32
	maxRandomBytes     = 128 * 1024
)

// ToolPaths returns the paths random[/:source][/:bytes] and
// hash[/:algorithm] under prefix (such as "tools/" in sys, "" in transit),
// answering updates.
func ToolPaths(prefix string) []*Path {
	return []*Path{
		{
			Pattern:    prefix + `random(?:/(?P<source>platform|seal|all))?(?:/(?P<bytes>[^/]+))?`,
			Operations: map[logical.Operation]Handler{logical.UpdateOperation: Typed(random)},
			Synopsis:   "Generate random bytes.",
		},
		{
			Pattern:    prefix + `hash(?:/(?P<algorithm>[^/]+))?`,
			Operations: map[logical.Operation]Handler{logical.UpdateOperation: Typed(hashData)},
			Synopsis:   "Hash data.",
		},
	}
}

// randomInput is the body of random[/:source][/:bytes].
type randomInput struct {
	Bytes  Int    `json:"bytes"`
	Format string `json:"format"`
	Source string `json:"source"`
}

// randomResponse is the data of random.
type randomResponse struct {
	RandomBytes string `json:"random_bytes"`
}

// random answers with random bytes from crypto/rand. Every source
// ("platform", "seal", "all") is the platform's generator: Coffer's seals
// offer no entropy of their own.
func random(_ context.Context, _ *logical.Request, m *Match, in *randomInput) (*logical.Response, error) {
	n := int64(in.Bytes)
	if s := m.Get("bytes"); s != "" {
		v, err := strconv.ParseUint(s, 10, 31)
		if err != nil || s[0] == '0' {
			return nil, logical.InvalidRequest("invalid byte count in the path")
		}
		n = int64(v)
	}
	if n == 0 {
		n = defaultRandomBytes
	}
	if n < 1 || n > maxRandomBytes {
		return nil, logical.InvalidRequest("invalid \"bytes\": want 1 to %d", maxRandomBytes)
	}
	switch in.Source {
	case "", "platform", "seal", "all":
	default:
		return nil, logical.InvalidRequest("invalid \"source\": want \"platform\", \"seal\" or \"all\"")
	}
	enc, err := encoder(in.Format, "base64")
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return &logical.Response{Data: &randomResponse{RandomBytes: enc(b)}}, nil
}

// encoder returns the output encoding named format (def when empty).
func encoder(format, def string) (func([]byte) string, error) {
	if format == "" {
		format = def
	}
	switch format {
	case "base64":
		return base64.StdEncoding.EncodeToString, nil
	case "hex":
		return hex.EncodeToString, nil
	}
	return nil, logical.InvalidRequest("invalid \"format\": want \"base64\" or \"hex\"")
}

// hashInput is the body of hash[/:algorithm].
type hashInput struct {
	Input     *string `json:"input"`
	Algorithm string  `json:"algorithm"`
	Format    string  `json:"format"`
}

// hashResponse is the data of hash.
type hashResponse struct {
	Sum string `json:"sum"`
}

// hashData answers with the digest of the base64 input: sha2-256 unless
// the path or the body names another algorithm (the path wins).
func hashData(_ context.Context, _ *logical.Request, m *Match, in *hashInput) (*logical.Response, error) {
	if in.Input == nil {
		return nil, logical.InvalidRequest("missing \"input\" to hash")
	}
	input, err := base64.StdEncoding.DecodeString(*in.Input)
	if err != nil {
		return nil, logical.InvalidRequest("invalid \"input\": not base64")
	}
	name := "sha2-256"
	for _, n := range []string{m.Get("algorithm"), in.Algorithm} {
		if n != "" {
			name = n
			break
		}
	}
	newHash := HashByName(name)
	if newHash == nil {
		return nil, logical.InvalidRequest("unsupported hash algorithm %q", name)
	}
	enc, err := encoder(in.Format, "hex")
	if err != nil {
		return nil, err
	}
	d := newHash()
	d.Write(input)
	return &logical.Response{Data: &hashResponse{Sum: enc(d.Sum(nil))}}, nil
}

// HashByName returns the constructor of the hash Vault's hash endpoints
// call name (sha2-224, sha2-256, sha2-384, sha2-512, sha3-224, sha3-256,
// sha3-384, sha3-512), or nil for any other name.
func HashByName(name string) func() hash.Hash {
	switch name {
	case "sha2-224":
		return sha256.New224
	case "sha2-256":
		return sha256.New
	case "sha2-384":
		return sha512.New384
	case "sha2-512":
		return sha512.New
	case "sha3-224":
		return func() hash.Hash { return sha3.New224() }
	case "sha3-256":
		return func() hash.Hash { return sha3.New256() }
	case "sha3-384":
		return func() hash.Hash { return sha3.New384() }
	case "sha3-512":
		return func() hash.Hash { return sha3.New512() }
	}
	return nil
}
