package approle

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one AppRole backend through HandleRequest.
type harness struct {
	t     testing.TB
	b     logical.Backend
	st    *logicaltest.Storage
	clock *logicaltest.Clock
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	env := logicaltest.NewEnv(nil)
	return &harness{
		t:     t,
		b:     logicaltest.New(t, Factory, env),
		st:    env.Storage.(*logicaltest.Storage),
		clock: env.Clock.(*logicaltest.Clock),
	}
}

// defaultAddr is the client address of requests that name none.
const defaultAddr = "192.0.2.10:51000"

// req is one request in a test table; addr is the client's "ip:port".
type req struct {
	op   logical.Operation
	path string
	body string
	addr string
}

func (h *harness) do(r req) (*logical.Response, error) {
	h.t.Helper()
	addr := r.addr
	if addr == "" {
		addr = defaultAddr
	}
	lr := &logical.Request{Operation: r.op, Path: r.path, Connection: &logical.Connection{RemoteAddr: addr}}
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

// role creates or updates role name with body and returns its role ID.
func (h *harness) role(name, body string) string {
	h.t.Helper()
	h.must(req{op: opUpdate, path: "role/" + name, body: body})
	resp := h.must(req{op: opRead, path: "role/" + name + "/role-id"})
	return resp.Data.(*roleIDData).RoleID
}

// secretID generates a secret ID for role name and returns it and its
// accessor.
func (h *harness) secretID(name, body string) (sid, accessor string) {
	h.t.Helper()
	resp := h.must(req{op: opUpdate, path: "role/" + name + "/secret-id", body: body})
	c := resp.Data.(*secretIDCreated)
	return c.SecretID, c.SecretIDAccessor
}

// login logs in from addr ("" for the default address).
func (h *harness) login(roleID, secretID, addr string) (*logical.Response, error) {
	h.t.Helper()
	body, err := json.Marshal(loginInput{RoleID: roleID, SecretID: secretID})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req{op: opUpdate, path: "login", body: string(body), addr: addr})
}

// storedKeys returns the stored keys that start with prefix.
func (h *harness) storedKeys(prefix string) []string {
	var out []string
	for k := range h.st.Snapshot() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
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

// wantInvalid checks that err is the one failed-login error: invalid
// credentials (HTTP 400, as in Vault), not permission denied.
func wantInvalid(t testing.TB, what string, err error) {
	t.Helper()
	if !isInvalid(err) {
		t.Fatalf("%s: error = %v, want ErrInvalidCredentials %q", what, err, "invalid role or secret ID")
	}
}

// isInvalid reports whether err is the one failed-login error.
func isInvalid(err error) bool {
	var le *logical.Error
	return errors.As(err, &le) && errors.Is(err, logical.ErrInvalidCredentials) &&
		!errors.Is(err, logical.ErrPermissionDenied) && le.Msg == "invalid role or secret ID"
}

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)
