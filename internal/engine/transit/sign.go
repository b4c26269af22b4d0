package transit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// hashAlg is a hash function by its Vault name.
type hashAlg struct {
	id  crypto.Hash
	new func() hash.Hash
}

// hashByName returns the hash Vault calls name. sha1 is offered only for
// signatures (withSHA1), as in Vault.
func hashByName(name string, withSHA1 bool) (hashAlg, bool) {
	switch name {
	case "sha1":
		return hashAlg{crypto.SHA1, sha1.New}, withSHA1
	case "sha2-224":
		return hashAlg{crypto.SHA224, sha256.New224}, true
	case "sha2-256":
		return hashAlg{crypto.SHA256, sha256.New}, true
	case "sha2-384":
		return hashAlg{crypto.SHA384, sha512.New384}, true
	case "sha2-512":
		return hashAlg{crypto.SHA512, sha512.New}, true
	case "sha3-224":
		return hashAlg{crypto.SHA3_224, func() hash.Hash { return sha3.New224() }}, true
	case "sha3-256":
		return hashAlg{crypto.SHA3_256, func() hash.Hash { return sha3.New256() }}, true
	case "sha3-384":
		return hashAlg{crypto.SHA3_384, func() hash.Hash { return sha3.New384() }}, true
	case "sha3-512":
		return hashAlg{crypto.SHA3_512, func() hash.Hash { return sha3.New512() }}, true
	}
	return hashAlg{}, false
}

// pickHash chooses among the algorithm in the URL, the body fields (in
// order) and sha2-256.
func pickHash(withSHA1 bool, names ...string) (hashAlg, error) {
	name := "sha2-256"
	for _, n := range names {
		if n != "" {
			name = n
			break
		}
	}
	h, ok := hashByName(name, withSHA1)
	if !ok {
		return hashAlg{}, logical.InvalidRequest("unsupported hash algorithm %q", name)
	}
	return h, nil
}

// sigOptions are the settings shared by sign and verify.
type sigOptions struct {
	HashAlgorithm       string          `json:"hash_algorithm"`
	Algorithm           string          `json:"algorithm"`
	Prehashed           framework.Bool  `json:"prehashed"`
	SignatureAlgorithm  string          `json:"signature_algorithm"`
	MarshalingAlgorithm string          `json:"marshaling_algorithm"`
	SaltLength          json.RawMessage `json:"salt_length"`
}

// sigParams are sigOptions checked against a key.
type sigParams struct {
	hash      hashAlg
	prehashed bool
	pss       bool
	jws       bool
	saltLen   int
}

func (o *sigOptions) params(t keyType, urlAlg string) (*sigParams, error) {
	h, err := pickHash(true, urlAlg, o.HashAlgorithm, o.Algorithm)
	if err != nil {
		return nil, err
	}
	p := &sigParams{hash: h, prehashed: bool(o.Prehashed), saltLen: rsa.PSSSaltLengthAuto}
	switch o.SignatureAlgorithm {
	case "", "pss":
		p.pss = t.rsa()
	case "pkcs1v15":
	default:
		return nil, logical.InvalidRequest("invalid \"signature_algorithm\": want \"pss\" or \"pkcs1v15\"")
	}
	switch o.MarshalingAlgorithm {
	case "", "asn1":
	case "jws":
		p.jws = true
	default:
		return nil, logical.InvalidRequest("invalid \"marshaling_algorithm\": want \"asn1\" or \"jws\"")
	}
	if len(o.SaltLength) > 0 && string(o.SaltLength) != "null" {
		var s string
		if json.Unmarshal(o.SaltLength, &s) != nil {
			s = string(o.SaltLength)
		}
		switch s {
		case "auto":
		case "hash":
			p.saltLen = rsa.PSSSaltLengthEqualsHash
		default:
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 1<<16 {
				return nil, logical.InvalidRequest("invalid \"salt_length\": want \"auto\", \"hash\" or a non-negative integer")
			}
			p.saltLen = n
		}
	}
	if t == typeEd25519 && p.prehashed {
		return nil, logical.InvalidRequest("\"prehashed\" is not supported for ed25519 keys")
	}
	return p, nil
}

// digest returns what an ECDSA or RSA signature covers: the input itself
// when prehashed, else its hash. A prehashed input of the wrong length
// fails later for RSA; ECDSA signs any length, as in Vault.
func (p *sigParams) digest(input []byte) []byte {
	if p.prehashed {
		return input
	}
	h := p.hash.new()
	h.Write(input)
	return h.Sum(nil)
}

