package core

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TestNeedsClusterBarrier checks which requests wait for the standbys
// after they changed something: those that take access away.
func TestNeedsClusterBarrier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op   logical.Operation
		path string
		want bool
	}{
		{logical.UpdateOperation, "auth/token/revoke", true},
		{logical.UpdateOperation, "auth/token/revoke-self", true},
		{logical.UpdateOperation, "auth/token/revoke-accessor", true},
		{logical.UpdateOperation, "auth/token/revoke-orphan", true},
		{logical.UpdateOperation, "sys/leases/revoke", true},
		{logical.UpdateOperation, "sys/leases/revoke-prefix/aws/", true},
		{logical.UpdateOperation, "sys/leases/revoke-force/aws/", true},
		{logical.UpdateOperation, "sys/revoke/abc", true},
		{logical.DeleteOperation, "sys/policy/reader", true},
		{logical.UpdateOperation, "sys/policy/reader", true},
		{logical.DeleteOperation, "sys/policies/acl/reader", true},
		{logical.UpdateOperation, "identity/entity/id/123", true},
		{logical.DeleteOperation, "identity/group/name/g", true},
		{logical.DeleteOperation, "sys/auth/userpass", true},
		{logical.DeleteOperation, "sys/mounts/aws", true},
		{logical.UpdateOperation, "sys/remount", true},
		{logical.UpdateOperation, "sys/incident/contain", true},
		{logical.UpdateOperation, "sys/incident/lockdown", true},
		{logical.DeleteOperation, "sys/incident/lockdown", true},
		{logical.UpdateOperation, "sys/incident/release", true},
		{logical.DeleteOperation, "auth/userpass/users/alice", true},
		{logical.DeleteOperation, "auth/approle/role/web", true},
		{logical.UpdateOperation, "sys/auth/userpass", false},
		{logical.UpdateOperation, "sys/mounts/aws", false},
		{logical.UpdateOperation, "auth/userpass/users/alice", false},
		{logical.DeleteOperation, "secret/data/app", false},
		{logical.ReadOperation, "sys/policy/reader", false},
		{logical.ListOperation, "identity/entity/id/", false},
		{logical.UpdateOperation, "auth/token/create", false},
		{logical.UpdateOperation, "secret/data/app", false},
		{logical.UpdateOperation, "sys/leases/renew", false},
	}
	for _, tt := range tests {
		req := &Request{Request: &logical.Request{Operation: tt.op, Path: tt.path}}
		if got := needsClusterBarrier(req); got != tt.want {
			t.Errorf("needsClusterBarrier(%s %s) = %v, want %v", tt.op, tt.path, got, tt.want)
		}
	}
}
