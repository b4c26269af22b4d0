package core_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// BenchmarkIncidentContain measures sys/incident/contain of one token
// with 10,000 child tokens holding one lease each, through the real HTTP
// API on bolt storage (the default; the in-memory backend lists by
// scanning every key, which no deployment uses). The leases belong to a mount that is gone, so
// the figure is Coffer's own work (matching, the token tree, the lease
// records, the incident record), not a database's DROP ROLE.
func BenchmarkIncidentContain(b *testing.B) {
	const children = 10_000
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	c := s.Core()
	for range b.N {
		b.StopTimer()
		accessor := core.BuildTokenTreeForBench(b.Context(), b, c, children)
		b.StartTimer()
		sec, err := s.Client.Logical().Write("sys/incident/contain", map[string]any{"accessor": accessor})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n := len(sec.Data["revoked"].([]any)); n != children+1 {
			b.Fatalf("revoked %d tokens, want %d", n, children+1)
		}
		b.StartTimer()
	}
}

// TestContainBlocksBatchTokensOfTheRole: containing an AppRole role stops
// the batch tokens its logins already made (never stored, so no one
// revokes them) and refuses new logins, while another role's tokens keep
// working; release lets the role in again.
func TestContainBlocksBatchTokensOfTheRole(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	if err := cl.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().PutPolicy("reader", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	login := func(role string) string {
		t.Helper()
		if _, err := cl.Logical().Write("auth/approle/role/"+role, map[string]any{"token_policies": "reader", "token_type": "batch"}); err != nil {
			t.Fatal(err)
		}
		rid, err := cl.Logical().Read("auth/approle/role/" + role + "/role-id")
		if err != nil {
			t.Fatal(err)
		}
		sid, err := cl.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cl.Logical().Write("auth/approle/login", map[string]any{"role_id": rid.Data["role_id"], "secret_id": sid.Data["secret_id"]})
		if err != nil {
			t.Fatal(err)
		}
		return res.Auth.ClientToken
	}
	leaked, other := login("pay"), login("ship")
	canRead := func(tok string) bool {
		c, err := cl.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(tok)
		_, err = c.KVv2("secret").Get(t.Context(), "app")
		return err == nil
	}
	if !canRead(leaked) || !canRead(other) {
		t.Fatal("the batch tokens cannot read before containment")
	}
	res, err := cl.Logical().Write("sys/incident/contain", map[string]any{"role": "auth/approle/role/pay"})
	if err != nil {
		t.Fatal(err)
	}
	if canRead(leaked) {
		t.Error("a batch token of the contained role still reads")
	}
	if !canRead(other) {
		t.Error("another role's batch token was refused")
	}
	id, _ := res.Data["id"].(string)
	if _, err := cl.Logical().Write("sys/incident/release", map[string]any{"id": id}); err != nil {
		t.Fatal(err)
	}
	if !canRead(leaked) {
		t.Error("the batch token is still refused after release")
	}
}

// TestReadOnlyLockdownCoversTheWholeKVSecret: a read-only lockdown of a KV
// v2 secret's data path refuses every change to that secret through its
// other paths (metadata, delete, destroy), and lets reads through.
func TestReadOnlyLockdownCoversTheWholeKVSecret(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	if _, err := cl.KVv2("secret").Put(t.Context(), "pay", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().PutPolicy("writer", `path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := cl.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"writer"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cl.Clone()
	if err != nil {
		t.Fatal(err)
	}
	w.SetToken(tok.Auth.ClientToken)
	if _, err := cl.Logical().Write("sys/incident/lockdown", map[string]any{"prefix": "secret/data/pay", "mode": "read-only"}); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		do   func() error
	}{
		{"write data", func() error {
			_, err := w.Logical().Write("secret/data/pay", map[string]any{"data": map[string]any{"v": "2"}})
			return err
		}},
		{"delete metadata", func() error { _, err := w.Logical().Delete("secret/metadata/pay"); return err }},
		{"write metadata", func() error {
			_, err := w.Logical().Write("secret/metadata/pay", map[string]any{"max_versions": 3})
			return err
		}},
		{"destroy", func() error {
			_, err := w.Logical().Write("secret/destroy/pay", map[string]any{"versions": []int{1}})
			return err
		}},
		{"delete latest", func() error { _, err := w.Logical().Delete("secret/data/pay"); return err }},
	}
	for _, r := range refused {
		var re *api.ResponseError
		if err := r.do(); !errors.As(err, &re) || re.StatusCode != 403 {
			t.Errorf("%s under a read-only lockdown = %v, want 403", r.name, err)
		}
	}
	if _, err := w.KVv2("secret").Get(t.Context(), "pay"); err != nil {
		t.Errorf("read under a read-only lockdown: %v", err)
	}
	if _, err := w.Logical().Read("secret/metadata/pay"); err != nil {
		t.Errorf("metadata read under a read-only lockdown: %v", err)
	}
	if _, err := w.KVv2("secret").Put(t.Context(), "other", map[string]any{"v": "1"}); err != nil {
		t.Errorf("write outside the lockdown: %v", err)
	}
}
