package identity

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// fuzzPaths are the write paths whose request bodies FuzzWrite decodes.
var fuzzPaths = []string{
	"entity", "entity/name/fuzz", "entity/id/{e}", "entity-alias", "entity-alias/id/{a}",
	"group", "group/name/fuzz", "group/id/{g}", "lookup/entity", "lookup/group",
	"group-alias", "group-alias/id/{ga}",
}

// FuzzWrite sends arbitrary bodies to every write path. A write must
// never panic; it fails only with a typed error and then changes nothing
// in storage; and a successful entity or group write that names the
// object stores exactly that name.
func FuzzWrite(f *testing.F) {
	seeds := []string{
		`{"name":"n","policies":["a","B"],"metadata":{"k":"v"},"disabled":true}`,
		`{"policies":"a, b,,c","metadata":["k=v","x=y=z"],"disabled":"1"}`,
		`{"id":"{e}","name":"renamed"}`,
		`{"name":"x","mount_accessor":"` + accUserpass + `","canonical_id":"{e}","custom_metadata":{"a":"b"}}`,
		`{"name":"g2","type":"internal","member_entity_ids":["{e}"],"member_group_ids":"{g}"}`,
		`{"type":"external"}`,
		`{"member_group_ids":["{g}"]}`,
		`{"alias_name":"seed","alias_mount_accessor":"` + accUserpass + `"}`,
		`{"name":"n2","mount_accessor":"` + accApprole + `","canonical_id":"{x}"}`,
		`{"id":"{ga}","canonical_id":"{g}"}`,
		`{"name":"\u0000"}`, `{"metadata":{"":""}}`, `{"name":null,"policies":null}`, `{"disabled":2}`,
		`[]`, `{`, ``, `null`, `{"name":"a"}{}`,
	}
	for i, s := range seeds {
		for p := range fuzzPaths {
			if (i+p)%3 == 0 {
				f.Add(uint8(p), []byte(s))
			}
		}
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		h := newHarness(t)
		id, err := h.s.LoginEntity(t.Context(), accUserpass, "userpass", logical.Alias{Name: "seed"})
		if err != nil {
			t.Fatal(err)
		}
		h.vars["e"] = id
		h.vars["a"] = h.s.st.aliasByKey[aliasKey(accUserpass, "seed")]
		h.create("g", "group", `{"name":"seedgroup"}`)
		h.create("x", "group", `{"name":"seedexternal","type":"external"}`)
		h.create("ga", "group-alias", `{"name":"seed","mount_accessor":"`+accUserpass+`","canonical_id":"{x}"}`)

		path := fuzzPaths[int(which)%len(fuzzPaths)]
		before := h.Storage.Snapshot()
		resp, err := h.do(opUpdate, path, string(body))
		if err != nil {
			if !typed(err) {
				t.Fatalf("POST %s %q: untyped error %v", path, body, err)
			}
			if after := h.Storage.Snapshot(); !maps.EqualFunc(before, after, slices.Equal) {
				t.Fatalf("POST %s %q failed (%v) but changed storage", path, body, err)
			}
			return
		}
		if resp != nil {
			if _, err := json.Marshal(resp.Data); err != nil {
				t.Fatalf("POST %s: response does not marshal: %v", path, err)
			}
		}
		// Body keys are matched exactly, as Vault matches them ("nAme" is
		// not "name"), so the oracle must not use encoding/json's
		// case-insensitive struct fields.
		var in map[string]json.RawMessage
		var name *string
		if json.Unmarshal([]byte(h.expand(string(body))), &in) != nil || in["name"] == nil || json.Unmarshal(in["name"], &name) != nil || name == nil {
			return
		}
		var kind string
		switch path {
		case "entity", "entity/id/{e}":
			kind = "entity"
		case "group", "group/id/{g}":
			kind = "group"
		default:
			return
		}
		got := fields(t, resp)
		read := h.must(opRead, kind+"/id/"+got["id"].(string), "")
		if read["name"] != *name {
			t.Fatalf("POST %s %q stored name %q, want %q", path, body, read["name"], *name)
		}
	})
}

// typed reports whether err carries one of the logical error kinds.
func typed(err error) bool {
	for _, kind := range []error{
		logical.ErrInvalidRequest, logical.ErrPermissionDenied, logical.ErrNotFound,
		logical.ErrUnsupportedOperation, logical.ErrUnsupportedPath, logical.ErrConflict, logical.ErrTooLarge,
	} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}
