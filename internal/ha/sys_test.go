package ha

import (
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

func TestStandbyRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mountType string
		op        logical.Operation
		rel       string
		want      bool
	}{
		{"kv", logical.ReadOperation, "data/app", true},
		{"kv", logical.ListOperation, "metadata/", true},
		{"kv", logical.UpdateOperation, "data/app", false},
		{"kv", logical.DeleteOperation, "data/app", false},
		{"transit", logical.UpdateOperation, "encrypt/k", true},
		{"transit", logical.CreateOperation, "decrypt/k", true},
		{"transit", logical.UpdateOperation, "sign/k/sha2-256", true},
		{"transit", logical.UpdateOperation, "verify/k", true},
		{"transit", logical.UpdateOperation, "hmac/k", true},
		{"transit", logical.UpdateOperation, "keys/k", false},
		{"transit", logical.UpdateOperation, "keys/k/rotate", false},
		{"transit", logical.ReadOperation, "keys/k", false},
		{"transit", logical.UpdateOperation, "encryptx/k", false},
		{"pki", logical.ReadOperation, "cert/ca", false},
		{"database", logical.ReadOperation, "creds/app", false},
	}
	for _, tt := range tests {
		if got := StandbyRead(tt.mountType, tt.op, tt.rel); got != tt.want {
			t.Errorf("StandbyRead(%q, %v, %q) = %v, want %v", tt.mountType, tt.op, tt.rel, got, tt.want)
		}
	}
}

// TestPathsSingleServer checks the sys paths of a server without a node:
// step-down does nothing and ha-status says high availability is off.
func TestPathsSingleServer(t *testing.T) {
	t.Parallel()
	b := &framework.Backend{Paths: Paths(nil)}
	resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: "step-down"})
	if err != nil || resp != nil {
		t.Errorf("step-down = %v, %v; want nil, nil", resp, err)
	}
	_, err = b.HandleRequest(t.Context(), &logical.Request{Operation: logical.ReadOperation, Path: "ha-status"})
	if !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("ha-status = %v, want an invalid request", err)
	}
}
