package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestAccessDirectory sets up auth methods, identity and tokens through
// the API and checks what AccessDirectory reports: every principal
// route, nested group policies, live tokens that follow creation and
// revocation, and no credential anywhere.
func TestAccessDirectory(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := s.Client
	ctx := t.Context()
	for _, m := range []string{"approle", "userpass", "jwt", "kubernetes"} {
		if err := root.Sys().EnableAuthWithOptions(m, &api.EnableAuthOptions{Type: m}); err != nil {
			t.Fatalf("enable %s: %v", m, err)
		}
	}
	for _, p := range []string{"deploy", "x"} {
		mustWrite(t, root, "sys/policies/acl/"+p, map[string]any{"policy": `path "secret/data/` + p + `" { capabilities = ["read"] }`})
	}
	const password = "pw-that-must-not-leak"
	mustWrite(t, root, "auth/approle/role/billing", map[string]any{"token_policies": "billing", "secret_id_ttl": "1h"})
	sid := mustWrite(t, root, "auth/approle/role/billing/secret-id", nil)
	roleID, err := root.Logical().Read("auth/approle/role/billing/role-id")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, root, "auth/userpass/users/alice", map[string]any{"password": password, "token_policies": "dev"})
	mustWrite(t, root, "auth/jwt/role/ci", map[string]any{"bound_audiences": "coffer", "token_policies": "deploy", "user_claim": "sub"})
	mustWrite(t, root, "auth/kubernetes/role/web", map[string]any{
		"bound_service_account_names": "web", "bound_service_account_namespaces": "shop", "token_policies": "shop",
	})
	mustWrite(t, root, "auth/token/roles/deployer", map[string]any{"allowed_policies": "deploy", "orphan": true})

	// alice logs in, gets an entity; the entity sits in a nested group.
	login, err := root.Logical().Write("auth/userpass/login/alice", map[string]any{"password": password})
	if err != nil {
		t.Fatal(err)
	}
	entityID := login.Auth.EntityID
	inner := mustWrite(t, root, "identity/group", map[string]any{"name": "inner", "policies": "inner-pol", "member_entity_ids": []string{entityID}})
	mustWrite(t, root, "identity/group", map[string]any{"name": "outer", "policies": "outer-pol", "member_group_ids": []string{inner.Data["id"].(string)}})
	roleTok, roleAcc := createToken(t, root, &api.TokenCreateRequest{Policies: []string{"deploy"}, TTL: "1h"})
	deployer, err := root.Auth().Token().CreateWithRole(&api.TokenCreateRequest{}, "deployer")
	if err != nil {
		t.Fatal(err)
	}

	d, err := s.Core().AccessDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	principals := map[string]logical.Principal{}
	for _, m := range d.Mounts {
		mounts = append(mounts, m.Path+"="+m.Type)
		if m.Accessor == "" {
			t.Errorf("mount %s has no accessor", m.Path)
		}
		for _, p := range m.Principals {
			principals[m.Path+p.Name] = p
		}
	}
	wantMounts := []string{"auth/approle/=approle", "auth/jwt/=jwt", "auth/kubernetes/=kubernetes", "auth/token/=token", "auth/userpass/=userpass"}
	if diff := cmp.Diff(wantMounts, mounts); diff != "" {
		t.Fatalf("mounts (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		key      string
		policies []string
		count    string // a binding that must be there
	}{
		{"auth/approle/billing", []string{"billing", "default"}, "secret_id_ttl"},
		{"auth/userpass/alice", []string{"default", "dev"}, ""},
		{"auth/jwt/ci", []string{"default", "deploy"}, "bound_audiences"},
		{"auth/kubernetes/web", []string{"default", "shop"}, "bound_service_account_namespaces"},
		{"auth/token/deployer", []string{"default", "deploy"}, "orphan"},
	} {
		p, ok := principals[tt.key]
		if !ok {
			t.Errorf("no principal %s", tt.key)
			continue
		}
		if !slices.Equal(p.Policies, tt.policies) {
			t.Errorf("%s policies = %v, want %v", tt.key, p.Policies, tt.policies)
		}
		if _, ok := p.Bindings[tt.count]; tt.count != "" && !ok {
			t.Errorf("%s has no binding %s: %v", tt.key, tt.count, p.Bindings)
		}
	}

	var alice *access.Entity
	for i := range d.Entities {
		if d.Entities[i].ID == entityID {
			alice = &d.Entities[i]
		}
	}
	if alice == nil {
		t.Fatalf("entity %s missing from %+v", entityID, d.Entities)
	}
	if want := []string{"inner-pol", "outer-pol"}; !slices.Equal(alice.IdentityPolicies, want) || len(alice.GroupIDs) != 2 {
		t.Errorf("alice: policies %v, groups %v; want %v and two groups", alice.IdentityPolicies, alice.GroupIDs, want)
	}
	if len(alice.Aliases) != 1 || alice.Aliases[0].MountPath != "auth/userpass/" || alice.Aliases[0].Name != "alice" {
		t.Errorf("alice's aliases = %+v", alice.Aliases)
	}
	if len(d.Groups) != 2 {
		t.Errorf("%d groups, want 2", len(d.Groups))
	}

	tokens := map[string]*access.Token{}
	d.Tokens.Each(func(tk *access.Token) bool {
		tokens[tk.Accessor] = tk
		return true
	})
	if got := tokens[login.Auth.Accessor]; got == nil || got.EntityID != entityID || got.Path != "auth/userpass/login/alice" || got.MountAccessor == "" {
		t.Errorf("alice's login token = %+v", got)
	}
	if got := tokens[deployer.Auth.Accessor]; got == nil || got.Role != "deployer" || !got.Orphan {
		t.Errorf("deployer token = %+v", got)
	}
	if got := tokens[roleAcc]; got == nil || got.ExpireTime.IsZero() || !slices.Equal(got.Policies, []string{"default", "deploy"}) {
		t.Errorf("created token = %+v", got)
	}
	if d.Tokens.Len() != 4 { // root, alice, the created token and the deployer's
		t.Errorf("%d live tokens, want 4", d.Tokens.Len())
	}

	// Nothing secret in the answer.
	buf, err := json.Marshal(struct {
		D      *access.Directory
		Tokens map[string]*access.Token
	}{d, tokens})
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{
		"root token": s.RootToken, "login token": login.Auth.ClientToken, "created token": roleTok,
		"deployer token": deployer.Auth.ClientToken, "password": password,
		"secret ID": sid.Data["secret_id"].(string), "secret ID accessor": sid.Data["secret_id_accessor"].(string),
		"role ID": roleID.Data["role_id"].(string),
	} {
		if strings.Contains(string(buf), secret) {
			t.Errorf("the directory holds the %s", name)
		}
	}

	// Revoking and creating through the API shows in the next directory.
	if err := root.Auth().Token().RevokeAccessor(roleAcc); err != nil {
		t.Fatal(err)
	}
	_, newAcc := createToken(t, root, &api.TokenCreateRequest{Policies: []string{"x"}})
	d, err = s.Core().AccessDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	d.Tokens.Each(func(tk *access.Token) bool {
		seen[tk.Accessor] = true
		return true
	})
	if seen[roleAcc] || !seen[newAcc] || len(seen) != 4 {
		t.Errorf("after revoke and create: revoked seen %v, new seen %v, %d tokens", seen[roleAcc], seen[newAcc], len(seen))
	}

	// A sealed server has no directory.
	if err := root.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Core().AccessDirectory(ctx); !errors.Is(err, core.ErrSealed) {
		t.Errorf("AccessDirectory while sealed: %v, want ErrSealed", err)
	}
}

