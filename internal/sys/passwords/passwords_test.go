package passwords

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

const digits = `length = 12
rule "charset" {
  charset = "0123456789"
}`

func TestPasswordPolicies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := New(inmem.New())
	b := &framework.Backend{Paths: s.Paths()}
	call := func(op logical.Operation, path string, body any) (*logical.Response, error) {
		var raw json.RawMessage
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		return b.HandleRequest(ctx, &logical.Request{Operation: op, Path: path, Body: raw})
	}
	if _, err := call(logical.UpdateOperation, "policies/password/pin", map[string]string{"policy": digits}); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := call(logical.ReadOperation, "policies/password/pin/generate", nil)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	pw := resp.Data.(map[string]string)["password"]
	if len(pw) != 12 {
		t.Errorf("generated %d characters, want 12", len(pw))
	}
	for _, r := range pw {
		if r < '0' || r > '9' {
			t.Fatalf("generated a password outside the policy's charset")
		}
	}
	if got, err := s.Generate(ctx, ""); err != nil || len(got) == 0 {
		t.Errorf("Generate with the default policy = %d characters, %v", len(got), err)
	}

	refused := []struct {
		name string
		op   logical.Operation
		path string
		body any
	}{
		{"empty policy", logical.UpdateOperation, "policies/password/x", map[string]string{"policy": " "}},
		{"unparsable policy", logical.UpdateOperation, "policies/password/x", map[string]string{"policy": "length = "}},
		{"policy that cannot generate", logical.UpdateOperation, "policies/password/x", map[string]string{"policy": "length = 4\nrule \"charset\" {\n charset = \"ab\"\n min-chars = 5\n}"}},
		{"unknown policy", logical.ReadOperation, "policies/password/nope/generate", nil},
		{"name with a space", logical.ReadOperation, "policies/password/a b", nil},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := call(tt.op, tt.path, tt.body); !errors.Is(err, logical.ErrInvalidRequest) {
				t.Errorf("%s %s error = %v, want an invalid-request error", tt.op, tt.path, err)
			}
		})
	}

	if _, err := call(logical.DeleteOperation, "policies/password/pin", nil); err != nil {
		t.Fatal(err)
	}
	if resp, err := call(logical.ReadOperation, "policies/password/pin", nil); err != nil || resp != nil {
		t.Errorf("read after delete = %v, %v; want nothing", resp, err)
	}
}
