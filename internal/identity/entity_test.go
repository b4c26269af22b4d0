package identity

import (
	"regexp"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
	opPatch  = logical.PatchOperation
)

func TestEntityEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("alice", "entity", `{"name":"alice","policies":["Dev"," ops ","dev"],"metadata":{"team":"a"}}`)
	h.create("bob", "entity/name/bob", `{"policies":"b1, b2","metadata":["k=v","x=y=z"]}`)
	h.create("anon", "entity", `{}`)

	// The generated name is known only now.
	got := h.must(opRead, "entity/id/{anon}", "")
	name, _ := got["name"].(string)
	if !regexp.MustCompile(`^entity_[0-9a-f]{8}$`).MatchString(name) || name != "entity_"+h.vars["anon"][:8] {
		t.Fatalf("generated entity name = %q, want entity_ and the ID's first 8 hex digits", name)
	}
	h.vars["anonname"] = name
	if h.vars["alice"] < h.vars["bob"] {
		h.vars["sortedids"] = `["` + h.vars["alice"] + `","` + h.vars["bob"] + `"]`
	} else {
		h.vars["sortedids"] = `["` + h.vars["bob"] + `","` + h.vars["alice"] + `"]`
	}
	h.run(t, []step{
		{name: "read by id", op: opRead, path: "entity/id/{alice}", want: `{
			"id":"{alice}","name":"alice","policies":["dev","ops"],"metadata":{"team":"a"},"disabled":false,
			"aliases":[],"direct_group_ids":[],"inherited_group_ids":[],"group_ids":[],"creation_time":"2025-01-02T03:04:05Z"}`},
		{name: "read by name", op: opRead, path: "entity/name/bob", want: `{"id":"{bob}","policies":["b1","b2"],"metadata":{"k":"v","x":"y=z"}}`},
		{name: "read generated name", op: opRead, path: "entity/id/{anon}", want: `{"metadata":null,"policies":[]}`},
		{name: "read missing id", op: opRead, path: "entity/id/nope", want: "null"},
		{name: "read missing name", op: opRead, path: "entity/name/nope", want: "null"},
		{name: "update by id keeps absent fields", op: opUpdate, path: "entity/id/{alice}", body: `{"disabled":true}`, want: `{"id":"{alice}","name":"alice"}`},
		{name: "updated", op: opRead, path: "entity/id/{alice}", want: `{"disabled":true,"policies":["dev","ops"],"metadata":{"team":"a"}}`},
		{name: "update by name via entity", op: opUpdate, path: "entity", body: `{"name":"alice","disabled":"false","metadata":{}}`, want: `{"id":"{alice}"}`},
		{name: "updated by name", op: opRead, path: "entity/name/alice", want: `{"disabled":false,"metadata":null}`},
		{name: "update by id in body", op: opUpdate, path: "entity", body: `{"id":"{bob}","policies":[]}`, want: `{"id":"{bob}","name":"bob"}`},
		{name: "policies cleared", op: opRead, path: "entity/id/{bob}", want: `{"policies":[]}`},
		{name: "rename", op: opUpdate, path: "entity/id/{bob}", body: `{"name":"robert"}`, want: `{"name":"robert"}`},
		{name: "old name gone", op: opRead, path: "entity/name/bob", want: "null"},
		{name: "new name", op: opRead, path: "entity/name/robert", want: `{"id":"{bob}"}`},
		{name: "rename to a used name", op: opUpdate, path: "entity/id/{bob}", body: `{"name":"alice"}`, wantErr: logical.ErrInvalidRequest},
		{name: "create with a used name updates", op: opCreate, path: "entity", body: `{"name":"alice"}`, want: `{"id":"{alice}"}`},
		{name: "update missing id", op: opUpdate, path: "entity/id/nope", body: `{"name":"x"}`, wantErr: logical.ErrNotFound},
		{name: "unknown id in body", op: opUpdate, path: "entity", body: `{"id":"nope"}`, wantErr: logical.ErrNotFound},
		{name: "id mismatch", op: opUpdate, path: "entity/id/{alice}", body: `{"id":"{bob}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "name mismatch", op: opUpdate, path: "entity/name/alice", body: `{"name":"x"}`, wantErr: logical.ErrInvalidRequest},
		{name: "id by name", op: opUpdate, path: "entity/name/alice", body: `{"id":"{alice}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown field ignored", op: opUpdate, path: "entity/name/alice", body: `{"colour":"red"}`, want: `{"name":"alice"}`,
			wantWarn: "Endpoint ignored these unrecognized parameters: [colour]"},
		{name: "empty name", op: opUpdate, path: "entity", body: `{"name":""}`, wantErr: logical.ErrInvalidRequest},
		{name: "name with a slash", op: opUpdate, path: "entity/name/team/x", body: `{}`, want: `{"name":"team/x"}`},
		{name: "newline in name", op: opUpdate, path: "entity", body: `{"name":"a\nb"}`, wantErr: logical.ErrInvalidRequest},
		{name: "metadata not strings", op: opUpdate, path: "entity", body: `{"metadata":{"a":1}}`, wantErr: logical.ErrInvalidRequest},
		{name: "metadata as one pair", op: opUpdate, path: "entity/name/alice", body: `{"metadata":"team=a=b"}`, want: `{"id":"{alice}"}`},
		{name: "metadata from one pair", op: opRead, path: "entity/name/alice", want: `{"metadata":{"team":"a=b"}}`},
		{name: "metadata string without =", op: opUpdate, path: "entity", body: `{"metadata":"team"}`, wantErr: logical.ErrInvalidRequest},
		{name: "metadata list without =", op: opUpdate, path: "entity", body: `{"metadata":["a"]}`, wantErr: logical.ErrInvalidRequest},
		{name: "metadata empty key", op: opUpdate, path: "entity", body: `{"metadata":{"":"v"}}`, wantErr: logical.ErrInvalidRequest},
		{name: "disabled not a bool", op: opUpdate, path: "entity", body: `{"disabled":"maybe"}`, wantErr: logical.ErrInvalidRequest},
		{name: "list names", op: opList, path: "entity/name/", want: `{"keys":["alice","{anonname}","robert","team/x"]}`},
		{name: "patch unsupported", op: opPatch, path: "entity/id/{alice}", body: `{}`, wantErr: logical.ErrUnsupportedOperation},
		{name: "delete by name", op: opDelete, path: "entity/name/team/x", want: "null"},
		{name: "delete by id", op: opDelete, path: "entity/id/{anon}", want: "null"},
		{name: "delete missing", op: opDelete, path: "entity/id/{anon}", want: "null"},
		{name: "deleted", op: opRead, path: "entity/id/{anon}", want: "null"},
		{name: "list ids", op: opList, path: "entity/id", want: `{"keys":{sortedids},"key_info":{
			"{alice}":{"name":"alice","aliases":[]},"{bob}":{"name":"robert","aliases":[]}}}`},
	})

}
