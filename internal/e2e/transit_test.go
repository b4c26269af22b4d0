package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestTransitEveryKeyTypeThroughTheClient drives every transit key type
// through the official client: encryption round trips with rotation and
// rewrap for the encryption types, signatures checked with Go's crypto
// packages for the signing types, HMAC for all.
func TestTransitEveryKeyTypeThroughTheClient(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	if err := cl.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("attack at dawn, 64 bytes or so, for the benchmark's sake......"))
	for _, typ := range []string{"aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "rsa-2048"} {
		t.Run(typ, func(t *testing.T) {
			name := "enc-" + typ
			mustWrite(t, cl, "transit/keys/"+name, map[string]any{"type": typ})
			ct := mustWrite(t, cl, "transit/encrypt/"+name, map[string]any{"plaintext": plain}).Data["ciphertext"].(string)
			if !strings.HasPrefix(ct, "vault:v1:") {
				t.Fatalf("ciphertext %q", ct)
			}
			mustWrite(t, cl, "transit/keys/"+name+"/rotate", nil)
			if got := mustWrite(t, cl, "transit/decrypt/"+name, map[string]any{"ciphertext": ct}).Data["plaintext"]; got != plain {
				t.Fatalf("decrypt of a v1 ciphertext after rotation = %v", got)
			}
			re := mustWrite(t, cl, "transit/rewrap/"+name, map[string]any{"ciphertext": ct}).Data["ciphertext"].(string)
			if !strings.HasPrefix(re, "vault:v2:") {
				t.Errorf("rewrap = %q, want v2", re)
			}
			mustWrite(t, cl, "transit/keys/"+name+"/config", map[string]any{"min_decryption_version": 2})
			if _, err := cl.Logical().Write("transit/decrypt/"+name, map[string]any{"ciphertext": ct}); statusCode(err) != 400 {
				t.Errorf("decrypt below min_decryption_version: %v, want 400", err)
			}
			tampered := re[:len(re)-4] + "AAA="
			if _, err := cl.Logical().Write("transit/decrypt/"+name, map[string]any{"ciphertext": tampered}); statusCode(err) != 400 {
				t.Errorf("tampered ciphertext: %v, want 400", err)
			}
		})
	}
	msg := []byte("sign me")
	input := base64.StdEncoding.EncodeToString(msg)
	for _, typ := range []string{"ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"} {
		t.Run(typ, func(t *testing.T) {
			name := "sig-" + typ
			mustWrite(t, cl, "transit/keys/"+name, map[string]any{"type": typ})
			body := map[string]any{"input": input}
			if strings.HasPrefix(typ, "rsa") {
				body["signature_algorithm"] = "pkcs1v15"
			}
			sig := mustWrite(t, cl, "transit/sign/"+name, body).Data["signature"].(string)
			body["signature"] = sig
			if ok := mustWrite(t, cl, "transit/verify/"+name, body).Data["valid"]; ok != true {
				t.Errorf("verify = %v", ok)
			}
			// Check the signature independently with the public key.
			key, err := cl.Logical().Read("transit/keys/" + name)
			if err != nil {
				t.Fatal(err)
			}
			pub := key.Data["keys"].(map[string]any)["1"].(map[string]any)["public_key"].(string)
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "vault:v1:"))
			digest := sha256.Sum256(msg)
			switch {
			case typ == "ed25519":
				pk, _ := base64.StdEncoding.DecodeString(pub)
				if !ed25519.Verify(ed25519.PublicKey(pk), msg, raw) {
					t.Error("ed25519 signature does not verify with crypto/ed25519")
				}
			default:
				blk, _ := pem.Decode([]byte(pub))
				if blk == nil {
					t.Fatalf("public key %q is not PEM", pub)
				}
				pk, err := x509.ParsePKIXPublicKey(blk.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				switch k := pk.(type) {
				case *ecdsa.PublicKey:
					if !ecdsa.VerifyASN1(k, digest[:], raw) {
						t.Error("ECDSA signature does not verify with crypto/ecdsa")
					}
				case *rsa.PublicKey:
					if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], raw); err != nil {
						t.Errorf("RSA signature does not verify: %v", err)
					}
				}
			}
		})
	}
	t.Run("hmac", func(t *testing.T) {
		mustWrite(t, cl, "transit/keys/mac", map[string]any{"type": "hmac", "key_size": 32})
		h := mustWrite(t, cl, "transit/hmac/mac", map[string]any{"input": input}).Data["hmac"].(string)
		if ok := mustWrite(t, cl, "transit/verify/mac", map[string]any{"input": input, "hmac": h}).Data["valid"]; ok != true {
			t.Errorf("hmac verify = %v", ok)
		}
	})
}
