package transit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// benchPlaintext is 64 bytes, base64-encoded.
var benchPlaintext = b64(strings.Repeat("p", 64))

func benchTypes() []keyType {
	return []keyType{typeAES128, typeAES256, typeChaCha, typeRSA2048}
}

func BenchmarkEncrypt(b *testing.B) {
	for _, typ := range benchTypes() {
		b.Run(string(typ), func(b *testing.B) {
			h := newHarness(b)
			h.write("keys/k", map[string]any{"type": typ})
			req := &logical.Request{Operation: logical.UpdateOperation, Path: "encrypt/k", Body: json.RawMessage(`{"plaintext":"` + benchPlaintext + `"}`)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Backend.HandleRequest(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	for _, typ := range benchTypes() {
		b.Run(string(typ), func(b *testing.B) {
			h := newHarness(b)
			h.write("keys/k", map[string]any{"type": typ})
			ct := str(b, h.write("encrypt/k", map[string]any{"plaintext": benchPlaintext}), "ciphertext")
			req := &logical.Request{Operation: logical.UpdateOperation, Path: "decrypt/k", Body: json.RawMessage(`{"ciphertext":"` + ct + `"}`)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Backend.HandleRequest(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	for _, typ := range []keyType{typeEd25519, typeECDSAP256, typeRSA2048} {
		b.Run(string(typ), func(b *testing.B) {
			h := newHarness(b)
			h.write("keys/k", map[string]any{"type": typ})
			req := &logical.Request{Operation: logical.UpdateOperation, Path: "sign/k", Body: json.RawMessage(`{"input":"` + benchPlaintext + `"}`)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Backend.HandleRequest(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
