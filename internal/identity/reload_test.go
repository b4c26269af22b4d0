package identity

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TestReload checks that everything the API shows survives a restart: a
// store built on the same storage answers every read the same way.
func TestReload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("e", "entity", `{"name":"erin","policies":["p"],"metadata":{"k":"v"},"disabled":true}`)
	h.create("f", "entity", `{"name":"fred"}`)
	h.create("a", "entity-alias", `{"name":"erin","mount_accessor":"`+accUserpass+`","canonical_id":"{e}","custom_metadata":{"c":"d"}}`)
	h.create("g", "group", `{"name":"g","policies":["gp"],"member_entity_ids":["{e}","{f}"]}`)
	h.create("p", "group", `{"name":"parent","member_group_ids":["{g}"]}`)
	h.create("x", "group", `{"name":"ext","type":"external","policies":["xp"]}`)
	h.create("p2", "group", `{"name":"ext-parent","policies":["xpp"],"member_group_ids":["{x}"]}`)
	h.create("ga", "group-alias", `{"name":"admins","mount_accessor":"`+accApprole+`","canonical_id":"{x}"}`)
	role, err := h.s.LoginEntity(t.Context(), accApprole, "approle", logical.Alias{Name: "role", Metadata: map[string]string{"r": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	h.vars["role"] = role
	if err := h.s.LoginGroups(t.Context(), accApprole, role, []string{"admins"}); err != nil {
		t.Fatal(err)
	}

	reads := []struct {
		op   logical.Operation
		path string
	}{
		{opRead, "entity/id/{e}"}, {opRead, "entity/id/{f}"}, {opRead, "entity-alias/id/{a}"},
		{opRead, "group/id/{g}"}, {opRead, "group/id/{p}"}, {opList, "entity/id"}, {opList, "entity/name"},
		{opList, "entity-alias/id"}, {opList, "group/id"}, {opList, "group/name"},
		{opRead, "group/id/{x}"}, {opRead, "group/id/{p2}"}, {opRead, "group-alias/id/{ga}"},
		{opList, "group-alias/id"}, {opRead, "entity/id/{role}"},
	}
	before := make([]map[string]any, len(reads))
	for i, r := range reads {
		before[i] = h.must(r.op, r.path, "")
	}
	p1, err1 := h.s.Policies(t.Context(), h.vars["f"])
	r1, err := h.s.Policies(t.Context(), role)
	if want := []string{"xp", "xpp"}; err != nil || !cmp.Equal(r1, want) {
		t.Fatalf("Policies(role) = %v, %v, want %v", r1, err, want)
	}

	h.use(newStore(t, h.Storage))
	for i, r := range reads {
		if diff := cmp.Diff(before[i], h.must(r.op, r.path, "")); diff != "" {
			t.Errorf("%s %s after reload (-before +after):\n%s", r.op, r.path, diff)
		}
	}
	p2, err2 := h.s.Policies(t.Context(), h.vars["f"])
	if r2, err := h.s.Policies(t.Context(), role); err != nil || !cmp.Equal(r1, r2) {
		t.Errorf("Policies(role) after reload = %v, %v, want %v", r2, err, r1)
	}
	if !cmp.Equal(p1, p2) || err1 != nil || err2 != nil {
		t.Errorf("Policies after reload = %v, %v, want %v, %v", p2, err2, p1, err1)
	}
	if _, err := h.s.Policies(t.Context(), h.vars["e"]); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Errorf("disabled entity after reload: error = %v, want ErrPermissionDenied", err)
	}
}

// TestNew checks the constructor's requirements and defaults.
func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := New(t.Context(), Options{}); err == nil {
		t.Error("New without storage = nil error")
	}
	h := newHarness(t)
	s, err := New(t.Context(), Options{Storage: h.Storage}) // no logger, clock or mounts
	if err != nil {
		t.Fatal(err)
	}
	h.use(s)
	h.create("e", "entity", `{"name":"e"}`)
	if _, err := h.do(opUpdate, "entity-alias", `{"name":"x","mount_accessor":"`+accUserpass+`","canonical_id":"{e}"}`); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("alias write without a mount table: error = %v, want ErrInvalidRequest", err)
	}
}
