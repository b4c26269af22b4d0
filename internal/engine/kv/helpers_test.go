package kv

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one backend through HandleRequest.
type harness struct {
	t     testing.TB
	b     logical.Backend
	st    *logicaltest.Storage
	clock *logicaltest.Clock
}

func newHarness(t testing.TB, version string) *harness {
	t.Helper()
	env := logicaltest.NewEnv(map[string]string{"version": version})
	return &harness{
		t:     t,
		b:     logicaltest.New(t, Factory, env),
		st:    env.Storage.(*logicaltest.Storage),
		clock: env.Clock.(*logicaltest.Clock),
	}
}

// newSlowHarness is newHarness on a storage whose reads pause briefly, to
// widen the read-modify-write window that concurrency tests probe.
func newSlowHarness(t testing.TB, version string) *harness {
	t.Helper()
	env := logicaltest.NewEnv(map[string]string{"version": version})
	st := env.Storage.(*logicaltest.Storage)
	env.Storage = slowStorage{st}
	return &harness{
		t:     t,
		b:     logicaltest.New(t, Factory, env),
		st:    st,
		clock: env.Clock.(*logicaltest.Clock),
	}
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
	h.t.Helper()
	q, err := url.ParseQuery(r.query)
	if err != nil {
		h.t.Fatalf("bad query %q: %v", r.query, err)
	}
	lr := &logical.Request{Operation: r.op, Path: r.path, Query: q}
	if r.body != "" {
		lr.Body = json.RawMessage(r.body)
	}
	return h.b.HandleRequest(h.t.Context(), lr)
}

func (h *harness) must(r req) *logical.Response {
	h.t.Helper()
	resp, err := h.do(r)
	if err != nil {
		h.t.Fatalf("%s %q: %v", r.op, r.path, err)
	}
	return resp
}

// data returns the response data as generic JSON, or nil for no response.
func data(t testing.TB, resp *logical.Response) any {
	t.Helper()
	if resp == nil || resp.Data == nil {
		return nil
	}
	b, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatalf("marshal response data: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// js parses a JSON literal written in a test.
func js(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	return v
}

func wantKind(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error = %v, want %v", what, err, kind)
	}
}

func diffJSON(t testing.TB, what string, want string, resp *logical.Response) {
	t.Helper()
	if diff := cmp.Diff(js(t, want), data(t, resp)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

// ts formats the harness clock's time plus d as responses show it.
func (h *harness) ts(d time.Duration) string {
	return h.clock.Now().Add(d).UTC().Format(time.RFC3339Nano)
}

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opPatch  = logical.PatchOperation
	opDelete = logical.DeleteOperation
)
