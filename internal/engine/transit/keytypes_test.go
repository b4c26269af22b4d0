package transit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

var allTypes = []struct {
	typ             keyType
	encrypt, signer bool
}{
	{typ: typeAES128, encrypt: true},
	{typ: typeAES256, encrypt: true},
	{typ: typeChaCha, encrypt: true},
	{typ: typeRSA2048, encrypt: true, signer: true},
	{typ: typeRSA3072, encrypt: true, signer: true},
	{typ: typeRSA4096, encrypt: true, signer: true},
	{typ: typeEd25519, signer: true},
	{typ: typeECDSAP256, signer: true},
	{typ: typeECDSAP384, signer: true},
	{typ: typeHMAC},
}

// TestKeyTypes runs the life of a key of every type: creation, use,
// rotation, use of old versions, rewrap, min_decryption_version, tampering
// and batches with a bad item.
func TestKeyTypes(t *testing.T) {
	t.Parallel()
	for _, tt := range allTypes {
		t.Run(string(tt.typ), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			k := h.write("keys/k", map[string]any{"type": tt.typ})
			if got := str(t, k, "type"); got != string(tt.typ) {
				t.Fatalf("created type = %q, want %q", got, tt.typ)
			}
			if k["supports_encryption"] != tt.encrypt || k["supports_signing"] != tt.signer || num(t, k, "latest_version") != 1 {
				t.Fatalf("created key = %v, want encryption %v, signing %v, latest 1", k, tt.encrypt, tt.signer)
			}
			switch {
			case tt.encrypt:
				testEncryptionLife(t, h, tt.typ)
			case tt.signer:
				testSigningLife(t, h, tt.typ)
			default:
				testHMACLife(t, h)
			}
			if !tt.encrypt {
				h.fails("encrypt/k", map[string]any{"plaintext": b64("x")}, logical.ErrInvalidRequest)
			}
			if !tt.signer {
				h.fails("sign/k", map[string]any{"input": b64("x")}, logical.ErrInvalidRequest)
			}
		})
	}
}

