package transit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	body := func(s string) []byte { return []byte(s) }
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: opUpdate, Path: "keys/conf", Body: body(`{"type":"aes256-gcm96","exportable":true,"allow_plaintext_backup":true}`)},
			{Operation: opUpdate, Path: "keys/sig", Body: body(`{"type":"ed25519"}`)},
			{Operation: opUpdate, Path: "keys/conf/config", Body: body(`{"deletion_allowed":true}`)},
			{Operation: opUpdate, Path: "keys/conf/rotate", Body: body(`{}`)},
			{Operation: opUpdate, Path: "encrypt/conf", Body: body(`{"plaintext":"aGVsbG8="}`)},
			{Operation: opUpdate, Path: "sign/sig", Body: body(`{"input":"aGVsbG8="}`)},
			{Operation: opUpdate, Path: "hmac/conf", Body: body(`{"input":"aGVsbG8="}`)},
			{Operation: opUpdate, Path: "datakey/plaintext/conf", Body: body(`{}`)},
			{Operation: opUpdate, Path: "random/16", Body: body(`{"format":"hex"}`)},
			{Operation: opUpdate, Path: "hash/sha2-512", Body: body(`{"input":"aGVsbG8="}`)},
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "keys/conf"},
			{Operation: opList, Path: "keys/"},
			{Operation: opRead, Path: "export/encryption-key/conf"},
			{Operation: opRead, Path: "export/public-key/sig/latest"},
			{Operation: opRead, Path: "backup/conf"},
		},
	})
}

func TestDerivedAndConvergent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fails("keys/bad", map[string]any{"convergent_encryption": true}, logical.ErrInvalidRequest)
	h.fails("keys/bad", map[string]any{"type": "ecdsa-p256", "derived": true}, logical.ErrInvalidRequest)
	h.fails("keys/bad", map[string]any{"type": "ed25519", "derived": true, "convergent_encryption": true}, logical.ErrInvalidRequest)

	for _, typ := range []keyType{typeAES128, typeAES256, typeChaCha} {
		t.Run(string(typ), func(t *testing.T) {
			name := "d-" + string(typ)
			k := h.write("keys/"+name, map[string]any{"type": typ, "derived": true, "convergent_encryption": true})
			if k["derived"] != true || k["convergent_encryption"] != true || k["kdf"] != "hkdf_sha256" {
				t.Fatalf("derived key read = %v", k)
			}
			enc := func(pt, ctx string) string {
				return str(t, h.write("encrypt/"+name, map[string]any{"plaintext": b64(pt), "context": b64(ctx)}), "ciphertext")
			}
			h.fails("encrypt/"+name, map[string]any{"plaintext": b64("x")}, logical.ErrInvalidRequest)
			a1, a2 := enc("secret", "ctx-1"), enc("secret", "ctx-1")
			if a1 != a2 {
				t.Errorf("convergent: same plaintext and context gave %q and %q", a1, a2)
			}
			if b := enc("secret", "ctx-2"); b == a1 {
				t.Error("convergent: another context gave the same ciphertext")
			}
			if c := enc("secret2", "ctx-1"); c == a1 {
				t.Error("convergent: another plaintext gave the same ciphertext")
			}
			got := h.write("decrypt/"+name, map[string]any{"ciphertext": a1, "context": b64("ctx-1")})
			if string(unb64(t, str(t, got, "plaintext"))) != "secret" {
				t.Errorf("decrypt = %v", got)
			}
			h.fails("decrypt/"+name, map[string]any{"ciphertext": a1, "context": b64("ctx-2")}, logical.ErrInvalidRequest)
			h.fails("decrypt/"+name, map[string]any{"ciphertext": a1}, logical.ErrInvalidRequest)
			// Rotation changes the convergent ciphertext; the old one
			// still decrypts.
			h.write("keys/"+name+"/rotate", nil)
			if n := enc("secret", "ctx-1"); n == a1 || !strings.HasPrefix(n, "vault:v2:") {
				t.Errorf("after rotation = %q", n)
			}
			h.write("decrypt/"+name, map[string]any{"ciphertext": a1, "context": b64("ctx-1")})
			// Batch items carry their own contexts.
			res := results(t, h.write("encrypt/"+name, map[string]any{"batch_input": []map[string]any{
				{"plaintext": b64("secret"), "context": b64("ctx-1"), "key_version": 1},
				{"plaintext": b64("secret"), "context": b64("ctx-2"), "key_version": 1},
			}}))
			if res[0]["ciphertext"] != a1 || res[1]["ciphertext"] == a1 {
				t.Errorf("batch convergent results = %v", res)
			}
		})
	}

	// Derived, not convergent: random nonces.
	h.write("keys/dr", map[string]any{"derived": true})
	x := h.write("encrypt/dr", map[string]any{"plaintext": b64("p"), "context": b64("c")})
	y := h.write("encrypt/dr", map[string]any{"plaintext": b64("p"), "context": b64("c")})
	if x["ciphertext"] == y["ciphertext"] {
		t.Error("derived non-convergent key gave equal ciphertexts")
	}
	h.fails("encrypt/dr", map[string]any{"plaintext": b64("p"), "context": b64("c"), "nonce": b64("123456789012")}, logical.ErrInvalidRequest)

	// Derived ed25519: the public key depends on the context and verifies
	// independently.
	h.write("keys/ed", map[string]any{"type": "ed25519", "derived": true})
	h.fails("sign/ed", map[string]any{"input": b64("m")}, logical.ErrInvalidRequest)
	s1 := h.write("sign/ed", map[string]any{"input": b64("m"), "context": b64("alice")})
	s2 := h.write("sign/ed", map[string]any{"input": b64("m"), "context": b64("bob")})
	if s1["publickey"] == s2["publickey"] {
		t.Error("derived ed25519 keys of two contexts are equal")
	}
	_, sig, _ := parseVersioned("signature", str(t, s1, "signature"))
	if !ed25519.Verify(unb64(t, str(t, s1, "publickey")), []byte("m"), sig) {
		t.Error("independent verification of a derived ed25519 signature failed")
	}
	if v := h.write("verify/ed", map[string]any{"input": b64("m"), "signature": s1["signature"], "context": b64("bob")}); v["valid"] != false {
		t.Error("signature verified under another context")
	}
	if v := h.write("verify/ed", map[string]any{"input": b64("m"), "signature": s1["signature"], "context": b64("alice")}); v["valid"] != true {
		t.Error("signature did not verify under its context")
	}
}

