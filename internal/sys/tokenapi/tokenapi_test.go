package tokenapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"
)

// wantError checks that err is an API error with status and a message
// containing words.
func wantError(t *testing.T, what string, err error, status int, words string) {
	t.Helper()
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok {
		t.Fatalf("%s: error %v, want %d %q", what, err, status, words)
	}
	if re.StatusCode != status || !strings.Contains(strings.Join(re.Errors, "\n"), words) {
		t.Fatalf("%s: %d %q, want %d %q", what, re.StatusCode, re.Errors, status, words)
	}
}

// startWithPolicies starts a server and writes an empty-ish policy for
// each name.
func startWithPolicies(t *testing.T, names ...string) *api.Client {
	t.Helper()
	s := testserver.Start(t)
	for _, n := range names {
		if err := s.Client.Sys().PutPolicy(n, `path "secret/data/`+n+`" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
	}
	return s.Client
}

// TestRoles writes a token role with every field, reads it back in
// Vault's shape, lists and deletes it, and checks the writes the API
// refuses.
func TestRoles(t *testing.T) {
	t.Parallel()
	cl := startWithPolicies(t, "app", "ops")
	lg := cl.Logical()
	if _, err := lg.Write("auth/token/roles/Deployer", map[string]any{
		"allowed_policies":    "App, ops",
		"disallowed_policies": []string{"Admin"},
		"orphan":              true,
		"path_suffix":         "v1",
		"period":              "1h",
		"bound_cidrs":         "127.0.0.1",
		"token_num_uses":      3,
	}); err != nil {
		t.Fatalf("write role: %v", err)
	}
	sec, err := lg.Read("auth/token/roles/deployer")
	if err != nil || sec == nil {
		t.Fatalf("read role = %v, %v", sec, err)
	}
	want := map[string]any{
		"name":                   "deployer",
		"allowed_policies":       []any{"app", "ops"},
		"disallowed_policies":    []any{"admin"},
		"allowed_entity_aliases": []any{},
		"orphan":                 true,
		"renewable":              true,
		"path_suffix":            "v1",
		"period":                 json.Number("3600"),
		"explicit_max_ttl":       json.Number("0"),
		"token_period":           json.Number("3600"),
		"token_num_uses":         json.Number("3"),
		"token_bound_cidrs":      []any{"127.0.0.1"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, sec.Data[k]); diff != "" {
			t.Errorf("role field %s (-want +got):\n%s", k, diff)
		}
	}
	list, err := lg.List("auth/token/roles")
	if err != nil || list == nil || !slices.Equal(toStrings(list.Data["keys"]), []string{"deployer"}) {
		t.Errorf("list roles = %v, %v; want [deployer]", list, err)
	}

	refusals := []struct {
		name   string
		path   string
		data   map[string]any
		status int
		words  string
	}{
		{name: "root allowed", path: "auth/token/roles/r1", data: map[string]any{"allowed_policies": "app,Root"}, status: http.StatusBadRequest, words: "a token role cannot allow the root policy"},
		{name: "path suffix escapes", path: "auth/token/roles/r2", data: map[string]any{"path_suffix": "a/../b"}, status: http.StatusBadRequest, words: `path_suffix must not contain ".."`},
		{name: "glob not supported", path: "auth/token/roles/r3", data: map[string]any{"disallowed_policies_glob": "adm*"}, status: http.StatusBadRequest, words: "disallowed_policies_glob"},
		{name: "name too long", path: "auth/token/roles/" + strings.Repeat("x", 129), data: map[string]any{}, status: http.StatusBadRequest, words: "invalid role name"},
	}
	for _, tt := range refusals {
		_, err := lg.Write(tt.path, tt.data)
		wantError(t, tt.name, err, tt.status, tt.words)
	}
	list, err = lg.List("auth/token/roles")
	if err != nil || list == nil || len(toStrings(list.Data["keys"])) != 1 {
		t.Errorf("list roles after refusals = %v, %v; want only deployer", list, err)
	}

	if _, err := lg.Delete("auth/token/roles/DEPLOYER"); err != nil {
		t.Fatalf("delete role: %v", err)
	}
	if sec, err := lg.Read("auth/token/roles/deployer"); err != nil || sec != nil {
		t.Errorf("read of a deleted role = %v, %v; want nothing", sec, err)
	}
}

// TestCreateWithRole checks the role rules as the API applies them: the
// role's policies when none are asked, the allowed and disallowed
// lists, orphan, path suffix, period and uses, and role_name in the body
// of auth/token/create.
func TestCreateWithRole(t *testing.T) {
	t.Parallel()
	cl := startWithPolicies(t, "app", "ops", "admin", "other")
	lg := cl.Logical()
	if _, err := lg.Write("auth/token/roles/deployer", map[string]any{
		"allowed_policies":    "app,ops",
		"disallowed_policies": "admin",
		"orphan":              true,
		"path_suffix":         "v1",
		"token_period":        "1h",
		"token_num_uses":      3,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := lg.Write("auth/token/roles/fixed", map[string]any{"renewable": false, "token_type": "batch"}); err != nil {
		t.Fatal(err)
	}
	tokens := cl.Auth().Token()

	tests := []struct {
		name  string
		role  string
		req   api.TokenCreateRequest
		check func(t *testing.T, a *api.SecretAuth, look *api.Secret)
	}{
		{
			name: "role's policies",
			role: "deployer",
			check: func(t *testing.T, a *api.SecretAuth, look *api.Secret) {
				if !slices.Equal(a.Policies, []string{"app", "default", "ops"}) || !a.Orphan || a.LeaseDuration != 3600 {
					t.Errorf("auth = %+v; want policies [app default ops], an orphan, 3600s", a)
				}
				if got := look.Data["num_uses"]; got != json.Number("3") {
					t.Errorf("num_uses = %v, want 3", got)
				}
				if got := look.Data["path"]; got != "auth/token/create/deployer/v1" {
					t.Errorf("path = %v", got)
				}
				if got := look.Data["role"]; got != "deployer" {
					t.Errorf("role = %v", got)
				}
			},
		},
		{
			name: "asked policies within the role, fewer uses",
			role: "deployer",
			req:  api.TokenCreateRequest{Policies: []string{"ops"}, NumUses: 2, NoDefaultPolicy: true},
			check: func(t *testing.T, a *api.SecretAuth, look *api.Secret) {
				if !slices.Equal(a.Policies, []string{"ops"}) {
					t.Errorf("auth = %+v; want policies [ops]", a)
				}
				if got := look.Data["num_uses"]; got != json.Number("2") {
					t.Errorf("num_uses = %v, want 2", got)
				}
			},
		},
		{
			name: "batch role, not renewable",
			role: "fixed",
			req:  api.TokenCreateRequest{Policies: []string{"admin"}, TTL: "10m"},
			check: func(t *testing.T, a *api.SecretAuth, look *api.Secret) {
				if a.Renewable || a.Orphan || a.LeaseDuration != 600 {
					t.Errorf("auth = %+v; want a non-renewable child of 600s", a)
				}
				if got := look.Data["type"]; got != "batch" {
					t.Errorf("type = %v, want batch", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec, err := tokens.CreateWithRole(&tt.req, tt.role)
			if err != nil || sec == nil || sec.Auth == nil {
				t.Fatalf("create with role %s = %v, %v", tt.role, sec, err)
			}
			look, err := tokens.Lookup(sec.Auth.ClientToken)
			if err != nil {
				t.Fatalf("lookup: %v", err)
			}
			tt.check(t, sec.Auth, look)
		})
	}

	// role_name in the body of auth/token/create names the role too.
	sec, err := lg.Write("auth/token/create", map[string]any{"role_name": "deployer"})
	if err != nil || sec.Auth == nil || !sec.Auth.Orphan || !slices.Contains(sec.Auth.Policies, "app") {
		t.Errorf("create with role_name = %+v, %v; want the role's orphan", sec, err)
	}

	refusals := []struct {
		name  string
		role  string
		req   api.TokenCreateRequest
		words string
	}{
		{name: "disallowed", role: "deployer", req: api.TokenCreateRequest{Policies: []string{"admin"}}, words: `policy "admin" is disallowed by the role`},
		{name: "not allowed", role: "deployer", req: api.TokenCreateRequest{Policies: []string{"other"}}, words: `policy "other" is not allowed by the role`},
		{name: "policy missing", role: "deployer", req: api.TokenCreateRequest{Policies: []string{"nope"}}, words: `policy "nope" does not exist`},
		{name: "unknown role", role: "nosuch", words: `unknown token role "nosuch"`},
		{name: "periodic batch", role: "fixed", req: api.TokenCreateRequest{Period: "1h"}, words: "batch tokens cannot be periodic or have limited uses"},
	}
	for _, tt := range refusals {
		_, err := tokens.CreateWithRole(&tt.req, tt.role)
		wantError(t, tt.name, err, http.StatusBadRequest, tt.words)
	}
	_, err = lg.Write("auth/token/create", map[string]any{"role_name": ".."})
	wantError(t, "role_name ..", err, http.StatusBadRequest, "invalid role name")
}

// TestRenewAccessorHidesToken checks that renewing by accessor answers
// the auth block without the token, and that tidy reports it finished.
func TestRenewAccessorHidesToken(t *testing.T) {
	t.Parallel()
	cl := startWithPolicies(t, "app")
	tokens := cl.Auth().Token()
	child, err := tokens.Create(&api.TokenCreateRequest{Policies: []string{"app"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := cl.Logical().Write("auth/token/renew-accessor", map[string]any{"accessor": child.Auth.Accessor, "increment": "30m"})
	if err != nil || sec == nil || sec.Auth == nil {
		t.Fatalf("renew-accessor = %v, %v", sec, err)
	}
	if sec.Auth.ClientToken != "" || sec.Auth.Accessor != child.Auth.Accessor || sec.Auth.LeaseDuration != 1800 {
		t.Errorf("renew-accessor auth = %+v; want no token, the accessor, 1800s", sec.Auth)
	}
	_, err = cl.Logical().Write("auth/token/renew-accessor", map[string]any{"accessor": "nope"})
	wantError(t, "renew of an unknown accessor", err, http.StatusBadRequest, "invalid accessor")

	tidy, err := cl.Logical().Write("auth/token/tidy", nil)
	if err != nil || tidy == nil || !slices.Equal(tidy.Warnings, []string{"Tidy of the token store finished."}) {
		t.Errorf("tidy = %+v, %v", tidy, err)
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, s := range l {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}
