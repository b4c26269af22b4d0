package kubernetes

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConfigReadHidesReviewerJWT(t *testing.T) {
	t.Parallel()
	h := newHarness(t, map[string]any{"issuer": "https://k"}, nil)
	resp := h.Must(opRead, "config", "")
	raw, _ := json.Marshal(resp.Data)
	if strings.Contains(string(raw), reviewerJWT) {
		t.Fatalf("config read holds the reviewer JWT: %s", raw)
	}
	want := map[string]any{
		"kubernetes_host": h.c.srv.URL, "kubernetes_ca_cert": strings.TrimSpace(h.c.caPEM()), "pem_keys": []any{},
		"issuer": "https://k", "disable_iss_validation": true, "disable_local_ca_jwt": true, "token_reviewer_jwt_set": true,
	}
	if diff := cmp.Diff(any(want), logicaltest.Data(t, resp)); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
	h.Must(opUpdate, "config", js(map[string]any{"kubernetes_host": h.c.srv.URL}))
	if got := logicaltest.Data(t, h.Must(opRead, "config", "")).(map[string]any)["token_reviewer_jwt_set"]; got != false {
		t.Errorf("token_reviewer_jwt_set after a write without it = %v, want false", got)
	}
	if s := (secret("x")); s.String() != "[redacted]" || s.LogValue().String() != "[redacted]" {
		t.Errorf("secret prints as %q / %q", s.String(), s.LogValue().String())
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config map[string]any
		substr string
	}{
		{"no host", map[string]any{}, "missing kubernetes_host"},
		{"http host", map[string]any{"kubernetes_host": "http://10.0.0.1:6443"}, "https"},
		{"credentials", map[string]any{"kubernetes_host": "https://u:p@k"}, "https"},
		{"bad CA", map[string]any{"kubernetes_host": "https://k", "kubernetes_ca_cert": "nope"}, "kubernetes_ca_cert"},
	}
	for _, tt := range tests {
		b := logicaltest.New(t, Factory, logicaltest.NewEnv(nil))
		_, err := b.HandleRequest(t.Context(), &logical.Request{Operation: opUpdate, Path: "config", Body: json.RawMessage(js(tt.config))})
		logicaltest.WantError(t, tt.name, err, logical.ErrInvalidRequest, tt.substr)
	}
}

func TestRoleCRUD(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	want := map[string]any{
		"bound_service_account_names": []any{"web"}, "bound_service_account_namespaces": []any{"shop"},
		"audience": "", "alias_name_source": "serviceaccount_uid",
		"token_policies": []any{"shop-web"}, "token_ttl": 0.0, "token_max_ttl": 0.0, "token_explicit_max_ttl": 0.0,
		"token_period": 0.0, "token_num_uses": 0.0, "token_type": "default", "token_bound_cidrs": []any{}, "token_no_default_policy": false,
	}
	if diff := cmp.Diff(any(want), logicaltest.Data(t, h.Must(opRead, "role/app", ""))); diff != "" {
		t.Errorf("role mismatch (-want +got):\n%s", diff)
	}
	h.Must(opUpdate, "role/app", `{"audience":"vault","alias_name_source":"serviceaccount_name"}`)
	got := logicaltest.Data(t, h.Must(opRead, "role/app", "")).(map[string]any)
	if got["audience"] != "vault" || got["alias_name_source"] != "serviceaccount_name" || !cmp.Equal(got["bound_service_account_names"], []any{"web"}) {
		t.Errorf("after a partial update, role = %v", got)
	}
	h.Must(opUpdate, "role/Second", `{"bound_service_account_names":"a","bound_service_account_namespaces":"*"}`)
	if diff := cmp.Diff(any(map[string]any{"keys": []any{"app", "second"}}), logicaltest.Data(t, h.Must(opList, "role/", ""))); diff != "" {
		t.Errorf("list mismatch (-want +got):\n%s", diff)
	}
	h.Must(opDelete, "role/app", "")
	if resp, err := h.Do(opRead, "role/app", ""); resp != nil || err != nil {
		t.Errorf("read after delete = %v, %v, want nil, nil", resp, err)
	}
}

func TestRoleValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		role   map[string]any
		substr string
	}{
		{"no names", map[string]any{"bound_service_account_namespaces": "a"}, "bound_service_account_names"},
		{"no namespaces", map[string]any{"bound_service_account_names": "a"}, "bound_service_account_namespaces"},
		{"both wildcards", map[string]any{"bound_service_account_names": "*", "bound_service_account_namespaces": "*"}, "cannot both"},
		{"alias source", map[string]any{"bound_service_account_names": "a", "bound_service_account_namespaces": "b", "alias_name_source": "pod"}, "alias_name_source"},
		{"root policy", map[string]any{"bound_service_account_names": "a", "bound_service_account_namespaces": "b", "token_policies": "root"}, "root"},
		{"bad name", nil, "invalid role name"},
	}
	for _, tt := range tests {
		b := logicaltest.New(t, Factory, logicaltest.NewEnv(nil))
		path := "role/r"
		if tt.role == nil {
			path = "role/bad name"
		}
		_, err := b.HandleRequest(t.Context(), &logical.Request{Operation: opUpdate, Path: path, Body: json.RawMessage(js(tt.role))})
		logicaltest.WantError(t, tt.name, err, logical.ErrInvalidRequest, tt.substr)
	}
}

func TestConformance(t *testing.T) {
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: logical.UpdateOperation, Path: "config", Body: json.RawMessage(`{"kubernetes_host":"https://10.0.0.1:6443","token_reviewer_jwt":"r"}`)},
			{Operation: logical.UpdateOperation, Path: "role/app", Body: json.RawMessage(`{"bound_service_account_names":"web","bound_service_account_namespaces":"shop"}`)},
		},
		Reads: []*logical.Request{
			{Operation: logical.ReadOperation, Path: "config"},
			{Operation: logical.ReadOperation, Path: "role/app"},
			{Operation: logical.ListOperation, Path: "role/"},
		},
	})
}

// FuzzParseUnverified feeds arbitrary tokens to the claim parser: it must
// never panic, and whatever it accepts names a service account.
func FuzzParseUnverified(f *testing.F) {
	is := newIssuer(f)
	for _, c := range []map[string]any{projected(webSA()), legacy(webSA(), "s"), {"kubernetes.io": map[string]any{"namespace": 1}}, {"aud": 5}} {
		f.Add(is.sign(f, c))
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		sa, err := parseUnverified(tok)
		if err != nil {
			var le *logical.Error
			if !asError(err, &le) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if sa.Name == "" || sa.Namespace == "" {
			t.Fatalf("parseUnverified accepted a token without name or namespace: %+v", sa)
		}
	})
}
