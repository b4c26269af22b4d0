package transit

import (
	"context"
	"encoding/base64"
	"encoding/hex"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Bounds of random/.
const (
	defaultRandomBytes = 32
	maxRandomBytes     = 128 * 1024
)

// randomInput is the body of random[/:source][/:bytes].
type randomInput struct {
	Bytes  framework.Int `json:"bytes"`
	Format string        `json:"format"`
	Source string        `json:"source"`
}

// randomResponse is the data of random/.
type randomResponse struct {
	RandomBytes string `json:"random_bytes"`
}

// random answers with random bytes from crypto/rand. Every source
// ("platform", "seal", "all") is the platform's generator: Coffer's seals
// offer no entropy of their own.
func (b *backend) random(_ context.Context, _ *logical.Request, m *framework.Match, in *randomInput) (*logical.Response, error) {
	n := int64(in.Bytes)
	if s := m.Get("bytes"); s != "" {
		v, err := parseVersion(s)
		if err != nil {
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
	return &logical.Response{Data: &randomResponse{RandomBytes: enc(randomBytes(int(n)))}}, nil
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

// hashResponse is the data of hash/.
type hashResponse struct {
	Sum string `json:"sum"`
}

func (b *backend) hash(_ context.Context, _ *logical.Request, m *framework.Match, in *hashInput) (*logical.Response, error) {
	if in.Input == nil {
		return nil, logical.InvalidRequest("missing \"input\" to hash")
	}
	input, err := decodeB64("input", *in.Input)
	if err != nil {
		return nil, err
	}
	h, err := pickHash(false, m.Get("algorithm"), in.Algorithm)
	if err != nil {
		return nil, err
	}
	enc, err := encoder(in.Format, "hex")
	if err != nil {
		return nil, err
	}
	d := h.new()
	d.Write(input)
	return &logical.Response{Data: &hashResponse{Sum: enc(d.Sum(nil))}}, nil
}
