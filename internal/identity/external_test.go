package identity

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TestGroupAliasEndpoints drives external groups and their aliases
// through the API: creation, the one-alias and unique-name rules, reads,
// lists, lookups, updates and deletion.
func TestGroupAliasEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("alice", "entity", `{"name":"alice"}`)
	h.create("ext", "group", `{"name":"ext","type":"external","policies":["x"]}`)
	h.create("ext2", "group/name/ext2", `{"type":"external"}`)
	h.create("int", "group", `{"name":"int","member_group_ids":["{ext}"]}`)

	h.run(t, []step{
		{name: "external group read", op: opRead, path: "group/id/{ext}", want: `{"type":"external","member_entity_ids":[],"parent_group_ids":["{int}"],"alias":{}}`},
		{name: "member_entity_ids refused", op: opUpdate, path: "group/id/{ext}", body: `{"member_entity_ids":["{alice}"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "member_group_ids refused", op: opUpdate, path: "group/id/{ext}", body: `{"member_group_ids":["{int}"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "new external with members refused", op: opUpdate, path: "group", body: `{"name":"e3","type":"external","member_group_ids":["{int}"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "type change refused", op: opUpdate, path: "group/id/{int}", body: `{"type":"external"}`, wantErr: logical.ErrInvalidRequest},
		{name: "same type accepted", op: opUpdate, path: "group/id/{ext}", body: `{"type":"external","member_entity_ids":[]}`, want: `{"id":"{ext}"}`},
		{name: "missing name", op: opUpdate, path: "group-alias", body: `{"mount_accessor":"` + accUserpass + `","canonical_id":"{ext}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "missing accessor", op: opUpdate, path: "group-alias", body: `{"name":"devs","canonical_id":"{ext}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "missing canonical_id", op: opUpdate, path: "group-alias", body: `{"name":"devs","mount_accessor":"` + accUserpass + `"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown accessor", op: opUpdate, path: "group-alias", body: `{"name":"devs","mount_accessor":"nope","canonical_id":"{ext}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown group", op: opUpdate, path: "group-alias", body: `{"name":"devs","mount_accessor":"` + accUserpass + `","canonical_id":"nope"}`, wantErr: logical.ErrInvalidRequest},
		{name: "internal group refused", op: opUpdate, path: "group-alias", body: `{"name":"devs","mount_accessor":"` + accUserpass + `","canonical_id":"{int}"}`, wantErr: logical.ErrInvalidRequest},
	})
	h.T = t
	h.create("ga", "group-alias", `{"name":"devs","mount_accessor":"`+accUserpass+`","canonical_id":"{ext}"}`)
	h.run(t, []step{
		{name: "read alias", op: opRead, path: "group-alias/id/{ga}", want: `{
			"id":"{ga}","canonical_id":"{ext}","name":"devs","mount_accessor":"` + accUserpass + `",
			"mount_path":"auth/userpass/","mount_type":"userpass","metadata":null,"merged_from_canonical_ids":[],
			"namespace_id":"","creation_time":"2025-01-02T03:04:05Z","last_update_time":"2025-01-02T03:04:05Z"}`},
		{name: "group shows alias", op: opRead, path: "group/id/{ext}", want: `{"alias":{
			"id":"{ga}","canonical_id":"{ext}","name":"devs","mount_accessor":"` + accUserpass + `",
			"mount_path":"auth/userpass/","mount_type":"userpass","metadata":null,"merged_from_canonical_ids":[],
			"namespace_id":"","creation_time":"2025-01-02T03:04:05Z","last_update_time":"2025-01-02T03:04:05Z"}}`},
		{name: "second alias for the group", op: opUpdate, path: "group-alias", body: `{"name":"other","mount_accessor":"` + accApprole + `","canonical_id":"{ext}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "name taken on the mount", op: opUpdate, path: "group-alias", body: `{"name":"devs","mount_accessor":"` + accUserpass + `","canonical_id":"{ext2}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "retarget to an internal group refused", op: opUpdate, path: "group-alias/id/{ga}", body: `{"canonical_id":"{int}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "list", op: opList, path: "group-alias/id", want: `{"keys":["{ga}"],"key_info":{"{ga}":{
			"canonical_id":"{ext}","name":"devs","mount_accessor":"` + accUserpass + `","mount_path":"auth/userpass/","mount_type":"userpass"}}}`},
		{name: "lookup by alias name", op: opUpdate, path: "lookup/group", body: `{"alias_name":"devs","alias_mount_accessor":"` + accUserpass + `"}`, want: `{"id":"{ext}"}`},
		{name: "lookup by alias id", op: opUpdate, path: "lookup/group", body: `{"alias_id":"{ga}"}`, want: `{"id":"{ext}"}`},
		{name: "lookup on another mount", op: opUpdate, path: "lookup/group", body: `{"alias_name":"devs","alias_mount_accessor":"` + accApprole + `"}`, want: "null"},
		{name: "update by id", op: opUpdate, path: "group-alias/id/{ga}", body: `{"name":"developers","mount_accessor":"` + accApprole + `"}`, want: `{"id":"{ga}","canonical_id":"{ext}"}`},
		{name: "updated", op: opRead, path: "group-alias/id/{ga}", want: `{"name":"developers","mount_type":"approle"}`},
		{name: "same name on the other mount is free", op: opUpdate, path: "group-alias", body: `{"name":"devs","mount_accessor":"` + accUserpass + `","canonical_id":"{ext2}"}`, want: `{"canonical_id":"{ext2}"}`},
		{name: "update through group-alias", op: opUpdate, path: "group-alias", body: `{"id":"{ga}","name":"devs2"}`, want: `{"id":"{ga}"}`},
		{name: "update missing", op: opUpdate, path: "group-alias/id/nope", body: `{"name":"a"}`, wantErr: logical.ErrNotFound},
		{name: "id mismatch", op: opUpdate, path: "group-alias/id/{ga}", body: `{"id":"other"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown field ignored", op: opUpdate, path: "group-alias/id/{ga}", body: `{"x":1}`, want: `{"id":"{ga}"}`,
			wantWarn: "Endpoint ignored these unrecognized parameters: [x]"},
		{name: "delete", op: opDelete, path: "group-alias/id/{ga}", want: "null"},
		{name: "read deleted", op: opRead, path: "group-alias/id/{ga}", want: "null"},
		{name: "group forgets its alias", op: opRead, path: "group/id/{ext}", want: `{"alias":{}}`},
		{name: "delete missing", op: opDelete, path: "group-alias/id/{ga}", want: "null"},
		{name: "group free for a new alias", op: opUpdate, path: "group-alias", body: `{"name":"devs2","mount_accessor":"` + accApprole + `","canonical_id":"{ext}"}`, want: `{"canonical_id":"{ext}"}`},
		{name: "delete the group", op: opDelete, path: "group/id/{ext}", want: "null"},
		{name: "its alias went with it", op: opUpdate, path: "lookup/group", body: `{"alias_name":"devs2","alias_mount_accessor":"` + accApprole + `"}`, want: "null"},
	})
}

// TestLoginGroups checks external group membership by login: it follows
// the names each login brings, per mount, and Policies follows it.
func TestLoginGroups(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	h.create("devs", "group", `{"name":"devs","type":"external","policies":["dev"]}`)
	h.create("ops", "group", `{"name":"ops","type":"external","policies":["ops"]}`)
	h.create("eng", "group", `{"name":"eng","policies":["eng"],"member_group_ids":["{devs}"]}`)
	h.create("devsAlias", "group-alias", `{"name":"developers","mount_accessor":"`+accUserpass+`","canonical_id":"{devs}"}`)
	h.create("opsAlias", "group-alias", `{"name":"operators","mount_accessor":"`+accApprole+`","canonical_id":"{ops}"}`)
	alice, err := h.s.LoginEntity(ctx, accUserpass, "userpass", logical.Alias{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	h.vars["alice"] = alice
	bob, err := h.s.LoginEntity(ctx, accUserpass, "userpass", logical.Alias{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		accessor string
		names    []string
		want     []string // alice's policies afterwards
	}{
		{name: "no groups", accessor: accUserpass, names: nil, want: nil},
		{name: "unknown names ignored", accessor: accUserpass, names: []string{"nobody", "devs"}, want: nil},
		{name: "alias on another mount ignored", accessor: accUserpass, names: []string{"operators"}, want: nil},
		{name: "joined with parent", accessor: accUserpass, names: []string{"developers", "developers", "x"}, want: []string{"dev", "eng"}},
		{name: "second mount adds", accessor: accApprole, names: []string{"operators"}, want: []string{"dev", "eng", "ops"}},
		{name: "unchanged login", accessor: accApprole, names: []string{"operators"}, want: []string{"dev", "eng", "ops"}},
		{name: "replaces per mount", accessor: accUserpass, names: []string{"other"}, want: []string{"ops"}},
		{name: "rejoin", accessor: accUserpass, names: []string{"developers"}, want: []string{"dev", "eng", "ops"}},
		{name: "leave second mount", accessor: accApprole, names: []string{}, want: []string{"dev", "eng"}},
	}
	for _, tt := range tests {
		if err := h.s.LoginGroups(ctx, tt.accessor, alice, tt.names); err != nil {
			t.Fatalf("%s: LoginGroups: %v", tt.name, err)
		}
		got, err := h.s.Policies(ctx, alice)
		if err != nil {
			t.Fatalf("%s: Policies: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Policies mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	if got, err := h.s.Policies(ctx, bob); err != nil || got != nil {
		t.Errorf("Policies(bob) = %v, %v, want none", got, err)
	}

	h.run(t, []step{
		{name: "group lists its login members", op: opRead, path: "group/id/{devs}", want: `{"member_entity_ids":["{alice}"]}`},
		{name: "entity lists the group", op: opRead, path: "entity/id/{alice}", want: `{"direct_group_ids":["{devs}"],"inherited_group_ids":["{eng}"]}`},
	})
	h.T = t

	for _, tt := range []struct {
		name             string
		accessor, entity string
		want             error
	}{
		{"no accessor", "", alice, logical.ErrInvalidRequest},
		{"no entity", accUserpass, "", logical.ErrInvalidRequest},
		{"unknown entity", accUserpass, "nope", logical.ErrNotFound},
	} {
		if err := h.s.LoginGroups(ctx, tt.accessor, tt.entity, []string{"developers"}); !errors.Is(err, tt.want) {
			t.Errorf("%s: error = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Deleting the alias drops the memberships gained through it.
	h.must(opDelete, "group-alias/id/{devsAlias}", "")
	if got, _ := h.s.Policies(ctx, alice); got != nil {
		t.Errorf("Policies after deleting the alias = %v, want none", got)
	}
	if got := h.must(opRead, "group/id/{devs}", ""); len(got["member_entity_ids"].([]any)) != 0 {
		t.Errorf("group members after deleting the alias = %v, want none", got["member_entity_ids"])
	}

	// Deleting the group drops its memberships from storage too.
	if err := h.s.LoginGroups(ctx, accApprole, alice, []string{"operators"}); err != nil {
		t.Fatal(err)
	}
	h.must(opDelete, "group/id/{ops}", "")
	if got, _ := h.s.Policies(ctx, alice); got != nil {
		t.Errorf("Policies after deleting the group = %v, want none", got)
	}
	if n := len(newStore(t, h.Storage).st.memberships); n != 0 {
		t.Errorf("memberships stored after deleting the group: %d, want 0", n)
	}
}

// TestLoginGroupsCleanup checks that deleting an entity or disabling a
// mount removes the memberships, in storage as well as in memory.
func TestLoginGroupsCleanup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	h.create("g", "group", `{"name":"g","type":"external","policies":["gp"]}`)
	h.create("ga", "group-alias", `{"name":"n","mount_accessor":"`+accUserpass+`","canonical_id":"{g}"}`)
	h.create("g2", "group", `{"name":"g2","type":"external","policies":["g2p"]}`)
	h.create("ga2", "group-alias", `{"name":"n","mount_accessor":"`+accApprole+`","canonical_id":"{g2}"}`)
	login := func(name string) string {
		t.Helper()
		id, err := h.s.LoginEntity(ctx, accUserpass, "userpass", logical.Alias{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, acc := range []string{accUserpass, accApprole} {
			if err := h.s.LoginGroups(ctx, acc, id, []string{"n"}); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	a, b := login("a"), login("b")
	h.must(opDelete, "entity/id/"+a, "")
	if err := h.s.DeleteMountAliases(ctx, accUserpass); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{h.s, newStore(t, h.Storage)} {
		if got, err := s.Policies(ctx, b); err != nil || !cmp.Equal(got, []string{"g2p"}) {
			t.Errorf("Policies(b) = %v, %v, want [g2p]", got, err)
		}
		if _, ok := s.st.memberships[a]; ok {
			t.Error("the deleted entity's memberships are still there")
		}
		if len(s.st.groupAliases) != 1 {
			t.Errorf("group aliases = %d, want 1 (the one on the mount still enabled)", len(s.st.groupAliases))
		}
	}
}
