package jwt

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestPrincipals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Must(logical.UpdateOperation, "config", js(map[string]any{"jwt_validation_pubkeys": keys().rsa.pubPEM(t), "bound_issuer": "https://issuer.example"}))
	h.Must(logical.UpdateOperation, "role/ci", map[string]any{
		"bound_audiences": "coffer", "bound_claims": map[string]any{"repo": []string{"org/a", "org/b"}, "env": "prod"},
		"claim_mappings": map[string]string{"repo": "repository"}, "groups_claim": "groups", "token_policies": "deploy",
		"bound_claims_type": "glob",
	})
	h.Must(logical.UpdateOperation, "role/subject", map[string]any{"bound_subject": "svc-1", "user_claim": "email", "token_policies": "read"})
	h.Must(logical.UpdateOperation, "role/open", map[string]any{"token_policies": "all", "token_no_default_policy": true, "token_bound_cidrs": "10.0.0.0/8"})

	got, err := h.Backend.(logical.PrincipalLister).Principals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []logical.Principal{
		{Kind: "role", Name: "ci", Policies: []string{"default", "deploy"}, Bindings: map[string]any{
			"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"coffer"},
			"bound_claims":      map[string]any{"repo": []any{"org/a", "org/b"}, "env": "prod"},
			"bound_claims_type": "glob", "claim_mappings": map[string]string{"repo": "repository"}, "groups_claim": "groups",
		}},
		{Kind: "role", Name: "open", Policies: []string{"all"}, Unbound: true, Bindings: map[string]any{
			"role_type": "jwt", "user_claim": "sub", "token_bound_cidrs": []string{"10.0.0.0/8"},
		}},
		{Kind: "role", Name: "subject", Policies: []string{"default", "read"}, Bindings: map[string]any{
			"role_type": "jwt", "user_claim": "email", "bound_subject": "svc-1",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("principals (-want +got):\n%s", diff)
	}
	buf, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(buf), "BEGIN") {
		t.Fatalf("the principals hold a key: %s", buf)
	}
}
