package userpass

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one userpass backend through HandleRequest.
type harness struct {
	t  testing.TB
	b  logical.Backend
	st *logicaltest.Storage
}

// testFactory builds backends that hash with Argon2id parameters some
// hundreds of times cheaper than the production ones, so that tests spend
// their time on behaviour rather than on hashing. TestStoredHash and the
// benchmark use [Factory] and so the production parameters.
func testFactory(ctx context.Context, env logical.Env) (logical.Backend, error) {
	return newBackend(ctx, env, hashParams{Time: 1, MemoryKiB: 64, Threads: 1})
}

// newHarness builds a backend with the cheap test parameters.
func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, testFactory)
}

// newHarnessWith builds a backend with factory.
func newHarnessWith(t testing.TB, factory logical.Factory) *harness {
	t.Helper()
	env := logicaltest.NewEnv(nil)
	return &harness{t: t, b: logicaltest.New(t, factory, env), st: env.Storage.(*logicaltest.Storage)}
}

// req is one request in a test table; addr is the client's "ip:port".
type req struct {
	op   logical.Operation
	path string
	body string
	addr string
}

func (h *harness) do(r req) (*logical.Response, error) {
	h.t.Helper()
	lr := &logical.Request{Operation: r.op, Path: r.path, Connection: &logical.Connection{RemoteAddr: r.addr}}
	if lr.Connection.RemoteAddr == "" {
		lr.Connection.RemoteAddr = "192.0.2.10:51000"
	}
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

func js(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test JSON %q: %v", s, err)
	}
	return v
}

func diffJSON(t testing.TB, what, want string, resp *logical.Response) {
	t.Helper()
	if diff := cmp.Diff(js(t, want), data(t, resp)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

func wantKind(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error = %v, want %v", what, err, kind)
	}
}

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)
