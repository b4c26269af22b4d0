package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// call is one raw request of a status table and what Vault answers to it.
type call struct {
	name   string
	method string
	path   string
	body   string
	header []string
	// status is Vault's status; words, when set, must appear in the body
	// (an error's key words, or a member of the data).
	status int
	words  string
}

// runCalls sends each call in order (later calls may depend on earlier
// ones) and checks the status and the words.
func runCalls(t *testing.T, s *server, calls []call) {
	t.Helper()
	for _, c := range calls {
		r := s.raw(t, c.method, c.path, rootToken, c.body, c.header...)
		if r.Status != c.status {
			t.Errorf("%s: %s %s: status %d, want %d; body %s", c.name, c.method, c.path, r.Status, c.status, r.Body)
			continue
		}
		if c.words != "" && !strings.Contains(r.Body, c.words) {
			t.Errorf("%s: %s %s: body %s does not contain %q", c.name, c.method, c.path, r.Body, c.words)
		}
	}
}

// TestKVv2ErrorStatuses compares KV v2's answers for missing, deleted and
// destroyed secrets, check-and-set and bad input with Vault's.
func TestKVv2ErrorStatuses(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	merge := []string{"Content-Type", "application/merge-patch+json"}
	runCalls(t, s, []call{
		{name: "read missing", method: "GET", path: "/v1/secret/data/missing", status: 404, words: `{"errors":[]}`},
		{name: "read missing version", method: "GET", path: "/v1/secret/data/missing?version=3", status: 404, words: `{"errors":[]}`},
		{name: "metadata of missing", method: "GET", path: "/v1/secret/metadata/missing", status: 404, words: `{"errors":[]}`},
		{name: "subkeys of missing", method: "GET", path: "/v1/secret/subkeys/missing", status: 404, words: `{"errors":[]}`},
		{name: "list empty folder", method: "LIST", path: "/v1/secret/metadata/nothing/", status: 404, words: `{"errors":[]}`},
		{name: "delete missing", method: "DELETE", path: "/v1/secret/data/missing", status: 204},
		{name: "delete metadata of missing", method: "DELETE", path: "/v1/secret/metadata/missing", status: 204},
		{name: "patch missing", method: "PATCH", path: "/v1/secret/data/missing", body: `{"data":{"a":"b"}}`, header: merge, status: 404},

		{name: "create", method: "POST", path: "/v1/secret/data/app", body: `{"data":{"a":"1"}}`, status: 200, words: `"version":1`},
		{name: "cas mismatch", method: "POST", path: "/v1/secret/data/app", body: `{"data":{"a":"2"},"options":{"cas":5}}`, status: 400, words: "check-and-set parameter did not match the current version"},
		{name: "cas 0 on existing key", method: "POST", path: "/v1/secret/data/app", body: `{"data":{"a":"2"},"options":{"cas":0}}`, status: 400, words: "check-and-set parameter did not match the current version"},
		{name: "cas match", method: "POST", path: "/v1/secret/data/app", body: `{"data":{"a":"2"},"options":{"cas":1}}`, status: 200, words: `"version":2`},
		{name: "patch wrong content type", method: "PATCH", path: "/v1/secret/data/app", body: `{"data":{"a":"3"}}`, header: []string{"Content-Type", "application/json"}, status: 415, words: "application/merge-patch+json"},
		{name: "patch cas mismatch", method: "PATCH", path: "/v1/secret/data/app", body: `{"data":{"a":"3"},"options":{"cas":1}}`, header: merge, status: 400, words: "check-and-set parameter did not match the current version"},
		{name: "patch", method: "PATCH", path: "/v1/secret/data/app", body: `{"data":{"a":"3"}}`, header: merge, status: 200, words: `"version":3`},
		{name: "bad version query", method: "GET", path: "/v1/secret/data/app?version=abc", status: 400, words: "version"},
		{name: "no data", method: "POST", path: "/v1/secret/data/app", body: `{"options":{}}`, status: 400, words: "no data provided"},

		{name: "undelete without versions", method: "POST", path: "/v1/secret/undelete/app", body: `{}`, status: 400, words: "no version number provided"},
		{name: "destroy without versions", method: "POST", path: "/v1/secret/destroy/app", body: `{}`, status: 400, words: "no version number provided"},
		{name: "delete without versions", method: "POST", path: "/v1/secret/delete/app", body: `{}`, status: 400, words: "no version number provided"},
		{name: "undelete with versions of the wrong type", method: "POST", path: "/v1/secret/undelete/app", body: `{"versions":"x"}`, status: 400, words: "versions"},

		{name: "soft delete latest", method: "DELETE", path: "/v1/secret/data/app", status: 204},
		{name: "read deleted", method: "GET", path: "/v1/secret/data/app", status: 404, words: `"data":null`},
		{name: "patch deleted", method: "PATCH", path: "/v1/secret/data/app", body: `{"data":{"a":"4"}}`, header: merge, status: 404},
		{name: "destroy", method: "POST", path: "/v1/secret/destroy/app", body: `{"versions":[1]}`, status: 204},
		{name: "read destroyed", method: "GET", path: "/v1/secret/data/app?version=1", status: 404, words: `"destroyed":true`},
		{name: "subkeys of destroyed", method: "GET", path: "/v1/secret/subkeys/app?version=1", status: 404, words: `"subkeys":null`},
		{name: "subkeys bad depth", method: "GET", path: "/v1/secret/subkeys/app?depth=-1", status: 400, words: "depth"},
		{name: "subkeys", method: "GET", path: "/v1/secret/subkeys/app?version=2", status: 200, words: `"subkeys":{"a":null}`},

		{name: "cas_required on key", method: "POST", path: "/v1/secret/metadata/strict", body: `{"cas_required":true}`, status: 204},
		{name: "write without cas", method: "POST", path: "/v1/secret/data/strict", body: `{"data":{"a":"1"}}`, status: 400, words: "check-and-set parameter required for this call"},
		{name: "write with cas 0", method: "POST", path: "/v1/secret/data/strict", body: `{"data":{"a":"1"},"options":{"cas":0}}`, status: 200},
		{name: "max_versions of the wrong type", method: "POST", path: "/v1/secret/metadata/strict", body: `{"max_versions":"many"}`, status: 400, words: `invalid value for \"max_versions\"`},
		{name: "delete_version_after junk", method: "POST", path: "/v1/secret/metadata/strict", body: `{"delete_version_after":"junk"}`, status: 400, words: `invalid value for \"delete_version_after\"`},
		{name: "custom_metadata not strings", method: "POST", path: "/v1/secret/metadata/strict", body: `{"custom_metadata":{"a":1}}`, status: 400, words: "custom_metadata"},

		{name: "max_versions 1", method: "POST", path: "/v1/secret/metadata/short", body: `{"max_versions":1}`, status: 204},
		{name: "short v1", method: "POST", path: "/v1/secret/data/short", body: `{"data":{"v":"1"}}`, status: 200},
		{name: "short v2", method: "POST", path: "/v1/secret/data/short", body: `{"data":{"v":"2"}}`, status: 200},
		{name: "trimmed version", method: "GET", path: "/v1/secret/data/short?version=1", status: 404, words: `{"errors":[]}`},

		{name: "config read", method: "GET", path: "/v1/secret/config", status: 200, words: `"cas_required":false`},
		{name: "config bad max_versions", method: "POST", path: "/v1/secret/config", body: `{"max_versions":"x"}`, status: 400, words: `invalid value for \"max_versions\"`},
		{name: "config cas_required", method: "POST", path: "/v1/secret/config", body: `{"cas_required":true}`, status: 204},
		{name: "mount-wide cas_required", method: "POST", path: "/v1/secret/data/other", body: `{"data":{"a":"1"}}`, status: 400, words: "check-and-set parameter required for this call"},
	})
}

