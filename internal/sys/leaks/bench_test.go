package leaks

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/coffer-secrets/coffer/internal/leaks"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// benchSource is a [logical.ValueSource] of n secrets of one value each.
type benchSource struct{ n int }

func (s benchSource) ValueKeys(_ context.Context, fn func(string) (bool, error)) error {
	for i := range s.n {
		if more, err := fn(fmt.Sprintf("app-%06d", i)); err != nil || !more {
			return err
		}
	}
	return nil
}

func (s benchSource) SecretValues(_ context.Context, key string) (*logical.SecretValues, error) {
	return &logical.SecretValues{Kind: "kv", Path: key, ReadPath: "data/" + key, Values: []logical.SecretValue{
		{Field: "password", Value: "pw-of-" + key, Version: 1, Current: true},
	}}, nil
}

type benchMounts struct{ src benchSource }

func (m benchMounts) ValueMounts() []leaks.Mount {
	return []leaks.Mount{{Accessor: "m", Path: "secret/", Source: m.src}}
}

// allowAll is an ACL that allows everything.
type allowAll struct{}

func (allowAll) Allowed(string, logical.Operation) bool { return true }

func (allowAll) AllowedParams(string, logical.Operation, map[string]any) bool { return true }

type memStorage map[string][]byte

func (s memStorage) Get(_ context.Context, k string) (*logical.StorageEntry, error) {
	if v, ok := s[k]; ok {
		return &logical.StorageEntry{Key: k, Value: v}, nil
	}
	return nil, nil
}
func (s memStorage) Put(_ context.Context, e *logical.StorageEntry) error {
	s[e.Key] = e.Value
	return nil
}
func (memStorage) Delete(context.Context, string) error           { return nil }
func (memStorage) List(context.Context, string) ([]string, error) { return nil, nil }
func (memStorage) Txn(context.Context, []logical.TxnOp) error     { return nil }

// BenchmarkCheckEndpoint runs the endpoint's handler (parse, index,
// ACL, answer; no HTTP, no audit, no rate limit) on calls of 1,000
// candidates, ten of them live secrets, against 100,000 indexed values.
func BenchmarkCheckEndpoint(b *testing.B) {
	idx := leaks.New(leaks.Options{Storage: memStorage{}, Mounts: benchMounts{benchSource{100_000}}})
	api := New(Options{Index: idx, Limits: Limits{CallsPerSecond: 1e9, CallBurst: 1 << 30, CandidatesPerMinute: 1e15, CandidateBurst: 1 << 30,
		GlobalCandidatesPerMinute: 1e15, GlobalCandidateBurst: 1 << 30}})
	be := &framework.Backend{Paths: api.Paths()}
	hs := make([]string, MaxCandidates)
	for i := range hs {
		v := fmt.Sprint("candidate-", i)
		if i%100 == 0 {
			v = fmt.Sprintf("pw-of-app-%06d", i*99)
		}
		hs[i] = b64(v)
	}
	body, err := json.Marshal(map[string]any{"candidates": hs})
	if err != nil {
		b.Fatal(err)
	}
	req := func() *logical.Request {
		return &logical.Request{Operation: logical.UpdateOperation, Path: "leaks/check", MountPoint: "sys/", Body: body, Accessor: "acc", Access: allowAll{}}
	}
	if _, err := be.HandleRequest(b.Context(), req()); err != nil { // builds the index
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		resp, err := be.HandleRequest(b.Context(), req())
		if err != nil {
			b.Fatal(err)
		}
		if n := len(resp.Data.(*Answer).Matches); n != 10 {
			b.Fatalf("%d matches, want 10", n)
		}
	}
	b.ReportMetric(float64(b.N*MaxCandidates)/b.Elapsed().Seconds(), "candidates/s")
}