func TestAssociatedData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, typ := range []string{"aes256-gcm96", "chacha20-poly1305"} {
		h.write("keys/"+typ, map[string]any{"type": typ})
		ct := h.write("encrypt/"+typ, map[string]any{"plaintext": b64("p"), "associated_data": b64("ad")})["ciphertext"]
		h.write("decrypt/"+typ, map[string]any{"ciphertext": ct, "associated_data": b64("ad")})
		h.fails("decrypt/"+typ, map[string]any{"ciphertext": ct, "associated_data": b64("other")}, logical.ErrInvalidRequest)
		h.fails("decrypt/"+typ, map[string]any{"ciphertext": ct}, logical.ErrInvalidRequest)
	}
}

func TestUpsert(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := map[string]any{"plaintext": b64("x")}
	h.fails("encrypt/missing", body, logical.ErrInvalidRequest)
	h.fails("decrypt/missing", map[string]any{"ciphertext": "vault:v1:AAAA"}, logical.ErrInvalidRequest)
	if _, err := h.do(opCreate, "encrypt/auto", map[string]any{"plaintext": b64("x"), "type": "chacha20-poly1305"}); err != nil {
		t.Fatal(err)
	}
	if got := h.must(opRead, "keys/auto", nil)["type"]; got != "chacha20-poly1305" {
		t.Errorf("upserted key type = %v", got)
	}
	if _, err := h.do(opCreate, "encrypt/autod", map[string]any{"plaintext": b64("x"), "context": b64("c")}); err != nil {
		t.Fatal(err)
	}
	if got := h.must(opRead, "keys/autod", nil)["derived"]; got != true {
		t.Errorf("key upserted with a context: derived = %v", got)
	}
	ec := h.Backend.(logical.ExistenceChecker)
	for path, want := range map[string]bool{"encrypt/auto": true, "encrypt/nope": false, "keys/auto": true, "keys/nope": false} {
		exists, handled, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: path})
		if err != nil || !handled || exists != want {
			t.Errorf("ExistenceCheck(%q) = %v, %v, %v, want %v, true, nil", path, exists, handled, err, want)
		}
	}
}

