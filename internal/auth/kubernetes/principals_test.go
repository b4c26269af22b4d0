package kubernetes

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
	h := newHarness(t, nil, nil)
	h.Must(opUpdate, "role/any-in-ns", js(map[string]any{
		"bound_service_account_names": "*", "bound_service_account_namespaces": "ci,build", "audience": "coffer",
		"alias_name_source": "serviceaccount_name", "token_policies": "ci",
	}))
	// A role bound to every account everywhere, as older data may hold it.
	if err := h.Backend.(*backend).roles.Put(context.Background(), "everyone", &role{
		BoundNames: []string{"*"}, BoundNamespaces: []string{"*"}, AliasNameSource: aliasFromUID,
	}); err != nil {
		t.Fatal(err)
	}

	got, err := h.Backend.(logical.PrincipalLister).Principals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []logical.Principal{
		{Kind: "role", Name: "any-in-ns", Policies: []string{"ci", "default"}, Bindings: map[string]any{
			"bound_service_account_names": []string{"*"}, "bound_service_account_namespaces": []string{"ci", "build"},
			"audience": "coffer", "alias_name_source": "serviceaccount_name",
		}},
		{Kind: "role", Name: "app", Policies: []string{"default", "shop-web"}, Bindings: map[string]any{
			"bound_service_account_names": []string{"web"}, "bound_service_account_namespaces": []string{"shop"},
			"alias_name_source": "serviceaccount_uid",
		}},
		{Kind: "role", Name: "everyone", Policies: []string{"default"}, Unbound: true, Bindings: map[string]any{
			"bound_service_account_names": []string{"*"}, "bound_service_account_namespaces": []string{"*"},
			"alias_name_source": "serviceaccount_uid",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("principals (-want +got):\n%s", diff)
	}
	buf, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(buf), reviewerJWT) || strings.Contains(string(buf), "BEGIN") {
		t.Fatalf("the principals hold a credential: %s", buf)
	}
}
