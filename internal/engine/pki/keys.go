package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Key types as the API names them.
const (
	keyRSA     = "rsa"
	keyEC      = "ec"
	keyEd25519 = "ed25519"
	keyAny     = "any"
)

// checkKeyParams validates a key type and size for key generation and
// returns the size to use (the type's default for 0). Ed25519 has size 0.
func checkKeyParams(typ string, bits int64) (string, int, error) {
	if typ == "" {
		typ = keyRSA
	}
	switch typ {
	case keyRSA:
		switch bits {
		case 0:
			return typ, 2048, nil
		case 2048, 3072, 4096, 8192:
			return typ, int(bits), nil
		}
		return "", 0, logical.InvalidRequest("invalid key_bits %d for key_type rsa: want 2048, 3072, 4096 or 8192", bits)
	case keyEC:
		switch bits {
		case 0:
			return typ, 256, nil
		case 224, 256, 384, 521:
			return typ, int(bits), nil
		}
		return "", 0, logical.InvalidRequest("invalid key_bits %d for key_type ec: want 224, 256, 384 or 521", bits)
	case keyEd25519:
		if bits != 0 && bits != 256 {
			return "", 0, logical.InvalidRequest("invalid key_bits %d for key_type ed25519: want 0", bits)
		}
		return typ, 0, nil
	}
	return "", 0, logical.InvalidRequest("invalid key_type %q: want rsa, ec or ed25519", typ)
}

// generateKey makes a private key of a type and size that passed
// checkKeyParams.
func generateKey(typ string, bits int) (crypto.Signer, error) {
	switch typ {
	case keyRSA:
		return rsa.GenerateKey(rand.Reader, bits)
	case keyEC:
		var c elliptic.Curve
		switch bits {
		case 224:
			c = elliptic.P224()
		case 384:
			c = elliptic.P384()
		case 521:
			c = elliptic.P521()
		default:
			c = elliptic.P256()
		}
		return ecdsa.GenerateKey(c, rand.Reader)
	case keyEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("generate key: unsupported type %q", typ)
}

// publicKeyParams returns the API's key type and size of a public key; ok
// is false for key types the engine does not handle.
func publicKeyParams(pub crypto.PublicKey) (typ string, bits int, ok bool) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return keyRSA, k.N.BitLen(), true
	case *ecdsa.PublicKey:
		return keyEC, k.Curve.Params().BitSize, true
	case ed25519.PublicKey:
		return keyEd25519, 0, true
	}
	return "", 0, false
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// parseSigner parses a stored PKCS #8 private key.
func parseSigner(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T is not a signer", k)
	}
	return s, nil
}

// Output formats of certificates, CSRs and keys.
const (
	formatPEM       = "pem"
	formatDER       = "der"
	formatPEMBundle = "pem_bundle"
)

// checkFormats validates the format and private_key_format fields and
// returns format with its default.
func checkFormats(format, keyFormat string) (string, error) {
	switch format {
	case "":
		format = formatPEM
	case formatPEM, formatDER, formatPEMBundle:
	default:
		return "", logical.InvalidRequest("invalid format %q: want pem, der or pem_bundle", format)
	}
	switch keyFormat {
	case "", "der", "pem", "pkcs8":
	default:
		return "", logical.InvalidRequest("invalid private_key_format %q: want der or pkcs8", keyFormat)
	}
	return format, nil
}

// encodeBlock renders DER as the output format: base64 for der, PEM
// without a trailing newline otherwise.
func encodeBlock(format, typ string, der []byte) string {
	if format == formatDER {
		return base64.StdEncoding.EncodeToString(der)
	}
	return strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})), "\n")
}

// encodeCert renders a certificate in the output format.
func encodeCert(format string, der []byte) string {
	return encodeBlock(format, "CERTIFICATE", der)
}

// encodePrivateKey renders k in the output format: PKCS #1 for RSA and
// SEC 1 for EC keys unless keyFormat is pkcs8; Ed25519 is always PKCS #8.
// It returns the key and its type name.
func encodePrivateKey(format, keyFormat string, k crypto.Signer) (string, string, error) {
	var der []byte
	var pemType, typ string
	var err error
	switch key := k.(type) {
	case *rsa.PrivateKey:
		typ = keyRSA
		if keyFormat != "pkcs8" {
			der, pemType = x509.MarshalPKCS1PrivateKey(key), "RSA PRIVATE KEY"
		}
	case *ecdsa.PrivateKey:
		typ = keyEC
		if keyFormat != "pkcs8" {
			der, err = x509.MarshalECPrivateKey(key)
			pemType = "EC PRIVATE KEY"
		}
	case ed25519.PrivateKey:
		typ = keyEd25519
	default:
		return "", "", fmt.Errorf("encode private key: unsupported type %T", k)
	}
	if der == nil && err == nil {
		der, err = x509.MarshalPKCS8PrivateKey(k)
		pemType = "PRIVATE KEY"
	}
	if err != nil {
		return "", "", fmt.Errorf("encode private key: %w", err)
	}
	return encodeBlock(format, pemType, der), typ, nil
}
