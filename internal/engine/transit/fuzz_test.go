package transit

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// FuzzParseVersioned checks that the "vault:vN:base64" parser never
// panics, fails only with ErrInvalidRequest, and that whatever it accepts
// formats back to exactly the input.
func FuzzParseVersioned(f *testing.F) {
	for _, s := range []string{
		"vault:v1:AAAA", "vault:v12:aGVsbG8=", "vault:v0:AAAA", "vault:v01:AAAA", "vault:v-1:AAAA",
		"vault:v1:", "vault:v1", "vault:v:AAAA", "vault:v2147483648:AAAA", "vault:v1:AAA", "vault:v1:AA==",
		"vault:v1:AB==", "vault:v1:A\nAAA", "v1:AAAA", "", "vault:v+1:AAAA", "vault:v1:AAAA:BBBB",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ver, body, err := parseVersioned("ciphertext", s)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("parseVersioned(%q) error = %v, want ErrInvalidRequest", s, err)
			}
			return
		}
		if ver < 1 || ver > maxVersion {
			t.Fatalf("parseVersioned(%q) version = %d", s, ver)
		}
		if got := formatVersioned(ver, body); got != s {
			t.Fatalf("formatVersioned(parseVersioned(%q)) = %q", s, got)
		}
	})
}

// FuzzDecrypt sends arbitrary ciphertexts, contexts and associated data
// to keys of every encryption type: nothing panics, every failure is an
// ErrInvalidRequest, and a success is only ever the one real plaintext.
func FuzzDecrypt(f *testing.F) {
	h := newHarness(f)
	names := []string{"aes", "chacha", "derived", "convergent", "rsa"}
	h.write("keys/aes", nil)
	h.write("keys/chacha", map[string]any{"type": "chacha20-poly1305"})
	h.write("keys/derived", map[string]any{"derived": true})
	h.write("keys/convergent", map[string]any{"derived": true, "convergent_encryption": true, "type": "aes128-gcm96"})
	h.write("keys/rsa", map[string]any{"type": "rsa-2048"})
	const secret = "fuzz secret"
	for i, n := range names {
		ct := str(f, h.write("encrypt/"+n, map[string]any{"plaintext": b64(secret), "context": b64("ctx")}), "ciphertext")
		f.Add(uint8(i), ct, b64("ctx"), "")
		f.Add(uint8(i), ct, "", b64("ad"))
		f.Add(uint8(i), ct[:len(ct)-4], b64("ctx"), "")
	}
	f.Add(uint8(0), "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "")
	f.Add(uint8(4), "vault:v1:", "", "")
	f.Fuzz(func(t *testing.T, which uint8, ciphertext, context, ad string) {
		name := names[int(which)%len(names)]
		body, err := json.Marshal(map[string]any{"ciphertext": ciphertext, "context": context, "associated_data": ad})
		if err != nil {
			return
		}
		req := &logical.Request{Operation: logical.UpdateOperation, Path: "decrypt/" + name, Body: body}
		resp, err := h.Backend.HandleRequest(t.Context(), req)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("decrypt/%s %q: error = %v, want ErrInvalidRequest", name, ciphertext, err)
			}
			return
		}
		got := toMap(t, resp)["plaintext"]
		if got != b64(secret) {
			t.Fatalf("decrypt/%s %q = %v, want the real plaintext or an error", name, ciphertext, got)
		}
	})
}

// FuzzRestore checks that restoring arbitrary backups never panics, fails
// only with ErrInvalidRequest, and that an accepted backup backs up again
// to a blob that restores to the same ring.
func FuzzRestore(f *testing.F) {
	h := newHarness(f)
	for _, typ := range []string{"aes256-gcm96", "ed25519", "ecdsa-p256", "hmac"} {
		h.write("keys/"+typ, map[string]any{"type": typ, "exportable": true, "allow_plaintext_backup": true})
		f.Add(str(f, h.must(logical.ReadOperation, "backup/"+typ, nil), "backup"))
	}
	f.Add("")
	f.Add(b64(`{"coffer_transit_backup":1,"key":{}}`))
	f.Add(b64(`{"coffer_transit_backup":1,"key":{"name":"x","type":"aes256-gcm96","latest_version":1,"min_decryption_version":1,"versions":{"1":{"key":"AAAA","hmac_key":"AAAA"}}}}`))
	f.Fuzz(func(t *testing.T, blob string) {
		k, err := parseBackup(blob)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("parseBackup error = %v, want ErrInvalidRequest", err)
			}
			return
		}
		raw, err := json.Marshal(backupBlob{Format: backupVersion, Key: k.ring})
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseBackup(b64(string(raw)))
		if err != nil {
			t.Fatalf("re-parse of an accepted backup: %v", err)
		}
		raw2, _ := json.Marshal(backupBlob{Format: backupVersion, Key: again.ring})
		if string(raw) != string(raw2) {
			t.Fatalf("backup round trip differs:\n%s\n%s", raw, raw2)
		}
	})
}
