package transit

import (
	"crypto/ecdsa"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one transit backend through HandleRequest.
type harness struct {
	t     testing.TB
	b     logical.Backend
	env   logical.Env
	st    *logicaltest.Storage
	clock *logicaltest.Clock
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	env := logicaltest.NewEnv(nil)
	return &harness{
		t:     t,
		b:     logicaltest.New(t, Factory, env),
		env:   env,
		st:    env.Storage.(*logicaltest.Storage),
		clock: env.Clock.(*logicaltest.Clock),
	}
}

// restart builds a fresh backend on the same storage and clock, as after
// a server restart.
func (h *harness) restart() {
	h.t.Helper()
	h.b = logicaltest.New(h.t, Factory, h.env)
}

// do sends op on path with body marshalled to JSON (nil for none).
func (h *harness) do(op logical.Operation, path string, body any) (map[string]any, error) {
	h.t.Helper()
	req := &logical.Request{Operation: op, Path: path}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			h.t.Fatalf("marshal body: %v", err)
		}
		req.Body = raw
	}
	resp, err := h.b.HandleRequest(h.t.Context(), req)
	if err != nil {
		return nil, err
	}
	return toMap(h.t, resp), nil
}

// must is do that fails the test on error.
func (h *harness) must(op logical.Operation, path string, body any) map[string]any {
	h.t.Helper()
	out, err := h.do(op, path, body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", op, path, err)
	}
	return out
}

// write is must with the update operation.
func (h *harness) write(path string, body any) map[string]any {
	h.t.Helper()
	return h.must(logical.UpdateOperation, path, body)
}

// fails sends an update that must fail with kind.
func (h *harness) fails(path string, body any, kind error) error {
	h.t.Helper()
	_, err := h.do(logical.UpdateOperation, path, body)
	if !errors.Is(err, kind) {
		h.t.Fatalf("update %s: error = %v, want %v", path, err, kind)
	}
	return err
}

func toMap(t testing.TB, resp *logical.Response) map[string]any {
	t.Helper()
	if resp == nil || resp.Data == nil {
		return nil
	}
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatalf("marshal response: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("unmarshal response: %v", err)
	}
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	out, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode base64: %v", err)
	}
	return out
}

// str returns m[k] as a string, failing when it is not one.
func str(t testing.TB, m map[string]any, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok {
		t.Fatalf("%q = %v (%T), want a string in %v", k, m[k], m[k], m)
	}
	return s
}

// num returns m[k] as an int, failing when it is not a number.
func num(t testing.TB, m map[string]any, k string) int {
	t.Helper()
	f, ok := m[k].(float64)
	if !ok {
		t.Fatalf("%q = %v (%T), want a number in %v", k, m[k], m[k], m)
	}
	return int(f)
}

// results returns the batch_results of a response.
func results(t testing.TB, m map[string]any) []map[string]any {
	t.Helper()
	list, ok := m["batch_results"].([]any)
	if !ok {
		t.Fatalf("batch_results = %v, want a list", m["batch_results"])
	}
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i] = v.(map[string]any)
	}
	return out
}

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)

func sha512Sum(b []byte) []byte {
	s := sha512.Sum512(b)
	return s[:]
}

func ecdsaVerifyRS(pub *ecdsa.PublicKey, digest, r, s []byte) bool {
	return ecdsa.Verify(pub, digest, new(big.Int).SetBytes(r), new(big.Int).SetBytes(s))
}
