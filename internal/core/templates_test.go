package core_test

import (
	"encoding/json"
	"testing"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// directoryOf reads the named entities and their groups through the API
// into an access.Directory, as a reviewer's tool would see them.
func directoryOf(t *testing.T, cl *api.Client, entityIDs []string) *access.Directory {
	t.Helper()
	read := func(path string, into any) {
		t.Helper()
		sec, err := cl.Logical().Read(path)
		if err != nil || sec == nil {
			t.Fatalf("read %s: %v", path, err)
		}
		b, _ := json.Marshal(sec.Data)
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
	}
	d := &access.Directory{}
	groups := map[string]bool{}
	for _, id := range entityIDs {
		var e struct {
			ID, Name string
			Metadata map[string]string
			Aliases  []struct {
				ID, Name       string
				MountAccessor  string            `json:"mount_accessor"`
				Metadata       map[string]string `json:"metadata"`
				CustomMetadata map[string]string `json:"custom_metadata"`
			}
			DirectGroupIDs    []string `json:"direct_group_ids"`
			InheritedGroupIDs []string `json:"inherited_group_ids"`
		}
		read("identity/entity/id/"+id, &e)
		ent := access.Entity{ID: e.ID, Name: e.Name, Metadata: e.Metadata, GroupIDs: append(e.DirectGroupIDs, e.InheritedGroupIDs...)}
		for _, a := range e.Aliases {
			ent.Aliases = append(ent.Aliases, access.Alias{ID: a.ID, Name: a.Name, MountAccessor: a.MountAccessor, Metadata: a.Metadata, CustomMetadata: a.CustomMetadata})
		}
		for _, g := range ent.GroupIDs {
			groups[g] = true
		}
		d.Entities = append(d.Entities, ent)
	}
	for g := range groups {
		var grp struct {
			ID, Name string
			Metadata map[string]string
		}
		read("identity/group/id/"+g, &grp)
		d.Groups = append(d.Groups, access.Group{ID: grp.ID, Name: grp.Name, Metadata: grp.Metadata})
	}
	return d
}

// TestTemplatedPolicies runs templated ACL policies end to end: two
// userpass users with named entities hold the same templated policy and
// each reaches only their own paths; a change to an entity's metadata, or
// its group, is seen by the next request of a token issued before it.
func TestTemplatedPolicies(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := s.Client
	if err := root.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	auths, err := root.Sys().ListAuth()
	if err != nil || auths["userpass/"] == nil {
		t.Fatalf("ListAuth = %v, %v", auths, err)
	}
	acc := auths["userpass/"].Accessor

	// A malformed template is refused when the policy is written.
	_, err = root.Logical().Write("sys/policies/acl/bad", map[string]any{"policy": `path "secret/data/{{identity.entity.nam}}/*" { capabilities = ["read"] }`})
	if statusCode(err) != 400 {
		t.Fatalf("write a bad template error = %v, want 400", err)
	}

	mustWrite(t, root, "sys/policies/acl/own", map[string]any{"policy": `
path "secret/data/{{identity.entity.name}}/*" { capabilities = ["create", "update", "read"] }
path "secret/data/team/{{identity.entity.metadata.team}}" { capabilities = ["read"] }
path "secret/data/alias/{{identity.entity.aliases.` + acc + `.name}}" { capabilities = ["read"] }
path "secret/data/group/{{identity.groups.names.devs.metadata.env}}" { capabilities = ["read"] }
`})
	for _, p := range []string{"alice/db", "bob/db", "team/red", "team/blue", "alias/alice", "alias/bob", "group/dev", "group/prod"} {
		mustWrite(t, root, "secret/data/"+p, map[string]any{"data": map[string]any{"v": p}})
	}

	entity := map[string]string{}
	tokens := map[string]*api.Client{}
	for _, u := range []struct{ name, team string }{{"alice", "red"}, {"bob", "blue"}} {
		sec := mustWrite(t, root, "identity/entity", map[string]any{"name": u.name, "metadata": map[string]any{"team": u.team}})
		entity[u.name] = sec.Data["id"].(string)
		mustWrite(t, root, "identity/entity-alias", map[string]any{"name": u.name, "mount_accessor": acc, "canonical_id": entity[u.name]})
		mustWrite(t, root, "auth/userpass/users/"+u.name, map[string]any{"password": "pw-" + u.name, "token_policies": "own"})
		login, err := clientWith(t, s, "").Logical().Write("auth/userpass/login/"+u.name, map[string]any{"password": "pw-" + u.name})
		if err != nil {
			t.Fatalf("login %s: %v", u.name, err)
		}
		if login.Auth.EntityID != entity[u.name] {
			t.Fatalf("login %s entity = %q, want %q", u.name, login.Auth.EntityID, entity[u.name])
		}
		tokens[u.name] = clientWith(t, s, login.Auth.ClientToken)
	}
	mustWrite(t, root, "identity/group", map[string]any{"name": "devs", "metadata": map[string]any{"env": "dev"}, "member_entity_ids": []string{entity["alice"]}})

	// The access package's answer, resolved per entity, must match each
	// real decision.
	var pols []*policy.Policy
	for _, name := range []string{"own", "default"} {
		text, err := root.Sys().GetPolicy(name)
		if err != nil {
			t.Fatal(err)
		}
		pols = append(pols, mustParsePolicy(t, name, text))
	}
	index := access.NewIndex(pols)

	type check struct {
		user, path string
		want       bool
	}
	run := func(t *testing.T, checks []check) {
		t.Helper()
		ids := access.NewIdentities(directoryOf(t, root, []string{entity["alice"], entity["bob"]}))
		for _, c := range checks {
			_, err := tokens[c.user].Logical().Read("secret/data/" + c.path)
			got := err == nil
			if got != c.want || (err != nil && statusCode(err) != 403) {
				t.Errorf("%s reads %s: error = %v, want allowed=%v", c.user, c.path, err, c.want)
			}
			answer := index.ForEntity(ids.Of(entity[c.user])).Who("secret/data/"+c.path, policy.CapRead)
			if d := answer.For([]string{"own", "default"}); d.Allowed != got {
				t.Errorf("%s reads %s: access answers allowed=%v, the real read %v", c.user, c.path, d.Allowed, got)
			}
		}
	}
	run(t, []check{
		{"alice", "alice/db", true},
		{"alice", "bob/db", false},
		{"bob", "bob/db", true},
		{"bob", "alice/db", false},
		{"alice", "team/red", true},
		{"alice", "team/blue", false},
		{"bob", "team/blue", true},
		{"bob", "team/red", false},
		{"alice", "alias/alice", true},
		{"alice", "alias/bob", false},
		{"bob", "alias/bob", true},
		{"alice", "group/dev", true},
		{"bob", "group/dev", false}, // not in the group: the rule is dropped
		{"alice", "group/prod", false},
	})
	// Each writes under their own name only.
	if _, err := tokens["bob"].Logical().Write("secret/data/bob/new", map[string]any{"data": map[string]any{"a": "b"}}); err != nil {
		t.Errorf("bob writes his own path: %v", err)
	}
	if _, err := tokens["bob"].Logical().Write("secret/data/alice/new", map[string]any{"data": map[string]any{"a": "b"}}); statusCode(err) != 403 {
		t.Errorf("bob writes alice's path: error = %v, want 403", err)
	}

	// sys/capabilities-self resolves the caller's templates too.
	caps, err := tokens["alice"].Sys().CapabilitiesSelf("secret/data/alice/x")
	if err != nil || len(caps) != 3 {
		t.Errorf("alice's capabilities on her path = %v, %v; want create, read, update", caps, err)
	}
	caps, err = root.Sys().Capabilities(tokens["bob"].Token(), "secret/data/alice/x")
	if err != nil || len(caps) != 1 || caps[0] != "deny" {
		t.Errorf("bob's capabilities on alice's path = %v, %v; want deny", caps, err)
	}

	// Changes to the entity and its group take effect on the next request.
	mustWrite(t, root, "identity/entity/id/"+entity["alice"], map[string]any{"metadata": map[string]any{"team": "blue"}})
	mustWrite(t, root, "identity/group/name/devs", map[string]any{"metadata": map[string]any{"env": "prod"}})
	run(t, []check{
		{"alice", "team/blue", true},
		{"alice", "team/red", false},
		{"alice", "group/prod", true},
		{"alice", "group/dev", false},
		{"bob", "team/blue", true}, // bob is unchanged
	})
	// Renaming moves the entity-name rule; deleting the metadata key
	// drops its rule.
	mustWrite(t, root, "identity/entity/id/"+entity["bob"], map[string]any{"name": "bob2", "metadata": map[string]any{}})
	run(t, []check{
		{"bob", "bob/db", false},
		{"bob", "team/blue", false},
		{"bob", "alias/bob", true},
	})
	// A value that would widen the path grants nothing.
	mustWrite(t, root, "identity/entity/id/"+entity["alice"], map[string]any{"metadata": map[string]any{"team": "*"}})
	run(t, []check{
		{"alice", "team/red", false},
		{"alice", "team/*", false},
	})
}

func mustParsePolicy(t *testing.T, name, text string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(name, text)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return p
}
