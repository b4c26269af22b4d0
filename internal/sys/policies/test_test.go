package policies_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestPolicyTest: sys/policies/test evaluates a policy text or stored
// policies on paths as sys/capabilities would report them for a token
// holding them, stores nothing, answers the write's parse error for a bad
// text, and tests a stored policy only for a caller that may read it.
func TestPolicyTest(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	sys := s.Client.Sys()
	if err := sys.PutPolicyWithContext(ctx, "app", `
path "secret/data/app/*" { capabilities = ["read", "list"] }
path "secret/data/app/admin" { capabilities = ["deny"] }`); err != nil {
		t.Fatal(err)
	}
	if err := sys.PutPolicyWithContext(ctx, "tester", `
path "sys/policies/test" { capabilities = ["update"] }
path "sys/policies/acl/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"tester"}})
	if err != nil {
		t.Fatal(err)
	}
	limited, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	limited.SetToken(sec.Auth.ClientToken)

	tests := []struct {
		name       string
		client     *api.Client
		body       map[string]any
		want       map[string]any
		wantStatus int
		wantErr    string
	}{
		{"text", s.Client, map[string]any{"policy": `path "kv/+/x" { capabilities = ["create", "update"] }`, "paths": []string{"kv/a/x", "kv/a/b/x", "/kv/b/x"}},
			map[string]any{"capabilities": map[string]any{"kv/a/x": []any{"create", "update"}, "kv/a/b/x": []any{"deny"}, "/kv/b/x": []any{"create", "update"}}, "templated_skipped": false}, 0, ""},
		{"stored by name", limited, map[string]any{"names": "app", "paths": "secret/data/app/db,secret/data/app/admin,secret/data/other"},
			map[string]any{"capabilities": map[string]any{"secret/data/app/db": []any{"list", "read"}, "secret/data/app/admin": []any{"deny"}, "secret/data/other": []any{"deny"}}, "templated_skipped": false}, 0, ""},
		{"templated text without an entity", s.Client, map[string]any{"policy": `path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`, "path": "secret/data/alice/x"},
			map[string]any{"capabilities": map[string]any{"secret/data/alice/x": []any{"deny"}}, "templated_skipped": true}, 0, ""},
		{"syntax error", s.Client, map[string]any{"policy": `path "a" { capabilities = ["read"`, "path": "a"}, nil, http.StatusBadRequest, "failed to parse policy: "},
		{"unknown capability", s.Client, map[string]any{"policy": `path "a" { capabilities = ["reed"] }`, "path": "a"}, nil, http.StatusBadRequest, "reed"},
		{"no path", s.Client, map[string]any{"policy": `path "a" { capabilities = ["read"] }`}, nil, http.StatusBadRequest, "missing path"},
		{"both", s.Client, map[string]any{"policy": `path "a" { capabilities = ["read"] }`, "names": "app", "path": "a"}, nil, http.StatusBadRequest, "exactly one of"},
		{"neither", s.Client, map[string]any{"path": "a"}, nil, http.StatusBadRequest, "exactly one of"},
		{"bad path", s.Client, map[string]any{"names": "app", "path": "secret/../sys/x"}, nil, http.StatusBadRequest, ""},
		{"unknown policy", s.Client, map[string]any{"names": "nope", "path": "a"}, nil, http.StatusBadRequest, `no policy named "nope"`},
		{"unreadable policy", limited, map[string]any{"names": "tester", "path": "a"}, nil, http.StatusForbidden, "needs read on sys/policies/acl/tester"},
		{"unreadable unknown policy", limited, map[string]any{"names": "nope", "path": "a"}, nil, http.StatusForbidden, "permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.client.Logical().WriteWithContext(ctx, "sys/policies/test", tc.body)
			if tc.wantStatus != 0 {
				var re *api.ResponseError
				if !errors.As(err, &re) || re.StatusCode != tc.wantStatus || !strings.Contains(strings.Join(re.Errors, "\n"), tc.wantErr) {
					t.Fatalf("err %v, want status %d with %q", err, tc.wantStatus, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Data); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	// Nothing was stored.
	names, err := sys.ListPoliciesWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"app", "default", "root", "tester"}, names); diff != "" {
		t.Errorf("policies after the tests (-want +got):\n%s", diff)
	}
}