func testEncryptionLife(t *testing.T, h *harness, typ keyType) {
	t.Helper()
	const msg = "attack at dawn"
	v1 := str(t, h.write("encrypt/k", map[string]any{"plaintext": b64(msg)}), "ciphertext")
	if !strings.HasPrefix(v1, "vault:v1:") {
		t.Fatalf("ciphertext = %q, want the vault:v1: prefix", v1)
	}
	if got := unb64(t, str(t, h.write("decrypt/k", map[string]any{"ciphertext": v1}), "plaintext")); string(got) != msg {
		t.Fatalf("decrypt = %q, want %q", got, msg)
	}
	// Two encryptions of one plaintext differ (random nonces or OAEP).
	if again := str(t, h.write("encrypt/k", map[string]any{"plaintext": b64(msg)}), "ciphertext"); again == v1 {
		t.Error("two encryptions gave the same ciphertext")
	}

	// Tampering with any byte is refused, as is a truncated body.
	_, body, err := parseVersioned("ciphertext", v1)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, len(body) / 2, len(body) - 1} {
		bad := append([]byte(nil), body...)
		bad[i] ^= 0x01
		h.fails("decrypt/k", map[string]any{"ciphertext": formatVersioned(1, bad)}, logical.ErrInvalidRequest)
	}
	h.fails("decrypt/k", map[string]any{"ciphertext": formatVersioned(1, body[:5])}, logical.ErrInvalidRequest)
	h.fails("decrypt/k", map[string]any{"ciphertext": formatVersioned(7, body)}, logical.ErrInvalidRequest)
	h.fails("decrypt/k", map[string]any{"ciphertext": "v1:" + v1[len("vault:v1:"):]}, logical.ErrInvalidRequest)

	// A ciphertext of another key of the same type is refused.
	h.write("keys/other", map[string]any{"type": typ})
	foreign := str(t, h.write("encrypt/other", map[string]any{"plaintext": b64(msg)}), "ciphertext")
	err = h.fails("decrypt/k", map[string]any{"ciphertext": foreign}, logical.ErrInvalidRequest)
	if strings.Contains(err.Error(), msg) {
		t.Errorf("error %q reveals the plaintext", err)
	}

	// Rotation: old ciphertext still decrypts, new ones use v2, rewrap
	// moves v1 to v2.
	if got := num(t, h.write("keys/k/rotate", nil), "latest_version"); got != 2 {
		t.Fatalf("latest_version after rotate = %d, want 2", got)
	}
	if got := unb64(t, str(t, h.write("decrypt/k", map[string]any{"ciphertext": v1}), "plaintext")); string(got) != msg {
		t.Fatalf("decrypt of v1 after rotate = %q, want %q", got, msg)
	}
	enc2 := h.write("encrypt/k", map[string]any{"plaintext": b64(msg)})
	if !strings.HasPrefix(str(t, enc2, "ciphertext"), "vault:v2:") || num(t, enc2, "key_version") != 2 {
		t.Fatalf("encrypt after rotate = %v, want version 2", enc2)
	}
	old := str(t, h.write("encrypt/k", map[string]any{"plaintext": b64(msg), "key_version": 1}), "ciphertext")
	if !strings.HasPrefix(old, "vault:v1:") {
		t.Fatalf("encrypt with key_version 1 = %q", old)
	}
	rw := str(t, h.write("rewrap/k", map[string]any{"ciphertext": v1}), "ciphertext")
	if !strings.HasPrefix(rw, "vault:v2:") {
		t.Fatalf("rewrap = %q, want version 2", rw)
	}
	if got := unb64(t, str(t, h.write("decrypt/k", map[string]any{"ciphertext": rw}), "plaintext")); string(got) != msg {
		t.Fatalf("decrypt of rewrapped = %q, want %q", got, msg)
	}

	// Batch with one bad item: by default the request fails naming the
	// item; with a 2xx partial_failure_response_code the good items come
	// back.
	batch := []map[string]any{{"plaintext": b64("one"), "reference": "a"}, {"plaintext": "%%%", "reference": "b"}, {"plaintext": b64("three")}}
	err = h.fails("encrypt/k", map[string]any{"batch_input": batch}, logical.ErrInvalidRequest)
	if !strings.Contains(err.Error(), "batch_input[1]") {
		t.Errorf("batch error %q does not name item 1", err)
	}
	res := results(t, h.write("encrypt/k", map[string]any{"batch_input": batch, "partial_failure_response_code": 200}))
	if len(res) != 3 || res[1]["error"] == nil || res[0]["reference"] != "a" || res[1]["reference"] != "b" {
		t.Fatalf("batch results = %v", res)
	}
	dec := results(t, h.write("decrypt/k", map[string]any{"batch_input": []map[string]any{
		{"ciphertext": res[0]["ciphertext"]}, {"ciphertext": res[2]["ciphertext"]}, {"ciphertext": v1},
	}}))
	for i, want := range []string{"one", "three", msg} {
		if got := string(unb64(t, dec[i]["plaintext"].(string))); got != want {
			t.Errorf("batch decrypt[%d] = %q, want %q", i, got, want)
		}
	}
	h.fails("decrypt/k", map[string]any{"batch_input": []map[string]any{{"ciphertext": v1}, {"ciphertext": "garbage"}}}, logical.ErrInvalidRequest)

	// min_decryption_version refuses older ciphertexts, and encryption
	// with an older version is refused once min_encryption_version says so.
	h.write("keys/k/config", map[string]any{"min_decryption_version": 2})
	err = h.fails("decrypt/k", map[string]any{"ciphertext": v1}, logical.ErrInvalidRequest)
	if !strings.Contains(err.Error(), "min_decryption_version") {
		t.Errorf("error %q does not explain the refusal", err)
	}
	h.fails("rewrap/k", map[string]any{"ciphertext": v1}, logical.ErrInvalidRequest)
	h.write("keys/k/config", map[string]any{"min_encryption_version": 2})
	h.fails("encrypt/k", map[string]any{"plaintext": b64(msg), "key_version": 1}, logical.ErrInvalidRequest)
}