func TestDatakey(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("keys/dk", nil)
	for _, bits := range []int{128, 256, 512} {
		out := h.write("datakey/plaintext/dk", map[string]any{"bits": bits})
		pt := unb64(t, str(t, out, "plaintext"))
		if len(pt)*8 != bits {
			t.Errorf("bits %d: plaintext is %d bytes", bits, len(pt))
		}
		dec := h.write("decrypt/dk", map[string]any{"ciphertext": out["ciphertext"]})
		if str(t, dec, "plaintext") != str(t, out, "plaintext") {
			t.Errorf("bits %d: decrypted data key differs", bits)
		}
	}
	wrapped := h.write("datakey/wrapped/dk", nil)
	if _, ok := wrapped["plaintext"]; ok {
		t.Errorf("wrapped data key answer has a plaintext: %v", wrapped)
	}
	if len(unb64(t, str(t, h.write("decrypt/dk", map[string]any{"ciphertext": wrapped["ciphertext"]}), "plaintext"))) != 32 {
		t.Error("default data key is not 256 bits")
	}
	h.fails("datakey/plaintext/dk", map[string]any{"bits": 64}, logical.ErrInvalidRequest)
	h.fails("datakey/plaintext/nokey", nil, logical.ErrInvalidRequest)
	if _, err := h.do(opUpdate, "datakey/other/dk", nil); !errors.Is(err, logical.ErrUnsupportedPath) {
		t.Errorf("datakey/other: error = %v, want ErrUnsupportedPath", err)
	}
}

