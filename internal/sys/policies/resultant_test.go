package policies_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestResultantACL: sys/internal/ui/resultant-acl answers the caller's own
// rules merged by path (exact paths, and globs without their "*"), as
// Vault's does; a root token gets root; the default policy allows it.
func TestResultantACL(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	for name, text := range map[string]string{
		"a": `path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app" { capabilities = ["list"] }`,
		"b": `path "secret/data/app/*" { capabilities = ["update"] }
path "secret/data/app/admin" { capabilities = ["deny"] }
path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }`,
	} {
		if err := s.Client.Sys().PutPolicyWithContext(ctx, name, text); err != nil {
			t.Fatal(err)
		}
	}
	sec, err := s.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(sec.Auth.ClientToken)
	got, err := cl.Logical().ReadWithContext(ctx, "sys/internal/ui/resultant-acl")
	if err != nil {
		t.Fatal(err)
	}
	caps := func(c ...any) map[string]any { return map[string]any{"capabilities": c} }
	exact, _ := got.Data["exact_paths"].(map[string]any)
	glob, _ := got.Data["glob_paths"].(map[string]any)
	for _, tc := range []struct {
		in   map[string]any
		path string
		want map[string]any
	}{
		{glob, "secret/data/app/", caps("read", "update")},
		{exact, "secret/metadata/app", caps("list")},
		{exact, "secret/data/app/admin", caps("deny")},
		{exact, "auth/token/lookup-self", caps("read")}, // from default
	} {
		if diff := cmp.Diff(tc.want, tc.in[tc.path]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.path, diff)
		}
	}
	for k := range glob {
		if k == "secret/data/{{identity.entity.name}}/" {
			t.Error("an unresolved templated rule is listed")
		}
	}
	if got.Data["root"] != false {
		t.Errorf("root = %v for a non-root token", got.Data["root"])
	}
	root, err := s.Client.Logical().ReadWithContext(ctx, "sys/internal/ui/resultant-acl")
	if err != nil || root.Data["root"] != true {
		t.Errorf("root token: %v, %v", root, err)
	}
}
