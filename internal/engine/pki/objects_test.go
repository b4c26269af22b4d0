package pki

import (
	"context"
	"slices"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestObjects(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Must(logical.UpdateOperation, "roles/web", `{"allowed_domains":"example.com","allow_subdomains":true}`)
	got, err := h.Backend.(logical.ObjectLister).Objects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []logical.Object{{Kind: "role", Name: "web", Paths: []string{"issue/web", "sign/web", "roles/web"}}}
	if !slices.EqualFunc(got, want, func(a, b logical.Object) bool {
		return a.Kind == b.Kind && a.Name == b.Name && slices.Equal(a.Paths, b.Paths)
	}) {
		t.Errorf("Objects = %+v, want %+v", got, want)
	}
}
