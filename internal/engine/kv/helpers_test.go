package kv

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one backend through HandleRequest.
type harness struct{ *logicaltest.Harness }

func newHarness(t testing.TB, version string) *harness {
	t.Helper()
	return &harness{logicaltest.NewHarness(t, Factory, logicaltest.NewEnv(map[string]string{"version": version}))}
}

// newSlowHarness is newHarness on a storage whose reads pause briefly, to
// widen the read-modify-write window that concurrency tests probe.
func newSlowHarness(t testing.TB, version string) *harness {
	t.Helper()
	env := logicaltest.NewEnv(map[string]string{"version": version})
	st := env.Storage.(*logicaltest.Storage)
	env.Storage = slowStorage{st}
	h := &harness{logicaltest.NewHarness(t, Factory, env)}
	h.Storage = st
	return h
}

type slowStorage struct {
	*logicaltest.Storage
}

func (s slowStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	e, err := s.Storage.Get(ctx, key)
	time.Sleep(20 * time.Microsecond) // let other writers interleave
	return e, err
}

// req is one request in a test table; query is "k=v&k2=v2".
type req struct {
	op    logical.Operation
	path  string
	body  string
	query string
}

func (h *harness) do(r req) (*logical.Response, error) {
	h.T.Helper()
	q, err := url.ParseQuery(r.query)
	if err != nil {
		h.T.Fatalf("bad query %q: %v", r.query, err)
	}
	lr := h.Request(r.op, r.path, r.body)
	lr.Query = q
	return h.Send(lr)
}

func (h *harness) must(r req) *logical.Response {
	h.T.Helper()
	resp, err := h.do(r)
	if err != nil {
		h.T.Fatalf("%s %q: %v", r.op, r.path, err)
	}
	return resp
}

// ts formats the harness clock's time plus d as responses show it.
func (h *harness) ts(d time.Duration) string {
	return h.Clock.Now().Add(d).UTC().Format(time.RFC3339Nano)
}

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opPatch  = logical.PatchOperation
	opDelete = logical.DeleteOperation
)