func testSigningLife(t *testing.T, h *harness, typ keyType) {
	t.Helper()
	input := []byte("the quick brown fox")
	sig1 := str(t, h.write("sign/k", map[string]any{"input": base64.StdEncoding.EncodeToString(input)}), "signature")
	if !strings.HasPrefix(sig1, "vault:v1:") {
		t.Fatalf("signature = %q", sig1)
	}
	verify := func(sig string, in []byte) bool {
		t.Helper()
		out := h.write("verify/k", map[string]any{"input": base64.StdEncoding.EncodeToString(in), "signature": sig})
		return out["valid"] == true
	}
	if !verify(sig1, input) {
		t.Fatal("verify of a fresh signature = false")
	}
	if verify(sig1, []byte("another message")) {
		t.Fatal("verify of another input = true")
	}

	// Check the signature with Go's crypto and the public key from a read.
	pub := readPublicKey(t, h, 1)
	_, raw, err := parseVersioned("signature", sig1)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(input)
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(p, input, raw) {
			t.Error("ed25519.Verify = false")
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(p, digest[:], raw) {
			t.Error("ecdsa.VerifyASN1 = false")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPSS(p, crypto.SHA256, digest[:], raw, nil); err != nil {
			t.Errorf("rsa.VerifyPSS: %v", err)
		}
	default:
		t.Fatalf("public key of type %T", pub)
	}

	// Tampered signature: invalid, not an error.
	tampered := append([]byte(nil), raw...)
	tampered[len(tampered)/2] ^= 0x01
	if verify(formatVersioned(1, tampered), input) {
		t.Error("verify of a tampered signature = true")
	}
	h.fails("verify/k", map[string]any{"input": b64("x"), "signature": "vault:vX:AAAA"}, logical.ErrInvalidRequest)

	// Rotation keeps old signatures valid; min_decryption_version refuses
	// them.
	h.write("keys/k/rotate", nil)
	sig2 := h.write("sign/k", map[string]any{"input": base64.StdEncoding.EncodeToString(input)})
	if num(t, sig2, "key_version") != 2 || !strings.HasPrefix(str(t, sig2, "signature"), "vault:v2:") {
		t.Fatalf("sign after rotate = %v", sig2)
	}
	if !verify(sig1, input) || !verify(str(t, sig2, "signature"), input) {
		t.Fatal("verify after rotate = false")
	}

	// Batch sign with one bad item.
	batch := []map[string]any{{"input": b64("a")}, {"input": "!!"}}
	h.fails("sign/k", map[string]any{"batch_input": batch}, logical.ErrInvalidRequest)
	res := results(t, h.write("sign/k", map[string]any{"batch_input": batch, "partial_failure_response_code": 200}))
	if res[0]["signature"] == nil || res[1]["error"] == nil {
		t.Fatalf("batch sign = %v", res)
	}
	vres := results(t, h.write("verify/k", map[string]any{"batch_input": []map[string]any{
		{"input": b64("a"), "signature": res[0]["signature"]}, {"input": b64("b"), "signature": res[0]["signature"]},
	}}))
	if vres[0]["valid"] != true || vres[1]["valid"] != false {
		t.Errorf("batch verify = %v, want valid then invalid", vres)
	}

	h.write("keys/k/config", map[string]any{"min_decryption_version": 2})
	h.fails("verify/k", map[string]any{"input": base64.StdEncoding.EncodeToString(input), "signature": sig1}, logical.ErrInvalidRequest)
	if typ.rsa() {
		testRSAOptions(t, h, input)
	}
	if typ.ecdsa() {
		testJWS(t, h, input)
	}
}

// readPublicKey parses the public key of version ver from a key read.
func readPublicKey(t *testing.T, h *harness, ver int) crypto.PublicKey {
	t.Helper()
	keys := h.must(opRead, "keys/k", nil)["keys"].(map[string]any)
	entry, ok := keys[string(rune('0'+ver))].(map[string]any)
	if !ok {
		t.Fatalf("keys = %v, want public key info for version %d", keys, ver)
	}
	s := str(t, entry, "public_key")
	if entry["name"] == "ed25519" {
		return ed25519.PublicKey(unb64(t, s))
	}
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatalf("public key %q is not PEM", s)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func testRSAOptions(t *testing.T, h *harness, input []byte) {
	t.Helper()
	pub := readPublicKey(t, h, 2).(*rsa.PublicKey)
	tests := []struct {
		name  string
		body  map[string]any
		path  string
		check func(digest, sig []byte) error
	}{
		{name: "pkcs1v15 sha2-512", path: "sign/k/sha2-512", body: map[string]any{"signature_algorithm": "pkcs1v15"},
			check: func(_, sig []byte) error {
				d := sha512Sum(input)
				return rsa.VerifyPKCS1v15(pub, crypto.SHA512, d, sig)
			}},
		{name: "pss salt hash", path: "sign/k", body: map[string]any{"salt_length": "hash"},
			check: func(d, sig []byte) error {
				return rsa.VerifyPSS(pub, crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			}},
		{name: "prehashed", path: "sign/k", body: map[string]any{"prehashed": true},
			check: func(d, sig []byte) error { return rsa.VerifyPSS(pub, crypto.SHA256, d, sig, nil) }},
	}
	for _, tt := range tests {
		digest := sha256.Sum256(input)
		body := map[string]any{"input": base64.StdEncoding.EncodeToString(input)}
		if tt.body["prehashed"] == true {
			body["input"] = base64.StdEncoding.EncodeToString(digest[:])
		}
		for k, v := range tt.body {
			body[k] = v
		}
		sig := str(t, h.write(tt.path, body), "signature")
		_, raw, err := parseVersioned("signature", sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := tt.check(digest[:], raw); err != nil {
			t.Errorf("%s: independent verification: %v", tt.name, err)
		}
		body["signature"] = sig
		if out := h.write(strings.Replace(tt.path, "sign/", "verify/", 1), body); out["valid"] != true {
			t.Errorf("%s: verify = %v", tt.name, out)
		}
	}
}

func testJWS(t *testing.T, h *harness, input []byte) {
	t.Helper()
	pub := readPublicKey(t, h, 2).(*ecdsa.PublicKey)
	body := map[string]any{"input": base64.StdEncoding.EncodeToString(input), "marshaling_algorithm": "jws"}
	sig := str(t, h.write("sign/k", body), "signature")
	_, raw, err := parseVersioned("signature", sig)
	if err != nil {
		t.Fatal(err)
	}
	size := (pub.Curve.Params().BitSize + 7) / 8
	if len(raw) != 2*size {
		t.Fatalf("jws signature is %d bytes, want %d", len(raw), 2*size)
	}
	// Re-encode r||s as ASN.1 via the standard verifier's big-int form.
	d := sha256.Sum256(input)
	if !ecdsaVerifyRS(pub, d[:], raw[:size], raw[size:]) {
		t.Error("independent verification of the jws signature failed")
	}
	body["signature"] = sig
	if out := h.write("verify/k", body); out["valid"] != true {
		t.Errorf("verify jws = %v", out)
	}
}

func testHMACLife(t *testing.T, h *harness) {
	t.Helper()
	input := b64("payload")
	mac1 := str(t, h.write("hmac/k", map[string]any{"input": input}), "hmac")
	if !strings.HasPrefix(mac1, "vault:v1:") {
		t.Fatalf("hmac = %q", mac1)
	}
	ok := func(mac, in string) bool {
		return h.write("verify/k", map[string]any{"input": in, "hmac": mac})["valid"] == true
	}
	if !ok(mac1, input) || ok(mac1, b64("other")) {
		t.Fatal("hmac verification wrong")
	}
	_, raw, _ := parseVersioned("hmac", mac1)
	raw[0] ^= 1
	if ok(formatVersioned(1, raw), input) {
		t.Fatal("tampered hmac verified")
	}
	h.write("keys/k/rotate", nil)
	mac2 := str(t, h.write("hmac/k", map[string]any{"input": input}), "hmac")
	if !strings.HasPrefix(mac2, "vault:v2:") || mac2 == mac1 || !ok(mac1, input) || !ok(mac2, input) {
		t.Fatalf("after rotate: v1 %q, v2 %q", mac1, mac2)
	}
	batch := []map[string]any{{"input": input}, {"input": "@@"}}
	h.fails("hmac/k", map[string]any{"batch_input": batch}, logical.ErrInvalidRequest)
	res := results(t, h.write("hmac/k", map[string]any{"batch_input": batch, "partial_failure_response_code": 200}))
	if res[0]["hmac"] != mac2 || res[1]["error"] == nil {
		t.Fatalf("batch hmac = %v", res)
	}
	h.write("keys/k/config", map[string]any{"min_decryption_version": 2})
	h.fails("verify/k", map[string]any{"input": input, "hmac": mac1}, logical.ErrInvalidRequest)

	// The hmac key size is honoured and checked against an independent
	// computation with the exported key.
	h.write("keys/big", map[string]any{"type": "hmac", "key_size": 64, "exportable": true})
	exp := h.must(opRead, "export/hmac-key/big/1", nil)["keys"].(map[string]any)
	key := unb64(t, exp["1"].(string))
	if len(key) != 64 {
		t.Fatalf("exported hmac key is %d bytes, want 64", len(key))
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("payload"))
	if got := str(t, h.write("hmac/big", map[string]any{"input": input}), "hmac"); got != formatVersioned(1, m.Sum(nil)) {
		t.Errorf("hmac = %q, want the independent HMAC-SHA256", got)
	}
	h.fails("keys/small", map[string]any{"type": "hmac", "key_size": 16}, logical.ErrInvalidRequest)
	h.fails("keys/aes", map[string]any{"type": "aes256-gcm96", "key_size": 64}, logical.ErrInvalidRequest)
}