// TestKVv2DeletedReadShape checks the body of a deleted version's 404
// with the official client, which hands back the secret for a 404 that
// carries data.
func TestKVv2DeletedReadShape(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	kv := s.Client.KVv2("secret")
	if _, err := kv.Put(t.Context(), "gone", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	r := s.raw(t, "GET", "/v1/secret/data/gone", rootToken, "")
	if r.Status != http.StatusNotFound {
		t.Fatalf("status %d, want 404", r.Status)
	}
	var env struct {
		Data struct {
			Data     json.RawMessage `json:"data"`
			Metadata struct {
				DeletionTime string `json:"deletion_time"`
				Destroyed    bool   `json:"destroyed"`
				Version      int    `json:"version"`
			} `json:"metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.Body), &env); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	if string(env.Data.Data) != "null" || env.Data.Metadata.DeletionTime == "" || env.Data.Metadata.Destroyed || env.Data.Metadata.Version != 1 {
		t.Fatalf("deleted version body = %s, want data null and a deletion_time", r.Body)
	}
	// The official client hands back the deleted version's metadata, not
	// a "secret not found" error.
	sec, err := kv.Get(t.Context(), "gone")
	if err != nil {
		t.Fatalf("KVv2.Get of a deleted secret: %v", err)
	}
	if sec.Data != nil || sec.VersionMetadata == nil || sec.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("KVv2.Get of a deleted secret = %+v, want no data and a deletion time", sec)
	}
}

// TestKVv1AndCubbyholeErrorStatuses compares KV v1's and cubbyhole's
// answers with Vault's.
func TestKVv1AndCubbyholeErrorStatuses(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	runCalls(t, s, []call{
		{name: "mount kv v1", method: "POST", path: "/v1/sys/mounts/kv1", body: `{"type":"kv"}`, status: 204},
		{name: "v1 read missing", method: "GET", path: "/v1/kv1/missing", status: 404, words: `{"errors":[]}`},
		{name: "v1 list empty mount", method: "LIST", path: "/v1/kv1/", status: 404, words: `{"errors":[]}`},
		{name: "v1 list empty folder", method: "LIST", path: "/v1/kv1/nothing/", status: 404, words: `{"errors":[]}`},
		{name: "v1 delete missing", method: "DELETE", path: "/v1/kv1/missing", status: 204},
		{name: "v1 write nothing", method: "POST", path: "/v1/kv1/a", body: `{}`, status: 400, words: "missing data fields"},
		{name: "v1 write", method: "POST", path: "/v1/kv1/dir/a", body: `{"k":"v"}`, status: 204},
		{name: "v1 list", method: "LIST", path: "/v1/kv1/dir/", status: 200, words: `"keys":["a"]`},

		{name: "cubbyhole read missing", method: "GET", path: "/v1/cubbyhole/missing", status: 404, words: `{"errors":[]}`},
		{name: "cubbyhole list empty", method: "LIST", path: "/v1/cubbyhole/", status: 404, words: `{"errors":[]}`},
		{name: "cubbyhole delete missing", method: "DELETE", path: "/v1/cubbyhole/missing", status: 204},
		{name: "cubbyhole write nothing", method: "POST", path: "/v1/cubbyhole/a", body: `{}`, status: 400, words: "missing data fields"},
		{name: "cubbyhole write", method: "POST", path: "/v1/cubbyhole/dir/a", body: `{"k":"v"}`, status: 204},
		{name: "cubbyhole list", method: "LIST", path: "/v1/cubbyhole/dir/", status: 200, words: `"keys":["a"]`},
	})
}

// TestIdentityErrorStatuses compares identity's answers for missing,
// duplicate and unmatched entities, groups and aliases with Vault's.
func TestIdentityErrorStatuses(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	created := func(path, body string) string {
		t.Helper()
		sec, err := s.Client.Logical().Write(path, mapOf(t, body))
		if err != nil || sec == nil {
			t.Fatalf("write %s: %v", path, err)
		}
		return sec.Data["id"].(string)
	}
	e2 := created("identity/entity", `{"name":"e2"}`)
	created("identity/entity", `{"name":"e1"}`)
	g2 := created("identity/group", `{"name":"g2"}`)
	created("identity/group", `{"name":"g1"}`)
	auths, err := s.Client.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	acc := auths["token/"].Accessor
	runCalls(t, s, []call{
		{name: "entity by missing id", method: "GET", path: "/v1/identity/entity/id/missing", status: 404, words: `{"errors":[]}`},
		{name: "entity by missing name", method: "GET", path: "/v1/identity/entity/name/missing", status: 404, words: `{"errors":[]}`},
		{name: "create with an existing name updates it", method: "POST", path: "/v1/identity/entity", body: `{"name":"e1","policies":["p"]}`, status: 200, words: `"name":"e1"`},
		{name: "rename to a taken name", method: "POST", path: "/v1/identity/entity/id/" + e2, body: `{"name":"e1"}`, status: 400, words: "already in use"},
		{name: "update missing id", method: "POST", path: "/v1/identity/entity/id/missing", body: `{"name":"zz"}`, status: 404},
		{name: "delete missing entity id", method: "DELETE", path: "/v1/identity/entity/id/missing", status: 204},
		{name: "delete missing entity name", method: "DELETE", path: "/v1/identity/entity/name/missing", status: 204},

		{name: "group by missing id", method: "GET", path: "/v1/identity/group/id/missing", status: 404, words: `{"errors":[]}`},
		{name: "group by missing name", method: "GET", path: "/v1/identity/group/name/missing", status: 404, words: `{"errors":[]}`},
		{name: "rename group to a taken name", method: "POST", path: "/v1/identity/group/id/" + g2, body: `{"name":"g1"}`, status: 400, words: "already in use"},
		{name: "delete missing group", method: "DELETE", path: "/v1/identity/group/id/missing", status: 204},

		{name: "entity alias by missing id", method: "GET", path: "/v1/identity/entity-alias/id/missing", status: 404, words: `{"errors":[]}`},
		{name: "group alias by missing id", method: "GET", path: "/v1/identity/group-alias/id/missing", status: 404, words: `{"errors":[]}`},
		{name: "delete missing entity alias", method: "DELETE", path: "/v1/identity/entity-alias/id/missing", status: 204},
		{name: "alias without mount accessor", method: "POST", path: "/v1/identity/entity-alias", body: `{"name":"x"}`, status: 400, words: "mount_accessor"},
		{name: "alias on an unknown accessor", method: "POST", path: "/v1/identity/entity-alias", body: `{"name":"x","mount_accessor":"nope","canonical_id":"` + e2 + `"}`, status: 400, words: "mount accessor"},
		{name: "alias", method: "POST", path: "/v1/identity/entity-alias", body: `{"name":"x","mount_accessor":"` + acc + `","canonical_id":"` + e2 + `"}`, status: 200},
		{name: "duplicate alias", method: "POST", path: "/v1/identity/entity-alias", body: `{"name":"x","mount_accessor":"` + acc + `","canonical_id":"` + e2 + `"}`, status: 400, words: "already exists"},

		{name: "lookup entity no match", method: "POST", path: "/v1/identity/lookup/entity", body: `{"name":"nope"}`, status: 204},
		{name: "lookup group no match", method: "POST", path: "/v1/identity/lookup/group", body: `{"name":"nope"}`, status: 204},
		{name: "lookup entity without criteria", method: "POST", path: "/v1/identity/lookup/entity", body: `{}`, status: 400},
		{name: "lookup entity", method: "POST", path: "/v1/identity/lookup/entity", body: `{"id":"` + e2 + `"}`, status: 200, words: `"name":"e2"`},
	})
}

// TestAuthMethodCRUDErrorStatuses compares approle's and userpass's
// answers for missing roles, users and secret IDs with Vault's.
func TestAuthMethodCRUDErrorStatuses(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	runCalls(t, s, []call{
		{name: "enable approle", method: "POST", path: "/v1/sys/auth/approle", body: `{"type":"approle"}`, status: 204},
		{name: "enable userpass", method: "POST", path: "/v1/sys/auth/userpass", body: `{"type":"userpass"}`, status: 204},

		{name: "read missing role", method: "GET", path: "/v1/auth/approle/role/missing", status: 404, words: `{"errors":[]}`},
		{name: "role-id of missing role", method: "GET", path: "/v1/auth/approle/role/missing/role-id", status: 404, words: `{"errors":[]}`},
		{name: "set role-id of missing role", method: "POST", path: "/v1/auth/approle/role/missing/role-id", body: `{"role_id":"x"}`, status: 404, words: `role \"missing\" does not exist`},
		{name: "secret-id of missing role", method: "POST", path: "/v1/auth/approle/role/missing/secret-id", body: `{}`, status: 404, words: `role \"missing\" does not exist`},
		{name: "list secret-ids of missing role", method: "LIST", path: "/v1/auth/approle/role/missing/secret-id", status: 400, words: `role \"missing\" does not exist`},
		{name: "list no roles", method: "LIST", path: "/v1/auth/approle/role", status: 404, words: `{"errors":[]}`},
		{name: "delete missing role", method: "DELETE", path: "/v1/auth/approle/role/missing", status: 204},
		{name: "invalid role name", method: "POST", path: "/v1/auth/approle/role/bad$name", body: `{}`, status: 400, words: "invalid role name"},
		{name: "bad token_ttl", method: "POST", path: "/v1/auth/approle/role/r1", body: `{"token_ttl":"junk"}`, status: 400, words: `invalid value for \"token_ttl\"`},
		{name: "create role", method: "POST", path: "/v1/auth/approle/role/r1", body: `{}`, status: 204},
		{name: "list no secret-ids", method: "LIST", path: "/v1/auth/approle/role/r1/secret-id", status: 404, words: `{"errors":[]}`},
		{name: "lookup unknown secret-id", method: "POST", path: "/v1/auth/approle/role/r1/secret-id/lookup", body: `{"secret_id":"unknown"}`, status: 204},
		{name: "lookup without secret-id", method: "POST", path: "/v1/auth/approle/role/r1/secret-id/lookup", body: `{}`, status: 400, words: "missing secret_id"},
		{name: "destroy unknown secret-id", method: "POST", path: "/v1/auth/approle/role/r1/secret-id/destroy", body: `{"secret_id":"unknown"}`, status: 204},
		{name: "lookup unknown accessor", method: "POST", path: "/v1/auth/approle/role/r1/secret-id-accessor/lookup", body: `{"secret_id_accessor":"0b9e5c3c-2a4e-4c4e-9e0e-6f1d2b3c4d5e"}`, status: 404, words: "failed to find accessor entry for secret_id_accessor"},
		{name: "destroy unknown accessor", method: "POST", path: "/v1/auth/approle/role/r1/secret-id-accessor/destroy", body: `{"secret_id_accessor":"unknown"}`, status: 404, words: "failed to find accessor entry for secret_id_accessor"},
		{name: "lookup without accessor", method: "POST", path: "/v1/auth/approle/role/r1/secret-id-accessor/lookup", body: `{}`, status: 400, words: "missing secret_id_accessor"},

		{name: "read missing user", method: "GET", path: "/v1/auth/userpass/users/missing", status: 404, words: `{"errors":[]}`},
		{name: "delete missing user", method: "DELETE", path: "/v1/auth/userpass/users/missing", status: 204},
		{name: "list no users", method: "LIST", path: "/v1/auth/userpass/users", status: 404, words: `{"errors":[]}`},
		{name: "new user without password", method: "POST", path: "/v1/auth/userpass/users/u1", body: `{}`, status: 400, words: "missing password"},
		{name: "invalid username", method: "POST", path: "/v1/auth/userpass/users/bad$name", body: `{"password":"p"}`, status: 400, words: "invalid username"},
		{name: "password of missing user", method: "POST", path: "/v1/auth/userpass/users/missing/password", body: `{"password":"x"}`, status: 404},
		{name: "policies of missing user", method: "POST", path: "/v1/auth/userpass/users/missing/policies", body: `{"policies":"x"}`, status: 404},
		{name: "create user", method: "POST", path: "/v1/auth/userpass/users/u1", body: `{"password":"p"}`, status: 204},
		{name: "update user without password", method: "POST", path: "/v1/auth/userpass/users/u1", body: `{"token_ttl":"1h"}`, status: 204},
		{name: "empty password change", method: "POST", path: "/v1/auth/userpass/users/u1/password", body: `{}`, status: 400, words: "missing password"},
	})
}

// mapOf decodes a JSON object for the official client's Write.
func mapOf(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
