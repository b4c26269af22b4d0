package tokenapi

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestRolePrincipals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	roles := logicaltest.NewStorage()
	b := New(Options{Roles: roles, Clock: logical.SystemClock{}})
	for _, w := range []struct{ name, body string }{
		{"deployer", `{"allowed_policies":"app,ops","disallowed_policies":"admin","orphan":true,"period":"1h","path_suffix":"v1"}`},
		{"free", `{"token_no_default_policy":true,"renewable":false,"token_bound_cidrs":"10.0.0.0/8"}`},
	} {
		req := &logical.Request{Operation: logical.UpdateOperation, Path: "roles/" + w.name, Body: json.RawMessage(w.body)}
		if _, err := b.HandleRequest(ctx, req); err != nil {
			t.Fatalf("write %s: %v", w.name, err)
		}
	}
	got, err := RolePrincipals(ctx, roles)
	if err != nil {
		t.Fatal(err)
	}
	want := []logical.Principal{
		{Kind: "role", Name: "deployer", Policies: []string{"app", "default", "ops"}, Bindings: map[string]any{
			"allowed_policies": []string{"app", "ops"}, "disallowed_policies": []string{"admin"},
			"orphan": true, "renewable": true, "path_suffix": "v1", "period": int64(3600), "token_period": int64(3600),
		}},
		{Kind: "role", Name: "free", Policies: []string{}, Bindings: map[string]any{
			"allowed_policies": []string{}, "orphan": false, "renewable": false, "token_bound_cidrs": []string{"10.0.0.0/8"},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("principals (-want +got):\n%s", diff)
	}
}
