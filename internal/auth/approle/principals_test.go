package approle

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestPrincipals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var secrets []string // every credential made; none may show in the answer
	add := func(name, body string) {
		secrets = append(secrets, h.role(name, body))
	}
	add("limited", `{"token_policies":"web,db","secret_id_ttl":"1h","secret_id_num_uses":5,"secret_id_bound_cidrs":"10.0.0.0/8","token_bound_cidrs":"10.1.0.0/16","token_ttl":"10m"}`)
	add("open", `{"token_policies":"ops","token_no_default_policy":true}`)
	add("nosecret", `{"bind_secret_id":false,"token_bound_cidrs":"127.0.0.1","token_policies":"ci"}`)
	for _, body := range []string{`{}`, `{}`, `{"ttl":"1m"}`, `{"num_uses":2}`} {
		sid, acc := h.secretID("open", body)
		secrets = append(secrets, sid, acc)
	}
	sid, acc := h.secretID("limited", `{}`)
	secrets = append(secrets, sid, acc)

	got := countedPrincipals(t, h.Backend)
	want := []logical.Principal{
		{
			Kind: "role", Name: "limited", Policies: []string{"db", "default", "web"},
			Bindings: map[string]any{
				"bind_secret_id": true, "secret_id_bound_cidrs": []string{"10.0.0.0/8"}, "secret_id_num_uses": 5,
				"secret_id_ttl": int64(3600), "token_bound_cidrs": []string{"10.1.0.0/16"}, "token_ttl": int64(600),
			},
			Counts: map[string]int{"secret_ids": 1, "secret_ids_unlimited": 0},
		},
		{
			Kind: "role", Name: "nosecret", Policies: []string{"ci", "default"}, Unbound: true,
			Bindings: map[string]any{"bind_secret_id": false, "token_bound_cidrs": []string{"127.0.0.1"}},
			Counts:   map[string]int{"secret_ids": 0, "secret_ids_unlimited": 0},
		},
		{
			Kind: "role", Name: "open", Policies: []string{"ops"},
			Bindings: map[string]any{"bind_secret_id": true},
			Counts:   map[string]int{"secret_ids": 4, "secret_ids_unlimited": 2},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("principals (-want +got):\n%s", diff)
	}
	buf, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(buf), s) {
			t.Fatalf("the principals hold a credential: %s", buf)
		}
	}
}

func TestPrincipalsSkipExpiredSecretIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.role("r", `{}`)
	h.secretID("r", `{"ttl":"1m"}`)
	h.secretID("r", `{}`)
	h.Clock.Advance(2 * time.Minute)
	got := countedPrincipals(t, h.Backend)
	if want := map[string]int{"secret_ids": 1, "secret_ids_unlimited": 1}; !cmp.Equal(got[0].Counts, want) {
		t.Fatalf("counts = %v, want %v", got[0].Counts, want)
	}
}

// countedPrincipals lists b's principals with their counts, as the
// hygiene report asks for them.
func countedPrincipals(t *testing.T, b logical.Backend) []logical.Principal {
	t.Helper()
	ps, err := b.(logical.PrincipalLister).Principals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Counts != nil {
			t.Fatalf("Principals counted %s's secret IDs; only CountPrincipals should", p.Name)
		}
	}
	if err := b.(logical.PrincipalCounter).CountPrincipals(context.Background(), ps); err != nil {
		t.Fatal(err)
	}
	return ps
}
