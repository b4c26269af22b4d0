package transit

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestObjects(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, k := range []string{"payments", "orders"} {
		h.Must(logical.UpdateOperation, "keys/"+k, nil)
	}
	got, err := h.Backend.(logical.ObjectLister).Objects(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b logical.Object) int { return strings.Compare(a.Name, b.Name) })
	want := []logical.Object{
		{Kind: "key", Name: "orders", Paths: []string{"encrypt/orders", "decrypt/orders", "keys/orders"}},
		{Kind: "key", Name: "payments", Paths: []string{"encrypt/payments", "decrypt/payments", "keys/payments"}},
	}
	if !slices.EqualFunc(got, want, func(a, b logical.Object) bool {
		return a.Kind == b.Kind && a.Name == b.Name && slices.Equal(a.Paths, b.Paths)
	}) {
		t.Errorf("Objects = %+v, want %+v", got, want)
	}
}