func TestRandom(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		path   string
		body   map[string]any
		decode func(string) ([]byte, error)
		want   int
	}{
		{path: "random", decode: base64.StdEncoding.DecodeString, want: 32},
		{path: "random/64", decode: base64.StdEncoding.DecodeString, want: 64},
		{path: "random/platform/16", body: map[string]any{"format": "hex"}, decode: hex.DecodeString, want: 16},
		{path: "random/all", body: map[string]any{"bytes": 8}, decode: base64.StdEncoding.DecodeString, want: 8},
		{path: "random/seal/1", decode: base64.StdEncoding.DecodeString, want: 1},
	}
	for _, tt := range tests {
		s := str(t, h.write(tt.path, tt.body), "random_bytes")
		got, err := tt.decode(s)
		if err != nil || len(got) != tt.want {
			t.Errorf("%s: %d bytes (%v), want %d", tt.path, len(got), err, tt.want)
		}
	}
	a, b := h.write("random", nil)["random_bytes"], h.write("random", nil)["random_bytes"]
	if a == b {
		t.Error("two random answers are equal")
	}
	for _, bad := range []struct {
		path string
		body map[string]any
	}{
		{path: "random/0"}, {path: "random/abc"}, {path: "random", body: map[string]any{"bytes": 128*1024 + 1}},
		{path: "random", body: map[string]any{"format": "raw"}}, {path: "random", body: map[string]any{"source": "moon"}},
	} {
		h.fails(bad.path, bad.body, logical.ErrInvalidRequest)
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	in := []byte("abc")
	s224, s256, s384, s512 := sha256.Sum224(in), sha256.Sum256(in), sha512.Sum384(in), sha512.Sum512(in)
	t224, t256, t384, t512 := sha3.Sum224(in), sha3.Sum256(in), sha3.Sum384(in), sha3.Sum512(in)
	tests := []struct {
		path string
		body map[string]any
		want string
	}{
		// FIPS 180-2 known answer for "abc".
		{path: "hash", want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{path: "hash/sha2-224", want: hex.EncodeToString(s224[:])},
		{path: "hash/sha2-256", want: hex.EncodeToString(s256[:])},
		{path: "hash/sha2-384", want: hex.EncodeToString(s384[:])},
		{path: "hash", body: map[string]any{"algorithm": "sha2-512"}, want: hex.EncodeToString(s512[:])},
		{path: "hash/sha3-224", want: hex.EncodeToString(t224[:])},
		{path: "hash/sha3-256", want: hex.EncodeToString(t256[:])},
		{path: "hash/sha3-384", want: hex.EncodeToString(t384[:])},
		{path: "hash/sha3-512", body: map[string]any{"format": "base64"}, want: base64.StdEncoding.EncodeToString(t512[:])},
	}
	for _, tt := range tests {
		body := map[string]any{"input": base64.StdEncoding.EncodeToString(in)}
		for k, v := range tt.body {
			body[k] = v
		}
		if got := str(t, h.write(tt.path, body), "sum"); got != tt.want {
			t.Errorf("%s %v = %s, want %s", tt.path, tt.body, got, tt.want)
		}
	}
	h.fails("hash/md5", map[string]any{"input": b64("x")}, logical.ErrInvalidRequest)
	h.fails("hash/sha1", map[string]any{"input": b64("x")}, logical.ErrInvalidRequest)
	h.fails("hash", map[string]any{"input": "***"}, logical.ErrInvalidRequest)
	h.fails("hash", nil, logical.ErrInvalidRequest)
}

func TestExport(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("keys/closed", nil)
	h.fails("keys/closed/config", map[string]any{"exportable": "maybe"}, logical.ErrInvalidRequest)
	for _, kind := range []string{"encryption-key", "hmac-key"} {
		if _, err := h.do(opRead, "export/"+kind+"/closed", nil); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("export %s of a non-exportable key: error = %v", kind, err)
		}
	}
	if _, err := h.do(opRead, "export/public-key/closed", nil); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("public-key export of an AES key: error = %v", err)
	}

	// An exported AES key decrypts the engine's ciphertext with plain Go.
	h.write("keys/open", map[string]any{"exportable": true})
	h.write("keys/open/rotate", nil)
	ct := str(t, h.write("encrypt/open", map[string]any{"plaintext": b64("independent")}), "ciphertext")
	exp := h.must(opRead, "export/encryption-key/open", nil)
	if exp["name"] != "open" || exp["type"] != "aes256-gcm96" {
		t.Fatalf("export = %v", exp)
	}
	keys := exp["keys"].(map[string]any)
	if len(keys) != 2 {
		t.Fatalf("export of all versions = %v, want 2", keys)
	}
	latest := h.must(opRead, "export/encryption-key/open/latest", nil)["keys"].(map[string]any)
	if diff := cmp.Diff(map[string]any{"2": keys["2"]}, latest); diff != "" {
		t.Errorf("export latest mismatch (-want +got):\n%s", diff)
	}
	_, body, _ := parseVersioned("ciphertext", ct)
	block, err := aes.NewCipher(unb64(t, keys["2"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := cipher.NewGCM(block)
	pt, err := gcm.Open(nil, body[:12], body[12:], nil)
	if err != nil || string(pt) != "independent" {
		t.Errorf("independent decryption = %q, %v", pt, err)
	}
	for _, bad := range []string{"export/encryption-key/open/3", "export/encryption-key/open/0", "export/encryption-key/open/x", "export/bogus/open", "export/signing-key/open"} {
		if _, err := h.do(opRead, bad, nil); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("read %s: error = %v, want ErrInvalidRequest", bad, err)
		}
	}
	h.fails("keys/open/config", map[string]any{"exportable": false}, logical.ErrInvalidRequest)

	// ECDSA: the exported signing key matches the public key; public-key
	// export needs no exportable flag.
	h.write("keys/ec", map[string]any{"type": "ecdsa-p256", "exportable": true})
	sk := h.must(opRead, "export/signing-key/ec/1", nil)["keys"].(map[string]any)["1"].(string)
	blk, _ := pem.Decode([]byte(sk))
	if blk == nil || blk.Type != "EC PRIVATE KEY" {
		t.Fatalf("signing key export is not an EC PEM block: %q", sk)
	}
	priv, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pk := h.must(opRead, "export/public-key/ec/1", nil)["keys"].(map[string]any)["1"].(string)
	pblk, _ := pem.Decode([]byte(pk))
	pub, err := x509.ParsePKIXPublicKey(pblk.Bytes)
	if err != nil || !priv.PublicKey.Equal(pub.(*ecdsa.PublicKey)) {
		t.Errorf("exported public key does not match the private key (%v)", err)
	}
	h.write("keys/ed", map[string]any{"type": "ed25519"})
	if _, err := h.do(opRead, "export/public-key/ed", nil); err != nil {
		t.Errorf("public-key export of a non-exportable ed25519 key: %v", err)
	}
	if _, err := h.do(opRead, "export/signing-key/ed", nil); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("signing-key export of a non-exportable key: error = %v", err)
	}
}

