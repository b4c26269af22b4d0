package framework

import (
	"context"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// mapStorage is a minimal logical.Storage for this unit test.
type mapStorage map[string][]byte

func (m mapStorage) Get(_ context.Context, k string) (*logical.StorageEntry, error) {
	v, ok := m[k]
	if !ok {
		return nil, nil
	}
	return &logical.StorageEntry{Key: k, Value: v}, nil
}
func (m mapStorage) Put(_ context.Context, e *logical.StorageEntry) error {
	m[e.Key] = e.Value
	return nil
}
func (m mapStorage) Delete(_ context.Context, k string) error       { delete(m, k); return nil }
func (m mapStorage) List(context.Context, string) ([]string, error) { return nil, nil }
func (m mapStorage) Txn(context.Context, []logical.TxnOp) error     { return nil }

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := mapStorage{}
	type role struct{ Name string }
	var r role
	if found, err := GetJSON(ctx, st, "role/a", &r); found || err != nil {
		t.Fatalf("GetJSON of a missing key = %v, %v", found, err)
	}
	if err := PutJSON(ctx, st, "role/a", role{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if found, err := GetJSON(ctx, st, "role/a", &r); !found || err != nil || r.Name != "a" {
		t.Fatalf("GetJSON = %v, %v, %+v", found, err, r)
	}
	st["role/bad"] = []byte("{not json")
	if _, err := GetJSON(ctx, st, "role/bad", &r); err == nil {
		t.Error("GetJSON of a corrupt value succeeded")
	}
}