// BenchmarkAccessDirectory1kRoles assembles the directory of a server
// with 1,000 AppRole roles (each with a secret ID) and 1,000 live tokens,
// on the in-memory storage (whose List scans every key) and on bolt.
func BenchmarkAccessDirectory1kRoles(b *testing.B) {
	b.Run("inmem", func(b *testing.B) { benchmarkAccessDirectory(b, testserver.Options{}) })
	b.Run("bolt", func(b *testing.B) {
		benchmarkAccessDirectory(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	})
}

func benchmarkAccessDirectory(b *testing.B, opts testserver.Options) {
	s := testserver.StartWith(b, opts)
	root := s.Client
	if err := root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < 1000; i += 4 {
				name := fmt.Sprintf("auth/approle/role/svc-%d", i)
				if _, err := root.Logical().Write(name, map[string]any{"token_policies": fmt.Sprint("svc-", i%40)}); err != nil {
					errs <- err
					return
				}
				if _, err := root.Logical().Write(name+"/secret-id", nil); err != nil {
					errs <- err
					return
				}
				if _, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h"}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	ctx := b.Context()
	for _, v := range []struct {
		name  string
		build func(context.Context) (*access.Directory, error)
	}{
		{"counted", s.Core().AccessDirectory},            // the report's
		{"uncounted", s.Core().AccessDirectoryUncounted}, // who's and what's
	} {
		b.Run(v.name, func(b *testing.B) {
			for b.Loop() {
				d, err := v.build(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(d.Mounts[0].Principals); n != 1000 || d.Tokens.Len() != 1001 {
					b.Fatalf("%d principals, %d tokens", n, d.Tokens.Len())
				}
			}
		})
	}
}