// signItem is one input to sign.
type signItem struct {
	Input     *string `json:"input"`
	Context   string  `json:"context"`
	Reference string  `json:"reference"`
}

// signInput is the body of sign/:name[/:algorithm].
type signInput struct {
	signItem
	sigOptions
	KeyVersion framework.Int `json:"key_version"`
	batchInput
}

// signResult is the answer for one signed item.
type signResult struct {
	Signature  string `json:"signature,omitempty"`
	KeyVersion int    `json:"key_version,omitempty"`
	PublicKey  string `json:"publickey,omitempty"`
	batchMark
}

func (b *backend) sign(ctx context.Context, _ *logical.Request, m *framework.Match, in *signInput) (*logical.Response, error) {
	items, err := batchItems[signItem](in.PartialFailureResponseCode, in.BatchInput)
	if err != nil {
		return nil, err
	}
	k, err := b.mustKey(ctx, m.Get("name"), errSigningKeyNotFound)
	if err != nil {
		return nil, err
	}
	if !k.ring.Type.signing() {
		return nil, logical.InvalidRequest("key type %q does not support signing", k.ring.Type)
	}
	p, err := in.params(k.ring.Type, m.Get("algorithm"))
	if err != nil {
		return nil, err
	}
	ver, mat, err := encryptVersion(k, in.KeyVersion)
	if err != nil {
		return nil, err
	}
	return answer(&in.signItem, items, in.PartialFailureResponseCode, func(it *signItem) (*signResult, error) {
		return signOne(k, ver, mat, p, it)
	})
}

// ed25519Key returns the signing key of an Ed25519 version, derived from
// the context for a derived ring.
func ed25519Key(k *key, m *material, context string) (ed25519.PrivateKey, error) {
	if !k.ring.Derived {
		return m.ed, nil
	}
	kctx, err := contextFor(k, context)
	if err != nil {
		return nil, err
	}
	seed, err := derive(m.version.Key, kctx)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func signOne(k *key, ver int, m *material, p *sigParams, it *signItem) (*signResult, error) {
	if it.Input == nil {
		return nil, logical.InvalidRequest("missing \"input\" to sign")
	}
	input, err := decodeB64("input", *it.Input)
	if err != nil {
		return nil, err
	}
	t := k.ring.Type
	res := &signResult{KeyVersion: ver}
	var sig []byte
	switch {
	case t == typeEd25519:
		priv, err := ed25519Key(k, m, it.Context)
		if err != nil {
			return nil, err
		}
		sig = ed25519.Sign(priv, input)
		if k.ring.Derived {
			res.PublicKey = base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
		}
	case t.ecdsa():
		d := p.digest(input)
		if p.jws {
			r, s, err := ecdsa.Sign(rand.Reader, m.ec, d)
			if err != nil {
				return nil, err
			}
			size := (m.ec.Curve.Params().BitSize + 7) / 8
			sig = make([]byte, 2*size)
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
		} else if sig, err = ecdsa.SignASN1(rand.Reader, m.ec, d); err != nil {
			return nil, err
		}
	case t.rsa():
		d := p.digest(input)
		if p.pss {
			sig, err = rsa.SignPSS(rand.Reader, m.rsa, p.hash.id, d, &rsa.PSSOptions{SaltLength: p.saltLen})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, m.rsa, p.hash.id, d)
		}
		if err != nil {
			return nil, logical.InvalidRequest("cannot sign with these settings")
		}
	default:
		return nil, logical.InvalidRequest("key type %q does not support signing", t)
	}
	res.Signature = formatVersioned(ver, sig)
	return res, nil
}

// verifyItem is one signature or HMAC to check.
type verifyItem struct {
	Input     *string `json:"input"`
	Signature string  `json:"signature"`
	HMAC      string  `json:"hmac"`
	Context   string  `json:"context"`
	Reference string  `json:"reference"`
}

// verifyInput is the body of verify/:name[/:algorithm].
type verifyInput struct {
	verifyItem
	sigOptions
	batchInput
}

// verifyResult is the answer for one checked item.
type verifyResult struct {
	Valid bool `json:"valid"`
	batchMark
}

func (b *backend) verify(ctx context.Context, _ *logical.Request, m *framework.Match, in *verifyInput) (*logical.Response, error) {
	items, err := batchItems[verifyItem](in.PartialFailureResponseCode, in.BatchInput)
	if err != nil {
		return nil, err
	}
	missing := errVerificationKeyNotFound
	if in.HMAC != "" || len(items) > 0 && items[0].HMAC != "" {
		missing = errEncryptionKeyNotFound // as Vault's HMAC verification answers
	}
	k, err := b.mustKey(ctx, m.Get("name"), missing)
	if err != nil {
		return nil, err
	}
	p, err := in.params(k.ring.Type, m.Get("algorithm"))
	if err != nil {
		return nil, err
	}
	return answer(&in.verifyItem, items, in.PartialFailureResponseCode, func(it *verifyItem) (*verifyResult, error) {
		ok, err := verifyOne(k, p, it)
		if err != nil {
			return nil, err
		}
		return &verifyResult{Valid: ok}, nil
	})
}

