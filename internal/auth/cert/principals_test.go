package cert

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
	p := newPKI(t, testNow)
	root := p.ca("Root CA", nil)
	leaf, _ := p.client(certSpec{cn: "pinned.example"}, root)
	h := newHarness(t)
	h.Must(opCreate, "certs/any", map[string]any{"certificate": pemOf(root.cert), "token_policies": "web"})
	h.Must(opCreate, "certs/named", map[string]any{
		"certificate": pemOf(root.cert), "allowed_common_names": "web.example,api.example", "token_policies": "api",
	})
	h.Must(opCreate, "certs/pin", map[string]any{"certificate": pemOf(leaf), "token_no_default_policy": true})

	got, err := h.Backend.(logical.PrincipalLister).Principals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []logical.Principal{
		{Kind: "certificate", Name: "any", Policies: []string{"default", "web"}, Unbound: true,
			Bindings: map[string]any{"ca_subjects": []string{"CN=Root CA"}}},
		{Kind: "certificate", Name: "named", Policies: []string{"api", "default"},
			Bindings: map[string]any{"ca_subjects": []string{"CN=Root CA"}, "allowed_common_names": []string{"web.example", "api.example"}}},
		{Kind: "certificate", Name: "pin", Policies: []string{},
			Bindings: map[string]any{"pinned_subjects": []string{"CN=pinned.example"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("principals (-want +got):\n%s", diff)
	}
	buf, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(buf), "BEGIN") || strings.Contains(string(buf), "PRIVATE") {
		t.Fatalf("the principals hold PEM: %s", buf)
	}
}
