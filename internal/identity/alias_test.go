package identity

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestAliasEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("alice", "entity", `{"name":"alice"}`)
	h.create("bob", "entity", `{"name":"bob"}`)
	h.create("a1", "entity-alias", `{"name":"alice","mount_accessor":"`+accUserpass+`","canonical_id":"{alice}","custom_metadata":{"c":"d"}}`)

	// The same name on another mount is another alias.
	h.create("b2", "entity-alias", `{"name":"alice","mount_accessor":"`+accApprole+`","canonical_id":"{bob}"}`)

	h.run(t, []step{
		{name: "create answers id and canonical_id", op: opUpdate, path: "entity-alias",
			body: `{"name":"role-1","mount_accessor":"` + accApprole + `","canonical_id":"{alice}"}`, want: `{"canonical_id":"{alice}"}`},
		{name: "read", op: opRead, path: "entity-alias/id/{a1}", want: `{
			"id":"{a1}","canonical_id":"{alice}","name":"alice","mount_accessor":"` + accUserpass + `",
			"mount_path":"auth/userpass/","mount_type":"userpass","metadata":null,"custom_metadata":{"c":"d"},
			"merged_from_canonical_ids":[],"local":false,"creation_time":"2025-01-02T03:04:05Z"}`},
		{name: "read missing", op: opRead, path: "entity-alias/id/nope", want: "null"},
		{name: "bad mount accessor", op: opUpdate, path: "entity-alias",
			body: `{"name":"x","mount_accessor":"auth_nope_1","canonical_id":"{bob}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "missing name", op: opUpdate, path: "entity-alias",
			body: `{"mount_accessor":"` + accUserpass + `","canonical_id":"{bob}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "missing mount accessor", op: opUpdate, path: "entity-alias",
			body: `{"name":"x","canonical_id":"{bob}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "missing canonical_id", op: opUpdate, path: "entity-alias",
			body: `{"name":"x","mount_accessor":"` + accUserpass + `"}`, wantErr: logical.ErrInvalidRequest},
		{name: "unknown canonical_id", op: opUpdate, path: "entity-alias",
			body: `{"name":"x","mount_accessor":"` + accUserpass + `","canonical_id":"nope"}`, wantErr: logical.ErrInvalidRequest},
		{name: "name taken on the mount", op: opUpdate, path: "entity-alias",
			body: `{"name":"alice","mount_accessor":"` + accUserpass + `","canonical_id":"{bob}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "second alias of an entity on one mount", op: opUpdate, path: "entity-alias",
			body: `{"name":"alice2","mount_accessor":"` + accUserpass + `","canonical_id":"{alice}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "update moves alias to another entity", op: opUpdate, path: "entity-alias/id/{a1}",
			body: `{"canonical_id":"{bob}","custom_metadata":["e=f"]}`, want: `{"id":"{a1}","canonical_id":"{bob}"}`},
		{name: "updated", op: opRead, path: "entity-alias/id/{a1}", want: `{"canonical_id":"{bob}","name":"alice","custom_metadata":{"e":"f"}}`},
		{name: "update by id in body", op: opUpdate, path: "entity-alias", body: `{"id":"{a1}","name":"bobby"}`, want: `{"id":"{a1}"}`},
		{name: "update to a taken name", op: opUpdate, path: "entity-alias/id/{a1}",
			body: `{"name":"alice","mount_accessor":"` + accApprole + `"}`, wantErr: logical.ErrInvalidRequest},
		{name: "update bad mount accessor", op: opUpdate, path: "entity-alias/id/{a1}", body: `{"mount_accessor":"x"}`, wantErr: logical.ErrInvalidRequest},
		{name: "update missing", op: opUpdate, path: "entity-alias/id/nope", body: `{"name":"x"}`, wantErr: logical.ErrNotFound},
		{name: "id mismatch", op: opUpdate, path: "entity-alias/id/{a1}", body: `{"id":"other"}`, wantErr: logical.ErrInvalidRequest},
		{name: "drop the approle alias", op: opDelete, path: "entity-alias/id/{b2}", want: "null"},
		{name: "entity shows its alias", op: opRead, path: "entity/id/{bob}", want: `{"aliases":[{
			"id":"{a1}","canonical_id":"{bob}","name":"bobby","mount_accessor":"` + accUserpass + `",
			"mount_path":"auth/userpass/","mount_type":"userpass","metadata":null,"custom_metadata":{"e":"f"},
			"merged_from_canonical_ids":[],"local":false,"namespace_id":"",
			"creation_time":"2025-01-02T03:04:05Z","last_update_time":"2025-01-02T03:04:05Z"}]}`},
		{name: "delete", op: opDelete, path: "entity-alias/id/{a1}", want: "null"},
		{name: "deleted", op: opRead, path: "entity-alias/id/{a1}", want: "null"},
		{name: "name free again", op: opUpdate, path: "entity-alias",
			body: `{"name":"bobby","mount_accessor":"` + accUserpass + `","canonical_id":"{alice}"}`, want: `{"canonical_id":"{alice}"}`},
		{name: "delete missing", op: opDelete, path: "entity-alias/id/{a1}", want: "null"},
	})

	t.Run("list", func(t *testing.T) {
		h.T = t
		got := h.must(opList, "entity-alias/id/", "")
		keys, _ := got["keys"].([]any)
		info, _ := got["key_info"].(map[string]any)
		if len(keys) != 2 || len(info) != 2 {
			t.Fatalf("list = %v, want 2 keys with key_info", got)
		}
		for _, k := range keys {
			ki, _ := info[k.(string)].(map[string]any)
			if ki["mount_path"] == "" || ki["canonical_id"] == "" || ki["name"] == "" {
				t.Errorf("key_info[%v] = %v, want mount_path, canonical_id and name", k, ki)
			}
		}
	})
}
