package userpass

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
	passwords := []string{"first-Secret-pw", "second-Secret-pw"}
	h.MustReq(req{Op: opUpdate, Path: "users/alice", Body: `{"password":"` + passwords[0] + `","token_policies":"dev,ops","token_bound_cidrs":"10.0.0.0/8"}`})
	h.MustReq(req{Op: opUpdate, Path: "users/bob", Body: `{"password":"` + passwords[1] + `","token_no_default_policy":true,"token_period":"1h"}`})

	got, err := h.Backend.(logical.PrincipalLister).Principals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []logical.Principal{
		{Kind: "user", Name: "alice", Policies: []string{"default", "dev", "ops"}, Bindings: map[string]any{"token_bound_cidrs": []string{"10.0.0.0/8"}}},
		{Kind: "user", Name: "bob", Policies: []string{}, Bindings: map[string]any{"token_period": int64(3600)}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("principals (-want +got):\n%s", diff)
	}
	buf, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(passwords, "argon2", "hash") {
		if strings.Contains(string(buf), s) {
			t.Fatalf("the principals hold %q: %s", s, buf)
		}
	}
}