func TestBackupRestore(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("keys/nb", map[string]any{"exportable": true})
	if _, err := h.do(opRead, "backup/nb", nil); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("backup without allow_plaintext_backup: error = %v", err)
	}
	h.write("keys/bk", map[string]any{"type": "chacha20-poly1305", "exportable": true, "allow_plaintext_backup": true})
	h.write("keys/bk/rotate", nil)
	ct := h.write("encrypt/bk", map[string]any{"plaintext": b64("keep me"), "key_version": 1})["ciphertext"]
	backup := str(t, h.must(opRead, "backup/bk", nil), "backup")
	h.fails("keys/bk/config", map[string]any{"allow_plaintext_backup": false}, logical.ErrInvalidRequest)

	if _, err := h.do(opDelete, "keys/bk", nil); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("delete without deletion_allowed: error = %v", err)
	}
	h.write("keys/bk/config", map[string]any{"deletion_allowed": true})
	h.must(opDelete, "keys/bk", nil)
	if got := h.must(opRead, "keys/bk", nil); got != nil {
		t.Fatalf("read after delete = %v", got)
	}
	h.fails("decrypt/bk", map[string]any{"ciphertext": ct}, logical.ErrInvalidRequest)

	h.write("restore", map[string]any{"backup": backup})
	if got := string(unb64(t, str(t, h.write("decrypt/bk", map[string]any{"ciphertext": ct}), "plaintext"))); got != "keep me" {
		t.Errorf("decrypt after restore = %q", got)
	}
	if got := h.must(opRead, "keys/bk", nil); num(t, got, "latest_version") != 2 || got["type"] != "chacha20-poly1305" {
		t.Errorf("restored key = %v", got)
	}
	h.fails("restore", map[string]any{"backup": backup}, logical.ErrInvalidRequest)
	h.write("restore", map[string]any{"backup": backup, "force": true})
	h.write("restore/copy", map[string]any{"backup": backup})
	h.write("decrypt/copy", map[string]any{"ciphertext": ct})

	raw := unb64(t, backup)
	for name, bad := range map[string]string{
		"not base64": "%%%",
		"not json":   base64.StdEncoding.EncodeToString([]byte("{")),
		"no key":     base64.StdEncoding.EncodeToString([]byte(`{"coffer_transit_backup":1}`)),
		"bad format": base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"coffer_transit_backup":1`, `"coffer_transit_backup":9`, 1))),
		"bad type":   base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `chacha20-poly1305`, `rot13`, 1))),
		"trailing":   base64.StdEncoding.EncodeToString(append(slices.Clone(raw), []byte(" {}")...)),
	} {
		err := h.fails("restore/x", map[string]any{"backup": bad}, logical.ErrInvalidRequest)
		if strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error quotes the backup", name)
		}
	}
	h.fails("restore", nil, logical.ErrInvalidRequest)
	h.fails("restore/..", map[string]any{"backup": backup}, logical.ErrInvalidRequest)
}

func TestTrimAndConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("keys/t", nil)
	cts := []any{h.write("encrypt/t", map[string]any{"plaintext": b64("v1")})["ciphertext"]}
	for range 3 {
		h.write("keys/t/rotate", nil)
		cts = append(cts, h.write("encrypt/t", map[string]any{"plaintext": b64("v")})["ciphertext"])
	}
	for _, bad := range []map[string]any{
		{"min_decryption_version": 5},
		{"min_encryption_version": 5},
		{"min_decryption_version": 3, "min_encryption_version": 2},
		{"min_decryption_version": -1},
		{"auto_rotate_period": "10m"},
	} {
		h.fails("keys/t/config", bad, logical.ErrInvalidRequest)
	}
	// An unknown field is ignored, with Vault's warning.
	resp, err := h.Backend.HandleRequest(t.Context(), &logical.Request{Operation: opUpdate, Path: "keys/t/config", Body: json.RawMessage(`{"unknown":true}`)})
	if err != nil || !slices.Contains(resp.Warnings, "Endpoint ignored these unrecognized parameters: [unknown]") {
		t.Errorf("config with an unknown field = %v, %v; want the ignored-parameters warning", resp, err)
	}
	h.fails("keys/t/trim", map[string]any{"min_available_version": 2}, logical.ErrInvalidRequest) // above min_decryption_version 1
	h.fails("keys/t/trim", nil, logical.ErrInvalidRequest)
	h.write("keys/t/config", map[string]any{"min_decryption_version": 3, "min_encryption_version": 3})
	h.fails("keys/t/trim", map[string]any{"min_available_version": 4}, logical.ErrInvalidRequest)
	h.fails("keys/t/trim", map[string]any{"min_available_version": 0}, logical.ErrInvalidRequest)
	k := h.write("keys/t/trim", map[string]any{"min_available_version": 3})
	if num(t, k, "min_available_version") != 3 || len(k["keys"].(map[string]any)) != 2 {
		t.Fatalf("after trim = %v", k)
	}
	h.fails("keys/t/trim", map[string]any{"min_available_version": 2}, logical.ErrInvalidRequest)
	h.fails("keys/t/config", map[string]any{"min_decryption_version": 2}, logical.ErrInvalidRequest)
	h.fails("decrypt/t", map[string]any{"ciphertext": cts[1]}, logical.ErrInvalidRequest)
	h.write("decrypt/t", map[string]any{"ciphertext": cts[2]})
	h.fails("encrypt/t", map[string]any{"plaintext": b64("x"), "key_version": 2}, logical.ErrInvalidRequest)

	// The trimmed state survives a restart, and export no longer sees the
	// trimmed versions.
	h.restart()
	if k := h.must(opRead, "keys/t", nil); num(t, k, "min_available_version") != 3 || num(t, k, "latest_version") != 4 {
		t.Errorf("after restart = %v", k)
	}
	if got := h.must(opList, "keys", nil)["keys"]; !cmp.Equal(got, []any{"t"}) {
		t.Errorf("list = %v", got)
	}
	if k := h.write("keys/t/config", map[string]any{"min_encryption_version": 0}); num(t, k, "min_encryption_version") != 0 {
		t.Errorf("min_encryption_version 0 = %v", k)
	}
}

func TestAutoRotate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.fails("keys/short", map[string]any{"auto_rotate_period": "30m"}, logical.ErrInvalidRequest)
	k := h.write("keys/ar", map[string]any{"auto_rotate_period": "1h"})
	if num(t, k, "auto_rotate_period") != 3600 {
		t.Fatalf("auto_rotate_period = %v, want 3600", k["auto_rotate_period"])
	}
	h.write("keys/manual", nil)
	periodic := func() {
		t.Helper()
		if err := h.Backend.(logical.Periodic).Periodic(t.Context()); err != nil {
			t.Fatalf("Periodic: %v", err)
		}
	}
	latest := func(name string) int {
		t.Helper()
		return num(t, h.must(opRead, "keys/"+name, nil), "latest_version")
	}
	h.Clock.Advance(59 * time.Minute)
	periodic()
	if latest("ar") != 1 {
		t.Fatal("rotated before the period passed")
	}
	h.Clock.Advance(time.Minute)
	periodic()
	periodic()
	if latest("ar") != 2 || latest("manual") != 1 {
		t.Fatalf("after one period: ar v%d, manual v%d, want v2 and v1", latest("ar"), latest("manual"))
	}

	// The schedule survives a restart: the last rotation is stored.
	h.restart()
	h.Clock.Advance(30 * time.Minute)
	periodic()
	if latest("ar") != 2 {
		t.Fatal("rotated early after a restart")
	}
	// A manual rotation restarts the period.
	h.write("keys/ar/rotate", nil)
	h.Clock.Advance(45 * time.Minute)
	periodic()
	if latest("ar") != 3 {
		t.Fatalf("latest = %d, want 3 (manual rotation only)", latest("ar"))
	}
	h.Clock.Advance(15 * time.Minute)
	periodic()
	if latest("ar") != 4 {
		t.Fatalf("latest = %d, want 4", latest("ar"))
	}
	// Turning the period off stops rotation; turning it on for an
	// existing key counts from its last rotation.
	h.write("keys/ar/config", map[string]any{"auto_rotate_period": 0})
	h.write("keys/manual/config", map[string]any{"auto_rotate_period": 7200})
	h.Clock.Advance(2 * time.Hour)
	periodic()
	if latest("manual") != 2 {
		t.Fatalf("manual latest = %d, want 2", latest("manual"))
	}
	h.Clock.Advance(10 * time.Hour)
	periodic()
	if latest("ar") != 4 {
		t.Fatalf("rotated after auto-rotation was turned off: v%d", latest("ar"))
	}
}

// TestNoStorageReadPerOperation checks that encryption and friends are
// served from the cache.
func TestNoStorageReadPerOperation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("keys/c", nil)
	h.write("keys/s", map[string]any{"type": "ecdsa-p256"})
	ct := h.write("encrypt/c", map[string]any{"plaintext": b64("x")})["ciphertext"]
	sig := h.write("sign/s", map[string]any{"input": b64("x")})["signature"]
	before := h.Storage.Counts()
	for range 50 {
		h.write("encrypt/c", map[string]any{"plaintext": b64("x")})
		h.write("decrypt/c", map[string]any{"ciphertext": ct})
		h.write("sign/s", map[string]any{"input": b64("x")})
		h.write("verify/s", map[string]any{"input": b64("x"), "signature": sig})
		h.write("hmac/c", map[string]any{"input": b64("x")})
	}
	if after := h.Storage.Counts(); after != before {
		t.Errorf("storage calls went from %+v to %+v", before, after)
	}
	// A change is one write.
	h.write("keys/c/rotate", nil)
	if after := h.Storage.Counts(); after.Puts != before.Puts+1 || after.Gets != before.Gets {
		t.Errorf("rotate cost %+v -> %+v, want exactly one put", before, after)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("keys/k", nil)
	tests := []struct {
		path string
		body map[string]any
	}{
		{path: "keys/bad name", body: nil},
		{path: "keys/k2", body: map[string]any{"type": "des"}},
		{path: "keys/k2", body: map[string]any{"derived": "perhaps"}},
		{path: "encrypt/k", body: map[string]any{}},
		{path: "encrypt/k", body: map[string]any{"plaintext": "not base64!"}},
		{path: "encrypt/k", body: map[string]any{"plaintext": b64("x"), "key_version": 9}},
		{path: "encrypt/k", body: map[string]any{"plaintext": b64("x"), "key_version": -1}},
		{path: "encrypt/k", body: map[string]any{"plaintext": b64("x"), "partial_failure_response_code": 700}},
		{path: "encrypt/k", body: map[string]any{"batch_input": []any{}}},
		{path: "encrypt/k", body: map[string]any{"batch_input": []any{"x"}}},
		{path: "encrypt/k", body: map[string]any{"plaintext": b64("x"), "nonce": b64("123456789012")}},
		{path: "decrypt/k", body: map[string]any{}},
		{path: "decrypt/k", body: map[string]any{"ciphertext": "vault:v0:AAAA"}},
		{path: "decrypt/k", body: map[string]any{"ciphertext": "vault:v01:AAAA"}},
		{path: "decrypt/k", body: map[string]any{"ciphertext": "vault:v1:***"}},
		{path: "sign/k", body: map[string]any{"input": b64("x")}},
		{path: "verify/k", body: map[string]any{"input": b64("x")}},
		{path: "verify/k", body: map[string]any{"input": b64("x"), "hmac": "vault:v1:AAAA", "signature": "vault:v1:AAAA"}},
		{path: "hmac/k/md5", body: map[string]any{"input": b64("x")}},
		{path: "hmac/k", body: map[string]any{}},
	}
	for _, tt := range tests {
		if _, err := h.do(opUpdate, tt.path, tt.body); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("update %s %v: error = %v, want ErrInvalidRequest", tt.path, tt.body, err)
		}
	}
	// Unknown members of a batch item are ignored, as in Vault.
	if _, err := h.do(opUpdate, "encrypt/k", map[string]any{"batch_input": []any{map[string]any{"plaintext": b64("x"), "extra": 1}}}); err != nil {
		t.Errorf("batch item with an unknown field: %v", err)
	}
}

// TestConcurrentWriters checks that writers of one key are serialised:
// concurrent rotations each add exactly one version, and encryptions
// running meanwhile always decrypt.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.write("keys/c", nil)
	const rotations = 20
	done := make(chan error, 2*rotations)
	for range rotations {
		go func() {
			_, err := h.do(opUpdate, "keys/c/rotate", nil)
			done <- err
		}()
		go func() {
			out, err := h.do(opUpdate, "encrypt/c", map[string]any{"plaintext": b64("x")})
			if err == nil {
				_, err = h.do(opUpdate, "decrypt/c", map[string]any{"ciphertext": out["ciphertext"]})
			}
			done <- err
		}()
	}
	for range 2 * rotations {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	h.restart()
	if got := num(t, h.must(opRead, "keys/c", nil), "latest_version"); got != rotations+1 {
		t.Errorf("latest_version = %d, want %d", got, rotations+1)
	}
}

// TestInvalidate runs two backends on one storage, as two nodes of a
// cluster do: the second keeps serving its cached key ring after the first
// rotates, until it is told the key changed; other keys' notices change
// nothing.
func TestInvalidate(t *testing.T) {
	t.Parallel()
	active := newHarness(t)
	active.write("keys/k", nil)
	standby := &harness{logicaltest.NewHarness(t, Factory, active.Env)}
	if got := num(t, standby.must(logical.ReadOperation, "keys/k", nil), "latest_version"); got != 1 {
		t.Fatalf("standby latest_version = %d, want 1", got)
	}
	active.write("keys/k/rotate", nil)
	tests := []struct {
		name string
		key  string
		want int
	}{
		{"another key", "keys/other", 1},
		{"not a key", "policy/k", 1},
		{"empty name", "keys/", 1},
		{"the rotated key", "keys/k", 2},
	}
	for _, tt := range tests {
		standby.Backend.(logical.Invalidator).Invalidate(t.Context(), tt.key)
		if got := num(t, standby.must(logical.ReadOperation, "keys/k", nil), "latest_version"); got != tt.want {
			t.Errorf("%s: after Invalidate(%q) latest_version = %d, want %d", tt.name, tt.key, got, tt.want)
		}
	}
	ct := str(t, active.write("encrypt/k", map[string]any{"plaintext": "aGk="}), "ciphertext")
	if pt := str(t, standby.write("decrypt/k", map[string]any{"ciphertext": ct}), "plaintext"); pt != "aGk=" {
		t.Errorf("standby decrypt of a v2 ciphertext = %q", pt)
	}
}

func TestMissingKeyErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tests := []struct {
		name string
		op   logical.Operation
		path string
		body map[string]any
		want string
	}{
		{"encrypt without create", opUpdate, "encrypt/none", map[string]any{"plaintext": b64("x")}, "encryption key not found"},
		{"decrypt", opUpdate, "decrypt/none", map[string]any{"ciphertext": "vault:v1:AAAA"}, "encryption key not found"},
		{"rewrap", opUpdate, "rewrap/none", map[string]any{"ciphertext": "vault:v1:AAAA"}, "encryption key not found"},
		{"datakey", opUpdate, "datakey/plaintext/none", nil, "encryption key not found"},
		{"hmac", opUpdate, "hmac/none", map[string]any{"input": b64("x")}, "encryption key not found"},
		{"sign", opUpdate, "sign/none", map[string]any{"input": b64("x")}, "signing key not found"},
		{"verify signature", opUpdate, "verify/none", map[string]any{"input": b64("x"), "signature": "vault:v1:AAAA"}, "signature verification key not found"},
		{"verify hmac", opUpdate, "verify/none", map[string]any{"input": b64("x"), "hmac": "vault:v1:AAAA"}, "encryption key not found"},
		{"backup", opRead, "backup/none", nil, "not found"},
		{"rotate", opUpdate, "keys/none/rotate", nil, "key not found"},
		{"config", opUpdate, "keys/none/config", map[string]any{"deletion_allowed": true}, "key not found"},
		{"trim", opUpdate, "keys/none/trim", map[string]any{"min_available_version": 1}, "key not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.do(tt.op, tt.path, tt.body)
			if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s %s: error = %v, want ErrInvalidRequest with %q", tt.op, tt.path, err, tt.want)
			}
		})
	}
	if out, err := h.do(opRead, "export/encryption-key/none", nil); err != nil || out != nil {
		t.Errorf("export of a missing key = %v, %v, want no data and no error (404)", out, err)
	}
}

func TestDisableUpsert(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if got := h.must(opRead, "config/keys", nil)["disable_upsert"]; got != false {
		t.Errorf("default disable_upsert = %v, want false", got)
	}
	if got := h.write("config/keys", map[string]any{"disable_upsert": true})["disable_upsert"]; got != true {
		t.Errorf("written disable_upsert = %v, want true", got)
	}
	_, err := h.do(opCreate, "encrypt/new", map[string]any{"plaintext": b64("x")})
	if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "encryption key not found") {
		t.Fatalf("encrypt with upsert disabled: error = %v, want encryption key not found", err)
	}
	h.write("keys/existing", nil)
	if _, err := h.do(opUpdate, "encrypt/existing", map[string]any{"plaintext": b64("x")}); err != nil {
		t.Errorf("encrypt with an existing key and upsert disabled: %v", err)
	}
	h.write("config/keys", map[string]any{"disable_upsert": false})
	if _, err := h.do(opCreate, "encrypt/new", map[string]any{"plaintext": b64("x")}); err != nil {
		t.Errorf("encrypt after upsert enabled again: %v", err)
	}
}
