package transit

import (
	"crypto/ecdsa"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"math/big"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one transit backend through HandleRequest; do and must
// answer the response data as a JSON object.
type harness struct{ *logicaltest.Harness }

func newHarness(t testing.TB) *harness {
	t.Helper()
	return &harness{logicaltest.NewHarness(t, Factory, logical.Env{})}
}

// restart builds a fresh backend on the same storage and clock, as after
// a server restart.
func (h *harness) restart() {
	h.T.Helper()
	h.Backend = logicaltest.New(h.T, Factory, h.Env)
}

// do sends op on path with body marshalled to JSON (nil for none).
func (h *harness) do(op logical.Operation, path string, body any) (map[string]any, error) {
	h.T.Helper()
	resp, err := h.Do(op, path, body)
	if err != nil {
		return nil, err
	}
	return toMap(h.T, resp), nil
}

// must is do that fails the test on error.
func (h *harness) must(op logical.Operation, path string, body any) map[string]any {
	h.T.Helper()
	out, err := h.do(op, path, body)
	if err != nil {
		h.T.Fatalf("%s %s: %v", op, path, err)
	}
	return out
}

// write is must with the update operation.
func (h *harness) write(path string, body any) map[string]any {
	h.T.Helper()
	return h.must(logical.UpdateOperation, path, body)
}

// fails sends an update that must fail with kind.
func (h *harness) fails(path string, body any, kind error) error {
	h.T.Helper()
	_, err := h.do(logical.UpdateOperation, path, body)
	if !errors.Is(err, kind) {
		h.T.Fatalf("update %s: error = %v, want %v", path, err, kind)
	}
	return err
}

// toMap returns resp's data as a JSON object, nil for no data.
func toMap(t testing.TB, resp *logical.Response) map[string]any {
	t.Helper()
	v := logicaltest.Data(t, resp)
	if v == nil {
		return nil
	}
	out, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("response data is %T, want a JSON object", v)
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
