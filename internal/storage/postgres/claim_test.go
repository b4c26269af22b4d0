package postgres_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
)

func TestClaim(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	openX := func() (*postgres.Storage, error) {
		return postgres.Open(t.Context(), postgres.Options{ConnURL: url, MaxParallel: 2, Exclusive: true})
	}

	// Two shared opens (two servers) coexist; an exclusive one is refused.
	a := open(t, url)
	open(t, url)
	if _, err := openX(); !errors.Is(err, postgres.ErrInUse) {
		t.Fatalf("exclusive Open beside servers = %v, want ErrInUse", err)
	}
	a.Close()

	// Another schema's tables are not affected.
	other, _ := newSchema(t)
	x, err := postgres.Open(t.Context(), postgres.Options{ConnURL: other, Exclusive: true})
	if err != nil {
		t.Fatalf("exclusive Open of another schema = %v", err)
	}
	if _, err := postgres.Open(t.Context(), postgres.Options{ConnURL: other}); !errors.Is(err, postgres.ErrInUse) {
		t.Fatalf("shared Open during an exclusive one = %v, want ErrInUse", err)
	}
	x.Close()
	// Closing releases the claim.
	open(t, other)
}

func TestGetMany(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	s := open(t, url)
	for _, k := range []string{"a", "b/c", "b/d/e"} {
		if err := s.Put(t.Context(), &storage.Entry{Key: k, Value: []byte("v-" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetMany(t.Context(), []string{"b/d/e", "missing", "a", "b/c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []*storage.Entry{{Key: "b/d/e", Value: []byte("v-b/d/e")}, nil, {Key: "a", Value: []byte("v-a")}, {Key: "b/c", Value: []byte("v-b/c")}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetMany (-want +got):\n%s", d)
	}
}
