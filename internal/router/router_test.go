package router

import (
	"context"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	rt := New()
	for _, p := range []string{"secret/", "secret/team/", "kv/", "a/b/c/"} {
		if !rt.Mount(&Route{Path: p, Type: "kv"}) {
			t.Fatalf("Mount(%q) = false", p)
		}
	}
	if rt.Mount(&Route{Path: "kv/"}) {
		t.Error("second Mount(kv/) = true, want false")
	}
	tests := []struct {
		path, wantMount, wantRel string
		ok                       bool
	}{
		{"secret/foo", "secret/", "foo", true},
		{"secret/data/foo/bar", "secret/", "data/foo/bar", true},
		{"secret/team/x", "secret/team/", "x", true},
		{"secret/team", "secret/team/", "", true},
		{"secret/teamx", "secret/", "teamx", true},
		{"secret", "secret/", "", true},
		{"secret/", "secret/", "", true},
		{"secretx/foo", "", "", false},
		{"kv/a/", "kv/", "a/", true},
		{"a/b/c/d", "a/b/c/", "d", true},
		{"a/b/x", "", "", false},
		{"", "", "", false},
		{"nothing", "", "", false},
	}
	for _, tt := range tests {
		r, rel, ok := rt.Match(tt.path)
		got := ""
		if r != nil {
			got = r.Path
		}
		if ok != tt.ok || got != tt.wantMount || rel != tt.wantRel {
			t.Errorf("Match(%q) = %q, %q, %v; want %q, %q, %v", tt.path, got, rel, ok, tt.wantMount, tt.wantRel, tt.ok)
		}
	}
	if c := rt.Conflict("secret/team/deeper/"); c == "" {
		t.Error("Conflict(secret/team/deeper/) found nothing")
	}
	if c := rt.Conflict("other/"); c != "" {
		t.Errorf("Conflict(other/) = %q", c)
	}
	if r := rt.Unmount("kv/"); r == nil {
		t.Error("Unmount(kv/) = nil")
	}
	if _, _, ok := rt.Match("kv/a"); ok {
		t.Error("kv/a still routes after Unmount")
	}
}

func TestViewConfinement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	phys := inmem.New()
	if err := phys.Put(ctx, &storage.Entry{Key: "logical/other/secret", Value: []byte("theirs")}); err != nil {
		t.Fatal(err)
	}
	v := NewView(phys, "logical/mine/")
	for _, key := range []string{"../other/secret", "a/../../other/secret", "/abs", "", "a/./b", "a\x00b"} {
		if _, err := v.Get(ctx, key); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("Get(%q) error = %v, want invalid request", key, err)
		}
		if err := v.Put(ctx, &logical.StorageEntry{Key: key, Value: []byte("x")}); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("Put(%q) error = %v, want invalid request", key, err)
		}
		if err := v.Txn(ctx, []logical.TxnOp{{Key: "ok", Value: []byte("1")}, {Key: key, Value: []byte("x")}}); err == nil {
			t.Errorf("Txn with %q succeeded", key)
		}
	}
	if e, _ := v.Get(ctx, "ok"); e != nil {
		t.Error("a refused Txn wrote its valid operation")
	}
	if err := v.Put(ctx, &logical.StorageEntry{Key: "a/b", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if e, _ := phys.Get(ctx, "logical/mine/a/b"); e == nil || string(e.Value) != "1" {
		t.Errorf("view Put landed at the wrong key: %v", e)
	}
	keys, err := v.List(ctx, "")
	if err != nil || len(keys) != 1 || keys[0] != "a/" {
		t.Errorf("List(\"\") = %v, %v; want [a/]", keys, err)
	}
	if err := Clear(ctx, phys, "logical/mine/"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := phys.List(ctx, "logical/"); len(keys) != 1 || keys[0] != "other/" {
		t.Errorf("after Clear, logical/ lists %v; want only other/", keys)
	}
}
