package rotation

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
)

// PasswordFunc makes a password with a sys/policies/password policy (""
// for the default), such as [logical.SystemView.GeneratePassword].
type PasswordFunc func(ctx context.Context, policy string) (string, error)

// Value is a generated value: the string stored under the key, and for a
// key pair the public key (PEM), which is not secret.
type Value struct {
	Secret    string
	PublicKey string
}

// Generate makes a new value with g. A keep generator is an error: the
// caller copies the current value instead. Errors never hold a value.
func Generate(ctx context.Context, g Generator, passwords PasswordFunc) (Value, error) {
	switch g.Generator {
	case GenPassword:
		pw, err := passwords(ctx, g.Policy)
		if err != nil {
			return Value{}, err
		}
		return Value{Secret: pw}, nil
	case GenRandom:
		return Value{Secret: randomString(g.Length, g.Encoding)}, nil
	case GenEd25519:
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Value{}, fmt.Errorf("generate ed25519 key: %w", err)
		}
		return keyPair(priv, pub)
	case GenECP256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Value{}, fmt.Errorf("generate P-256 key: %w", err)
		}
		return keyPair(priv, &priv.PublicKey)
	case GenRSA3072:
		priv, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return Value{}, fmt.Errorf("generate RSA key: %w", err)
		}
		return keyPair(priv, &priv.PublicKey)
	}
	return Value{}, fmt.Errorf("generator %q makes no value", g.Generator)
}

// keyPair encodes a private key as PKCS #8 PEM and its public key as PKIX
// PEM.
func keyPair(priv, pub any) (Value, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Value{}, fmt.Errorf("encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return Value{}, fmt.Errorf("encode public key: %w", err)
	}
	return Value{
		Secret:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})),
	}, nil
}

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomString encodes n random bytes: base64 (standard, padded) and hex
// encode them; base62 draws the number of base62 characters that carry at
// least n bytes of entropy, each uniformly (crypto/rand.Int).
func randomString(n int, encoding string) string {
	switch encoding {
	case EncHex:
		b := make([]byte, n)
		rand.Read(b)
		return hex.EncodeToString(b)
	case EncBase64:
		b := make([]byte, n)
		rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	// log2(62) > 5.954 bits a character: 8n bits need ceil(8n/5.954).
	chars := (8*n*1000 + 5953) / 5954
	out := make([]byte, chars)
	max := big.NewInt(int64(len(base62Alphabet)))
	for i := range out {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported systems
		}
		out[i] = base62Alphabet[k.Int64()]
	}
	return string(out)
}
