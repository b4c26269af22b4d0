package cubbyhole

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	const id = "cubby-1"
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: logical.CreateOperation, Path: "notes", CubbyholeID: id, Body: json.RawMessage(`{"k":"v"}`)},
			{Operation: logical.UpdateOperation, Path: "dir/deep", CubbyholeID: id, Body: json.RawMessage(`{"n":1}`)},
		},
		Reads: []*logical.Request{
			{Operation: logical.ReadOperation, Path: "notes", CubbyholeID: id},
			{Operation: logical.ListOperation, Path: "", CubbyholeID: id},
			{Operation: logical.ListOperation, Path: "dir/", CubbyholeID: id},
		},
		ServesAllPaths: true, // every path is a secret's
	})
}

// TestCubbyholes checks what each token sees: its own secrets only, and
// nothing at all without a cubbyhole.
func TestCubbyholes(t *testing.T) {
	t.Parallel()
	b := logicaltest.New(t, Factory, logicaltest.NewEnv(nil))
	do := func(op logical.Operation, id, path, body string) (*logical.Response, error) {
		req := &logical.Request{Operation: op, Path: path, CubbyholeID: id}
		if body != "" {
			req.Body = json.RawMessage(body)
		}
		return b.HandleRequest(t.Context(), req)
	}
	if _, err := do(logical.UpdateOperation, "a", "x", `{"v":"a's"}`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		op      logical.Operation
		id      string
		path    string
		body    string
		want    string // the response data, "" for none
		wantErr error
	}{
		{name: "the owner reads", op: logical.ReadOperation, id: "a", path: "x", want: `{"v":"a's"}`},
		{name: "another token sees nothing", op: logical.ReadOperation, id: "b", path: "x"},
		{name: "another token lists nothing", op: logical.ListOperation, id: "b", path: ""},
		{name: "the owner lists", op: logical.ListOperation, id: "a", path: "", want: `{"keys":["x"]}`},
		{name: "no cubbyhole", op: logical.ReadOperation, id: "", path: "x", wantErr: logical.ErrPermissionDenied},
		{name: "empty secret", op: logical.UpdateOperation, id: "a", path: "y", body: `{}`, wantErr: logical.ErrInvalidRequest},
		{name: "no body", op: logical.UpdateOperation, id: "a", path: "y", wantErr: logical.ErrInvalidRequest},
		{name: "a directory is not a secret", op: logical.UpdateOperation, id: "a", path: "dir/", body: `{"v":1}`, wantErr: logical.ErrInvalidRequest},
		{name: "too large", op: logical.UpdateOperation, id: "a", path: "big", body: `{"v":"` + strings.Repeat("x", MaxDataBytes) + `"}`, wantErr: logical.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := do(tt.op, tt.id, tt.path, tt.body)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			got := ""
			if resp != nil && resp.Data != nil {
				raw, err := json.Marshal(resp.Data)
				if err != nil {
					t.Fatal(err)
				}
				got = string(raw)
			}
			if got != tt.want {
				t.Errorf("data = %s, want %s", got, tt.want)
			}
		})
	}
	// Deleting removes the owner's secret only.
	if _, err := do(logical.UpdateOperation, "b", "x", `{"v":"b's"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := do(logical.DeleteOperation, "a", "x", ""); err != nil {
		t.Fatal(err)
	}
	if resp, err := do(logical.ReadOperation, "a", "x", ""); err != nil || resp != nil {
		t.Errorf("read after delete = %v, %v; want nothing", resp, err)
	}
	if resp, err := do(logical.ReadOperation, "b", "x", ""); err != nil || resp == nil {
		t.Errorf("b's secret after a's delete = %v, %v; want it kept", resp, err)
	}
}
