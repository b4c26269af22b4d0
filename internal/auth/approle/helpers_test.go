package approle

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one AppRole backend through HandleRequest.
type harness struct{ *logicaltest.Harness }

func newHarness(t testing.TB) *harness {
	t.Helper()
	return &harness{logicaltest.NewHarness(t, Factory, logical.Env{})}
}

// req is one request in a test table.
type req = logicaltest.Req

// role creates or updates role name with body and returns its role ID.
func (h *harness) role(name, body string) string {
	h.T.Helper()
	h.MustReq(req{Op: opUpdate, Path: "role/" + name, Body: body})
	resp := h.MustReq(req{Op: opRead, Path: "role/" + name + "/role-id"})
	return resp.Data.(*roleIDData).RoleID
}

// secretID generates a secret ID for role name and returns it and its
// accessor.
func (h *harness) secretID(name, body string) (sid, accessor string) {
	h.T.Helper()
	resp := h.MustReq(req{Op: opUpdate, Path: "role/" + name + "/secret-id", Body: body})
	c := resp.Data.(*secretIDCreated)
	return c.SecretID, c.SecretIDAccessor
}

// login logs in from addr ("" for the default address).
func (h *harness) login(roleID, secretID, addr string) (*logical.Response, error) {
	h.T.Helper()
	body, err := json.Marshal(loginInput{RoleID: roleID, SecretID: secretID})
	if err != nil {
		h.T.Fatal(err)
	}
	return h.DoReq(req{Op: opUpdate, Path: "login", Body: string(body), Addr: addr})
}

// storedKeys returns the stored keys that start with prefix.
func (h *harness) storedKeys(prefix string) []string {
	var out []string
	for k := range h.Storage.Snapshot() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
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
