package kv

import (
	"encoding/json"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

const benchSecret = `{"data":{"username":"service-account","password":"correct horse battery staple","host":"db.internal:5432","options":{"sslmode":"verify-full","pool":20}}}`

func BenchmarkReadV2(b *testing.B) {
	h := newHarness(b, "2")
	h.must(req{op: opUpdate, path: "data/app/prod/db", body: benchSecret})
	r := &logical.Request{Operation: opRead, Path: "data/app/prod/db"}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h.Backend.HandleRequest(b.Context(), r)
		if err != nil || resp == nil {
			b.Fatalf("read = %v, %v", resp, err)
		}
	}
}

func BenchmarkReadV2Marshal(b *testing.B) {
	h := newHarness(b, "2")
	h.must(req{op: opUpdate, path: "data/app/prod/db", body: benchSecret})
	r := &logical.Request{Operation: opRead, Path: "data/app/prod/db"}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := h.Backend.HandleRequest(b.Context(), r)
		if err != nil || resp == nil {
			b.Fatalf("read = %v, %v", resp, err)
		}
		if _, err := json.Marshal(resp.Data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteV2(b *testing.B) {
	h := newHarness(b, "2")
	r := &logical.Request{Operation: opUpdate, Path: "data/app/prod/db", Body: json.RawMessage(benchSecret)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Backend.HandleRequest(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExistenceCheckV2 is the check the ACL makes before every write
// of data/<path> (create or update), on a key holding ten versions: it
// reads whether the metadata is there without decoding it.
func BenchmarkExistenceCheckV2(b *testing.B) {
	h := newHarness(b, "2")
	for range 10 {
		h.must(req{op: opUpdate, path: "data/app/prod/db", body: benchSecret})
	}
	ec := h.Backend.(logical.ExistenceChecker)
	r := &logical.Request{Operation: opUpdate, Path: "data/app/prod/db"}
	b.ReportAllocs()
	for b.Loop() {
		exists, handled, err := ec.ExistenceCheck(b.Context(), r)
		if err != nil || !exists || !handled {
			b.Fatalf("ExistenceCheck = %v, %v, %v", exists, handled, err)
		}
	}
}