// verifyOne checks one signature or HMAC. A well-formed value that does
// not match is (false, nil); a malformed one is an error.
func verifyOne(k *key, p *sigParams, it *verifyItem) (bool, error) {
	if it.Input == nil {
		return false, logical.InvalidRequest("missing \"input\" to verify")
	}
	input, err := decodeB64("input", *it.Input)
	if err != nil {
		return false, err
	}
	switch {
	case it.Signature != "" && it.HMAC != "":
		return false, logical.InvalidRequest("give either \"signature\" or \"hmac\", not both")
	case it.HMAC != "":
		ver, mac, err := parseVersioned("hmac", it.HMAC)
		if err != nil {
			return false, err
		}
		m, err := decryptVersion(k, ver)
		if err != nil {
			return false, err
		}
		want := computeHMAC(p.hash, m.version.HMACKey, input)
		return hmac.Equal(mac, want), nil
	case it.Signature == "":
		return false, logical.InvalidRequest("missing \"signature\" or \"hmac\" to verify")
	}
	t := k.ring.Type
	if !t.signing() {
		return false, logical.InvalidRequest("key type %q does not support verification", t)
	}
	ver, sig, err := parseVersioned("signature", it.Signature)
	if err != nil {
		return false, err
	}
	m, err := decryptVersion(k, ver)
	if err != nil {
		return false, err
	}
	switch {
	case t == typeEd25519:
		priv, err := ed25519Key(k, m, it.Context)
		if err != nil {
			return false, err
		}
		return ed25519.Verify(priv.Public().(ed25519.PublicKey), input, sig), nil
	case t.ecdsa():
		d := p.digest(input)
		if !p.jws {
			return ecdsa.VerifyASN1(&m.ec.PublicKey, d, sig), nil
		}
		size := (m.ec.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false, nil
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(&m.ec.PublicKey, d, r, s), nil
	default: // RSA
		d := p.digest(input)
		if p.pss {
			return rsa.VerifyPSS(&m.rsa.PublicKey, p.hash.id, d, sig, &rsa.PSSOptions{SaltLength: p.saltLen}) == nil, nil
		}
		return rsa.VerifyPKCS1v15(&m.rsa.PublicKey, p.hash.id, d, sig) == nil, nil
	}
}

func computeHMAC(h hashAlg, k, input []byte) []byte {
	mac := hmac.New(h.new, k)
	mac.Write(input)
	return mac.Sum(nil)
}

// hmacItem is one input to authenticate.
type hmacItem struct {
	Input     *string `json:"input"`
	Reference string  `json:"reference"`
}

// hmacInput is the body of hmac/:name[/:algorithm].
type hmacInput struct {
	hmacItem
	KeyVersion framework.Int `json:"key_version"`
	Algorithm  string        `json:"algorithm"`
	batchInput
}

// hmacResult is the answer for one authenticated item.
type hmacResult struct {
	HMAC string `json:"hmac,omitempty"`
	batchMark
}

func (b *backend) hmac(ctx context.Context, _ *logical.Request, m *framework.Match, in *hmacInput) (*logical.Response, error) {
	items, err := batchItems[hmacItem](in.PartialFailureResponseCode, in.BatchInput)
	if err != nil {
		return nil, err
	}
	h, err := pickHash(false, m.Get("algorithm"), in.Algorithm)
	if err != nil {
		return nil, err
	}
	k, err := b.mustKey(ctx, m.Get("name"), errEncryptionKeyNotFound)
	if err != nil {
		return nil, err
	}
	ver, mat, err := encryptVersion(k, in.KeyVersion)
	if err != nil {
		return nil, err
	}
	one := func(it *hmacItem) (*hmacResult, error) {
		if it.Input == nil {
			return nil, logical.InvalidRequest("missing \"input\"")
		}
		input, err := decodeB64("input", *it.Input)
		if err != nil {
			return nil, err
		}
		return &hmacResult{HMAC: formatVersioned(ver, computeHMAC(h, mat.version.HMACKey, input))}, nil
	}
	return answer(&in.hmacItem, items, in.PartialFailureResponseCode, one)
}
