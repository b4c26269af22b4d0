package core

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/coffer-secrets/coffer/internal/token"
)

// TestAccessorUpgradeOnUnseal writes token accessor entries in the layout
// before accessors were hashed (the accessor in clear in the storage key),
// then seals and unseals: the active node moves them to the hashed layout,
// and lookup, listing and revocation by accessor work through the API.
func TestAccessorUpgradeOnUnseal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	phys := inmem.New()
	c, err := New(Options{Physical: phys})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Initialize(ctx, InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sealed() {
		if _, err := c.Unseal(ctx, res.Shares[0]); err != nil {
			t.Fatal(err)
		}
	}
	call := func(op logical.Operation, path string, body any) (*Response, error) {
		t.Helper()
		buf, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if body == nil {
			buf = nil
		}
		return c.HandleRequest(ctx, &Request{Request: &logical.Request{Operation: op, Path: path, Body: buf}, ClientToken: res.RootToken})
	}
	// Three tokens, the first two rewritten to the old layout.
	var accessors []string
	for i := range 3 {
		e := &token.Entry{Policies: []string{"default"}, Path: "auth/token/create"}
		_, h, err := c.tokens.Create(ctx, "", e, c.now())
		if err != nil {
			t.Fatal(err)
		}
		accessors = append(accessors, e.Accessor)
		if i < 2 {
			key := hashedAccessorKey(t, c, e.Accessor)
			if err := c.barrier.Txn(ctx, []storage.Op{
				{Kind: storage.OpDelete, Entry: storage.Entry{Key: key}},
				{Kind: storage.OpPut, Entry: storage.Entry{Key: "sys/token/accessor/" + e.Accessor, Value: []byte(h)}},
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Unseal(ctx, res.Shares[0]); err != nil {
		t.Fatal(err)
	}

	keys, err := phys.List(ctx, "sys/token/accessor/")
	if err != nil || len(keys) != 0 {
		t.Errorf("old-layout keys after unseal = %v, %v; want none", keys, err)
	}
	for _, a := range accessors {
		all, _ := phys.List(ctx, "sys/token/accessors/")
		for _, k := range all {
			if strings.Contains(k, a) {
				t.Errorf("storage key %q holds an accessor", k)
			}
		}
		resp, err := call(logical.UpdateOperation, "auth/token/lookup-accessor", map[string]string{"accessor": a})
		if err != nil || resp == nil {
			t.Fatalf("lookup-accessor %s = %v, %v", a, resp, err)
		}
	}
	resp, err := call(logical.ListOperation, "auth/token/accessors/", nil)
	if err != nil {
		t.Fatal(err)
	}
	buf, _ := json.Marshal(resp.Data)
	for _, a := range accessors {
		if !strings.Contains(string(buf), a) {
			t.Errorf("accessors list %s lacks %s", buf, a)
		}
	}
	if _, err := call(logical.UpdateOperation, "auth/token/revoke-accessor", map[string]string{"accessor": accessors[0]}); err != nil {
		t.Fatalf("revoke-accessor: %v", err)
	}
	if _, err := call(logical.UpdateOperation, "auth/token/lookup-accessor", map[string]string{"accessor": accessors[0]}); err == nil {
		t.Error("lookup-accessor of a revoked token succeeded")
	}
	left, err := c.tokens.Accessors(ctx)
	if err != nil || slices.Contains(left, accessors[0]) || !slices.Contains(left, accessors[1]) {
		t.Errorf("Accessors after revoke = %v, %v", left, err)
	}
}

// hashedAccessorKey finds the storage key of accessor's index entry in the
// hashed layout by reading every entry (their keys are hashes).
func hashedAccessorKey(t *testing.T, c *Core, accessor string) string {
	t.Helper()
	ctx := context.Background()
	names, err := c.barrier.List(ctx, "sys/token/accessors/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		e, err := c.barrier.Get(ctx, "sys/token/accessors/"+n)
		if err != nil || e == nil {
			t.Fatalf("read accessor entry: %v", err)
		}
		var ref struct {
			Accessor string `json:"accessor"`
		}
		if err := json.Unmarshal(e.Value, &ref); err != nil {
			t.Fatal(err)
		}
		if ref.Accessor == accessor {
			return "sys/token/accessors/" + n
		}
	}
	t.Fatalf("no hashed entry for accessor %s", accessor)
	return ""
}
