package database

import (
	"context"
	"slices"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestObjects(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	if err := h.b.roles.Put(ctx, "app", &role{}); err != nil {
		t.Fatal(err)
	}
	if err := h.b.statics.Put(ctx, "svc", &staticRole{}); err != nil {
		t.Fatal(err)
	}
	got, err := h.b.Objects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []logical.Object{
		{Kind: "role", Name: "app", Paths: []string{"creds/app", "roles/app"}},
		{Kind: "static-role", Name: "svc", Paths: []string{"static-creds/svc", "rotate-role/svc", "static-roles/svc"}},
	}
	if !slices.EqualFunc(got, want, func(a, b logical.Object) bool {
		return a.Kind == b.Kind && a.Name == b.Name && slices.Equal(a.Paths, b.Paths)
	}) {
		t.Errorf("Objects = %+v, want %+v", got, want)
	}
}
