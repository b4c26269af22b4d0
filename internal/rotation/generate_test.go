package rotation

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"regexp"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	passwords := func(_ context.Context, policy string) (string, error) {
		if policy != "strong" {
			return "", logical.InvalidRequest("unknown password policy %q", policy)
		}
		return "pw-from-policy", nil
	}
	decodedLen := func(enc string, f func(string) ([]byte, error)) int {
		b, err := f(enc)
		if err != nil {
			t.Fatalf("decode %q: %v", enc, err)
		}
		return len(b)
	}
	tests := []struct {
		name  string
		g     Generator
		check func(t *testing.T, v Value)
	}{
		{name: "password", g: Generator{Generator: GenPassword, Policy: "strong"}, check: func(t *testing.T, v Value) {
			if v.Secret != "pw-from-policy" || v.PublicKey != "" {
				t.Errorf("value = %+v", v)
			}
		}},
		{name: "base62", g: Generator{Generator: GenRandom, Length: 32, Encoding: EncBase62}, check: func(t *testing.T, v Value) {
			if !regexp.MustCompile(`^[0-9A-Za-z]{43}$`).MatchString(v.Secret) {
				t.Errorf("base62 of 32 bytes = %q, want 43 base62 characters", v.Secret)
			}
		}},
		{name: "hex", g: Generator{Generator: GenRandom, Length: 16, Encoding: EncHex}, check: func(t *testing.T, v Value) {
			if n := decodedLen(v.Secret, hex.DecodeString); n != 16 {
				t.Errorf("hex decodes to %d bytes", n)
			}
		}},
		{name: "base64", g: Generator{Generator: GenRandom, Length: 20, Encoding: EncBase64}, check: func(t *testing.T, v Value) {
			if n := decodedLen(v.Secret, base64.StdEncoding.DecodeString); n != 20 {
				t.Errorf("base64 decodes to %d bytes", n)
			}
		}},
		{name: "ed25519", g: Generator{Generator: GenEd25519}, check: func(t *testing.T, v Value) {
			priv, pub := parsePair(t, v)
			if !priv.(ed25519.PrivateKey).Public().(ed25519.PublicKey).Equal(pub) {
				t.Error("public key does not match the private key")
			}
		}},
		{name: "ec-p256", g: Generator{Generator: GenECP256}, check: func(t *testing.T, v Value) {
			priv, pub := parsePair(t, v)
			k := priv.(*ecdsa.PrivateKey)
			if k.Curve.Params().Name != "P-256" || !k.PublicKey.Equal(pub) {
				t.Errorf("curve %s, or public key does not match", k.Curve.Params().Name)
			}
		}},
		{name: "rsa-3072", g: Generator{Generator: GenRSA3072}, check: func(t *testing.T, v Value) {
			priv, pub := parsePair(t, v)
			k := priv.(*rsa.PrivateKey)
			if k.N.BitLen() != 3072 || !k.PublicKey.Equal(pub) {
				t.Errorf("RSA key of %d bits, or public key does not match", k.N.BitLen())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Generate(t.Context(), tt.g, passwords)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, v)
			if tt.g.Generator == GenRandom {
				w, _ := Generate(t.Context(), tt.g, passwords)
				if w.Secret == v.Secret {
					t.Error("two random values are equal")
				}
			}
		})
	}
	if _, err := Generate(t.Context(), Generator{Generator: GenPassword, Policy: "nope"}, passwords); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("unknown password policy error = %v", err)
	}
	if _, err := Generate(t.Context(), Generator{Generator: GenKeep}, passwords); err == nil {
		t.Error("keep generated a value")
	}
}

func parsePair(t *testing.T, v Value) (priv, pub any) {
	t.Helper()
	pb, _ := pem.Decode([]byte(v.Secret))
	kb, _ := pem.Decode([]byte(v.PublicKey))
	if pb == nil || pb.Type != "PRIVATE KEY" || kb == nil || kb.Type != "PUBLIC KEY" {
		t.Fatalf("not a PEM key pair: %q / %q", v.Secret, v.PublicKey)
	}
	priv, err := x509.ParsePKCS8PrivateKey(pb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, err = x509.ParsePKIXPublicKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
