package pki

import (
	"encoding/json"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// benchIssue issues certificates with keys of keyType from an EC P-256
// root, storing each one.
func benchIssue(b *testing.B, keyType string) {
	h := newHarness(b)
	h.genRoot(`,"ttl":"20h"`)
	h.Must(opUpdate, "roles/web", `{"allowed_domains":"example.com","allow_subdomains":true,"key_type":"`+keyType+`"}`)
	req := &logical.Request{
		Operation: logical.UpdateOperation,
		Path:      "issue/web",
		Body:      json.RawMessage(`{"common_name":"api.example.com","alt_names":"www.example.com","ip_sans":"10.0.0.1"}`),
	}
	b.ReportAllocs()
	cpu0, ok := processCPU()
	for b.Loop() {
		resp, err := h.Backend.HandleRequest(b.Context(), req)
		if err != nil || resp == nil {
			b.Fatalf("issue = %v, %v", resp, err)
		}
	}
	// On a shared machine wall time per operation says little; the
	// process's CPU time per operation (including GC) is the cost.
	if cpu1, ok1 := processCPU(); ok && ok1 && b.N > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkIssueEC256(b *testing.B)   { benchIssue(b, "ec") }
func BenchmarkIssueRSA2048(b *testing.B) { benchIssue(b, "rsa") }
func BenchmarkIssueEd25519(b *testing.B) { benchIssue(b, "ed25519") }
