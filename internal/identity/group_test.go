package identity

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestGroupEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("alice", "entity", `{"name":"alice"}`)
	h.create("bob", "entity", `{"name":"bob"}`)
	h.create("devs", "group", `{"name":"devs","policies":"dev,Shared","member_entity_ids":["{alice}","{bob}","{alice}"],"metadata":{"k":"v"}}`)
	h.create("eng", "group/name/eng", `{"type":"internal","member_group_ids":["{devs}"]}`)
	h.create("anon", "group", `{}`)
	h.vars["anonname"] = "group_" + h.vars["anon"][:8]
	members, _ := json.Marshal(sortedKeys(set{h.vars["alice"]: {}, h.vars["bob"]: {}}))
	h.vars["members"] = string(members)

	h.run(t, []step{
		{name: "read by id", op: opRead, path: "group/id/{devs}", want: `{
			"id":"{devs}","name":"devs","type":"internal","policies":["dev","shared"],"metadata":{"k":"v"},
			"member_entity_ids":{members},"member_group_ids":[],"parent_group_ids":["{eng}"],"alias":{},
			"modify_index":1,"namespace_id":"","creation_time":"2025-01-02T03:04:05Z"}`},
		{name: "read by name", op: opRead, path: "group/name/eng", want: `{"id":"{eng}","member_group_ids":["{devs}"],"parent_group_ids":[],"member_entity_ids":[]}`},
		{name: "generated name", op: opRead, path: "group/id/{anon}", want: `{"name":"{anonname}","type":"internal"}`},
		{name: "read missing", op: opRead, path: "group/id/nope", want: "null"},
		{name: "read missing name", op: opRead, path: "group/name/nope", want: "null"},
		{name: "external with members refused", op: opUpdate, path: "group", body: `{"name":"ext","type":"external","member_entity_ids":["{alice}"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown type", op: opUpdate, path: "group", body: `{"name":"x","type":"other"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown member entity", op: opUpdate, path: "group", body: `{"name":"x","member_entity_ids":["nope"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown member group", op: opUpdate, path: "group", body: `{"name":"x","member_group_ids":["nope"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "member of itself", op: opUpdate, path: "group/id/{devs}", body: `{"member_group_ids":["{devs}"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "cycle", op: opUpdate, path: "group/id/{devs}", body: `{"member_group_ids":["{eng}"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "rename to a used name", op: opUpdate, path: "group/id/{anon}", body: `{"name":"devs"}`, wantErr: logical.ErrInvalidRequest},
		{name: "update missing", op: opUpdate, path: "group/id/nope", body: `{}`, wantErr: logical.ErrNotFound},
		{name: "unknown id in body", op: opUpdate, path: "group", body: `{"id":"nope"}`, wantErr: logical.ErrNotFound},
		{name: "id mismatch", op: opUpdate, path: "group/id/{devs}", body: `{"id":"{eng}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "name mismatch", op: opUpdate, path: "group/name/eng", body: `{"name":"x"}`, wantErr: logical.ErrInvalidRequest},
		{name: "id by name", op: opUpdate, path: "group/name/eng", body: `{"id":"{eng}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown field ignored", op: opUpdate, path: "group/name/eng", body: `{"members":[]}`, want: `{"name":"eng"}`,
			wantWarn: "Endpoint ignored these unrecognized parameters: [members]"},
		{name: "update by name via group", op: opUpdate, path: "group", body: `{"name":"devs","member_entity_ids":"{bob}"}`, want: `{"id":"{devs}","name":"devs"}`},
		{name: "updated", op: opRead, path: "group/id/{devs}", want: `{"member_entity_ids":["{bob}"],"policies":["dev","shared"],"modify_index":2}`},
		{name: "entity sees its groups", op: opRead, path: "entity/id/{bob}", want: `{"direct_group_ids":["{devs}"],"inherited_group_ids":["{eng}"]}`},
		{name: "entity left the group", op: opRead, path: "entity/id/{alice}", want: `{"direct_group_ids":[],"group_ids":[]}`},
		{name: "list names", op: opList, path: "group/name", want: `{"keys":["devs","eng","{anonname}"]}`},
		{name: "list ids", op: opList, path: "group/id/", want: `{"key_info":{
			"{devs}":{"name":"devs","num_member_entities":1,"num_parent_groups":1},
			"{eng}":{"name":"eng","num_member_entities":0,"num_parent_groups":0},
			"{anon}":{"name":"{anonname}","num_member_entities":0,"num_parent_groups":0}}}`},
		{name: "delete member group", op: opDelete, path: "group/name/devs", want: "null"},
		{name: "parent forgets it", op: opRead, path: "group/id/{eng}", want: `{"member_group_ids":[],"modify_index":3}`},
		{name: "entity forgets it", op: opRead, path: "entity/id/{bob}", want: `{"direct_group_ids":[],"group_ids":[]}`},
		{name: "delete by id", op: opDelete, path: "group/id/{anon}", want: "null"},
		{name: "delete missing", op: opDelete, path: "group/id/{anon}", want: "null"},
		{name: "name free again", op: opUpdate, path: "group/name/devs", body: `{}`, want: `{"name":"devs"}`},
	})
}

// TestPolicies checks policy inheritance: an entity gets the policies of
// its groups and of every group above them, through two levels of parent
// groups, and a cycle can neither be written nor hang Policies.
func TestPolicies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("e", "entity", `{"name":"e","policies":["own","shared"]}`)
	h.create("other", "entity", `{"name":"other"}`)
	h.create("leaf", "group", `{"name":"leaf","policies":["leaf","shared"],"member_entity_ids":["{e}"]}`)
	h.create("mid", "group", `{"name":"mid","policies":["mid"],"member_group_ids":["{leaf}"]}`)
	h.create("top", "group", `{"name":"top","policies":["top","mid"],"member_group_ids":["{mid}"]}`)
	h.create("unrelated", "group", `{"name":"unrelated","policies":["nope"],"member_entity_ids":["{other}"]}`)

	policies := func(name string) []string {
		t.Helper()
		p, err := h.s.Policies(t.Context(), h.vars[name])
		if err != nil {
			t.Fatalf("Policies(%s): %v", name, err)
		}
		return p
	}
	tests := []struct {
		name   string
		change string // a group write done first, or ""
		entity string
		want   []string
	}{
		{name: "two levels of parents", entity: "e", want: []string{"leaf", "mid", "own", "shared", "top"}},
		{name: "only own groups", entity: "other", want: []string{"nope"}},
		{name: "parent policy change is seen", change: `{"id":"{top}","policies":["top2"]}`, entity: "e", want: []string{"leaf", "mid", "own", "shared", "top2"}},
		{name: "unlinking a level", change: `{"id":"{mid}","member_group_ids":[]}`, entity: "e", want: []string{"leaf", "own", "shared"}},
		{name: "relinking", change: `{"id":"{mid}","member_group_ids":["{leaf}"]}`, entity: "e", want: []string{"leaf", "mid", "own", "shared", "top2"}},
		{name: "unknown entity", entity: "nobody", want: nil},
	}
	for _, tt := range tests {
		if tt.change != "" {
			h.must(opUpdate, "group", tt.change)
		}
		if diff := cmp.Diff(tt.want, policies(tt.entity)); diff != "" {
			t.Errorf("%s: Policies mismatch (-want +got):\n%s", tt.name, diff)
		}
	}

	// Closing the loop top -> leaf is refused; nothing changes.
	if _, err := h.do(opUpdate, "group/id/{leaf}", `{"member_group_ids":["{top}"]}`); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("writing a cycle: error = %v, want ErrInvalidRequest", err)
	}

	// The returned slice is the caller's.
	p := policies("e")
	p[0] = "changed"
	if got := policies("e"); got[0] != "leaf" {
		t.Errorf("Policies after modifying an earlier answer = %v", got)
	}

	// A disabled entity is refused.
	h.must(opUpdate, "entity/id/{e}", `{"disabled":true}`)
	if _, err := h.s.Policies(t.Context(), h.vars["e"]); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Errorf("Policies(disabled) error = %v, want ErrPermissionDenied", err)
	}
}

// TestPoliciesStoredCycle loads groups that form a cycle (written by
// hand, as a bug or an older version might have) and checks that Policies
// terminates with every group's policies once.
func TestPoliciesStoredCycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("e", "entity", `{"name":"e"}`)
	put := func(id string, g *group) {
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Storage.Put(t.Context(), &logical.StorageEntry{Key: groupPrefix + id, Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	// a contains b, b contains c, c contains a; e is in a.
	put("a", &group{ID: "a", Name: "a", Type: typeInternal, Policies: []string{"pa"}, MemberEntityIDs: []string{h.vars["e"]}, MemberGroupIDs: []string{"b"}})
	put("b", &group{ID: "b", Name: "b", Type: typeInternal, Policies: []string{"pb", "pa"}, MemberGroupIDs: []string{"c"}})
	put("c", &group{ID: "c", Name: "c", Type: typeInternal, Policies: []string{"pc"}, MemberGroupIDs: []string{"a"}})
	s := newStore(t, h.Storage)
	got, err := s.Policies(t.Context(), h.vars["e"])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pa", "pb", "pc"}, got); diff != "" {
		t.Errorf("Policies with a stored cycle (-want +got):\n%s", diff)
	}
	// Reading and deleting groups in a cycle terminates too.
	h.use(s)
	h.must(opRead, "entity/id/{e}", "")
	h.must(opDelete, "group/id/b", "")
	got, err = s.Policies(t.Context(), h.vars["e"])
	if err != nil || !cmp.Equal(got, []string{"pa", "pc"}) {
		t.Errorf("Policies after deleting b = %v, %v, want [pa pc]", got, err)
	}
}
