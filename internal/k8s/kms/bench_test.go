package kms_test

import (
	"testing"

	kmsapi "k8s.io/kms/apis/v2"
)

// BenchmarkEncrypt and BenchmarkDecrypt measure one KMS call as the API
// server makes it: gRPC over the unix socket, the plugin, an HTTP request
// to a real Coffer server (in-memory storage) and transit. The API server
// calls Encrypt once per data key it generates and Decrypt once per data
// key it has not cached, not once per Secret.
func BenchmarkEncrypt(b *testing.B) {
	_, p := newPlugin(b)
	req := &kmsapi.EncryptRequest{Plaintext: make([]byte, 32), Uid: "bench"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.kms.Encrypt(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	_, p := newPlugin(b)
	enc, err := p.kms.Encrypt(b.Context(), &kmsapi.EncryptRequest{Plaintext: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	req := &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations, Uid: "bench"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.kms.Decrypt(b.Context(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptParallel is Decrypt from several goroutines at once,
// as when the API server starts and reads every Secret's data key.
func BenchmarkDecryptParallel(b *testing.B) {
	_, p := newPlugin(b)
	enc, err := p.kms.Encrypt(b.Context(), &kmsapi.EncryptRequest{Plaintext: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	req := &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.kms.Decrypt(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkStatus(b *testing.B) {
	_, p := newPlugin(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.kms.Status(b.Context(), &kmsapi.StatusRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}
