package identity

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestTemplateEntity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if e, _ := h.s.TemplateEntity("missing"); e != nil {
		t.Errorf("TemplateEntity(missing) = %+v, want nil", e)
	}
	h.create("alice", "entity", `{"name":"alice","metadata":{"team":"red"}}`)
	h.create("bob", "entity", `{"name":"bob"}`)
	h.create("alias", "entity-alias", `{"name":"al","mount_accessor":"`+accUserpass+`","canonical_id":"{alice}","custom_metadata":{"c":"d"}}`)
	h.create("inner", "group", `{"name":"inner","metadata":{"env":"dev"},"member_entity_ids":["{alice}"]}`)
	h.create("outer", "group", `{"name":"outer","member_group_ids":["{inner}"]}`)
	h.create("other", "group", `{"name":"other","member_entity_ids":["{bob}"]}`)

	v0 := h.s.Version()
	got, v := h.s.TemplateEntity(h.vars["alice"])
	if v != v0 {
		t.Errorf("TemplateEntity version = %d, Version() = %d", v, v0)
	}
	want := &TemplateEntity{
		ID: h.vars["alice"], Name: "alice", Metadata: map[string]string{"team": "red"},
		Aliases: []TemplateAlias{{ID: h.vars["alias"], Name: "al", MountAccessor: accUserpass, CustomMetadata: map[string]string{"c": "d"}}},
	}
	// Nested groups count: inner directly, outer through inner.
	for _, g := range sortedKeys(set{h.vars["inner"]: {}, h.vars["outer"]: {}}) {
		tg := TemplateGroup{ID: g, Name: "outer"}
		if g == h.vars["inner"] {
			tg = TemplateGroup{ID: g, Name: "inner", Metadata: map[string]string{"env": "dev"}}
		}
		want.Groups = append(want.Groups, tg)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TemplateEntity(alice) (-want +got):\n%s", diff)
	}

	// Every change moves the version; a read does not.
	h.must(logical.ReadOperation, "entity/id/{alice}", "")
	if h.s.Version() != v0 {
		t.Error("a read changed the version")
	}
	h.must(logical.UpdateOperation, "group/id/{outer}", `{"metadata":{"x":"y"}}`)
	if v1 := h.s.Version(); v1 == v0 {
		t.Error("a group change kept the version")
	}
	if err := h.s.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h.s.Version() == v0 {
		t.Error("a reload kept the version")
	}
}
