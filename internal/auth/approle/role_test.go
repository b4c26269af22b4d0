package approle

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: opCreate, Path: "role/app", Body: json.RawMessage(`{"role_id":"fixed-role-id","token_policies":"a","secret_id_ttl":"1h"}`)},
			{Operation: opUpdate, Path: "role/app/role-id", Body: json.RawMessage(`{"role_id":"fixed-role-id"}`)},
			{Operation: opUpdate, Path: "role/app/secret-id", Body: json.RawMessage(`{"metadata":"{\"k\":\"v\"}"}`)},
			{Operation: opUpdate, Path: "role/app/custom-secret-id", Body: json.RawMessage(`{"secret_id":"fixed-secret-id"}`)},
			{
				Operation: opUpdate, Path: "login", Body: json.RawMessage(`{"role_id":"fixed-role-id","secret_id":"fixed-secret-id"}`),
				Connection: &logical.Connection{RemoteAddr: "127.0.0.1:1"},
			},
			{Operation: opUpdate, Path: "role/app/secret-id/lookup", Body: json.RawMessage(`{"secret_id":"fixed-secret-id"}`)},
			{Operation: opUpdate, Path: "tidy/secret-id", Body: json.RawMessage(`{}`)},
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "role/app"},
			{Operation: opList, Path: "role/"},
			{Operation: opRead, Path: "role/app/role-id"},
			{Operation: opList, Path: "role/app/secret-id/"},
		},
	})
}

func TestRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	steps := []struct {
		name     string
		r        req
		wantErr  error
		wantData string // JSON; "" for no data
	}{
		{name: "read missing", r: req{Op: opRead, Path: "role/app1"}},
		{name: "list empty", r: req{Op: opList, Path: "role"}},
		{name: "create", r: req{Op: opCreate, Path: "role/App1", Body: `{"token_policies":"Dev,ops","token_ttl":"10m","token_max_ttl":"1h",` +
			`"secret_id_ttl":"1h","secret_id_num_uses":10,"secret_id_bound_cidrs":"10.0.0.0/8, 192.0.2.0/24"}`}},
		{
			name: "read lowercased", r: req{Op: opRead, Path: "role/APP1"},
			wantData: `{"bind_secret_id":true,"local_secret_ids":false,"secret_id_bound_cidrs":["10.0.0.0/8","192.0.2.0/24"],` +
				`"secret_id_num_uses":10,"secret_id_ttl":3600,"token_policies":["dev","ops"],"token_ttl":600,"token_max_ttl":3600,` +
				`"token_explicit_max_ttl":0,"token_period":0,"token_num_uses":0,"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false}`,
		},
		{name: "update names only some fields", r: req{Op: opUpdate, Path: "role/app1", Body: `{"secret_id_num_uses":"3","period":"5m","policies":"legacy"}`}},
		{
			name: "read after update", r: req{Op: opRead, Path: "role/app1"},
			wantData: `{"bind_secret_id":true,"local_secret_ids":false,"secret_id_bound_cidrs":["10.0.0.0/8","192.0.2.0/24"],` +
				`"secret_id_num_uses":3,"secret_id_ttl":3600,"token_policies":["legacy"],"token_ttl":600,"token_max_ttl":3600,` +
				`"token_explicit_max_ttl":0,"token_period":300,"token_num_uses":0,"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false}`,
		},
		{name: "token_period wins over period", r: req{Op: opUpdate, Path: "role/app1", Body: `{"period":"1m","token_period":"2m"}`}},
		{name: "local_secret_ids is fixed", r: req{Op: opUpdate, Path: "role/app1", Body: `{"local_secret_ids":true}`}, wantErr: logical.ErrInvalidRequest},
		{name: "local_secret_ids unchanged is fine", r: req{Op: opUpdate, Path: "role/app1", Body: `{"local_secret_ids":false}`}},
		{name: "drop bind_secret_id keeping cidrs", r: req{Op: opUpdate, Path: "role/app1", Body: `{"bind_secret_id":false}`}},
		{name: "no constraint left", r: req{Op: opUpdate, Path: "role/app1", Body: `{"secret_id_bound_cidrs":""}`}, wantErr: logical.ErrInvalidRequest},
		{name: "new role without any constraint", r: req{Op: opCreate, Path: "role/free", Body: `{"bind_secret_id":false}`}, wantErr: logical.ErrInvalidRequest},
		{name: "new role bound by token cidrs", r: req{Op: opCreate, Path: "role/free", Body: `{"bind_secret_id":false,"token_bound_cidrs":"127.0.0.1"}`}},
		{name: "local role", r: req{Op: opCreate, Path: "role/local", Body: `{"local_secret_ids":true}`}},
		{
			name: "read local role defaults", r: req{Op: opRead, Path: "role/local"},
			wantData: `{"bind_secret_id":true,"local_secret_ids":true,"secret_id_bound_cidrs":[],"secret_id_num_uses":0,"secret_id_ttl":0,` +
				`"token_policies":[],"token_ttl":0,"token_max_ttl":0,"token_explicit_max_ttl":0,"token_period":0,"token_num_uses":0,` +
				`"token_type":"default","token_bound_cidrs":[],"token_no_default_policy":false}`,
		},
		{name: "bad secret cidr", r: req{Op: opUpdate, Path: "role/x", Body: `{"secret_id_bound_cidrs":"10.0.0.0/99"}`}, wantErr: logical.ErrInvalidRequest},
		{name: "negative uses", r: req{Op: opUpdate, Path: "role/x", Body: `{"secret_id_num_uses":-1}`}, wantErr: logical.ErrInvalidRequest},
		{name: "bad token field", r: req{Op: opUpdate, Path: "role/x", Body: `{"token_type":"weird"}`}, wantErr: logical.ErrInvalidRequest},
		{name: "deprecated bound_cidr_list refused", r: req{Op: opUpdate, Path: "role/x", Body: `{"bound_cidr_list":"10.0.0.0/8"}`}, wantErr: logical.ErrInvalidRequest},
		{name: "deprecated ttl refused", r: req{Op: opUpdate, Path: "role/x", Body: `{"ttl":"1h"}`}, wantErr: logical.ErrInvalidRequest},
		{name: "empty role_id", r: req{Op: opUpdate, Path: "role/x", Body: `{"role_id":""}`}, wantErr: logical.ErrInvalidRequest},
		{name: "bad name #", r: req{Op: opUpdate, Path: "role/a#b", Body: `{}`}, wantErr: logical.ErrInvalidRequest},
		{name: "bad name dot", r: req{Op: opUpdate, Path: "role/.", Body: `{}`}, wantErr: logical.ErrInvalidRequest},
		{name: "bad name dotdot", r: req{Op: opRead, Path: "role/.."}, wantErr: logical.ErrInvalidRequest},
		{name: "bad name unicode", r: req{Op: opRead, Path: "role/ü"}, wantErr: logical.ErrInvalidRequest},
		{name: "name with space and dots", r: req{Op: opCreate, Path: "role/my app.v2", Body: `{}`}},
		{name: "list", r: req{Op: opList, Path: "role/"}, wantData: `{"keys":["app1","free","local","my app.v2"]}`},
		{name: "delete", r: req{Op: opDelete, Path: "role/APP1"}},
		{name: "read deleted", r: req{Op: opRead, Path: "role/app1"}},
		{name: "delete missing", r: req{Op: opDelete, Path: "role/app1"}},
		{name: "list after delete", r: req{Op: opList, Path: "role"}, wantData: `{"keys":["free","local","my app.v2"]}`},
		{name: "patch unsupported", r: req{Op: logical.PatchOperation, Path: "role/free"}, wantErr: logical.ErrUnsupportedOperation},
	}
	for _, s := range steps {
		before := h.Storage.Snapshot()
		resp, err := h.DoReq(s.r)
		if s.wantErr != nil {
			logicaltest.WantKind(t, s.name, err, s.wantErr)
			h.Unchanged(s.name, before)
			continue
		}
		logicaltest.WantData(t, s.name, s.wantData, resp, err)
	}
}

func TestDeleteRoleRemovesSecretIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.role("doomed", `{}`)
	h.role("other", `{}`)
	sid, _ := h.secretID("doomed", `{}`)
	h.secretID("doomed", `{"num_uses":2}`)
	otherSID, _ := h.secretID("other", `{}`)
	h.MustReq(req{Op: opDelete, Path: "role/doomed"})
	for _, prefix := range []string{secretIDPrefix, accessorPrefix, roleIDPrefix} {
		if got := len(h.storedKeys(prefix)); got != 1 {
			t.Errorf("after deleting a role, %d keys under %q, want 1 (the other role's)", got, prefix)
		}
	}
	_, err := h.login(id, sid, "")
	wantInvalid(t, "login to deleted role", err)
	// A new role with the old name and role ID does not revive old secret IDs.
	h.role("doomed", `{"role_id":"`+id+`"}`)
	_, err = h.login(id, sid, "")
	wantInvalid(t, "login to recreated role with an old secret ID", err)
	if _, err := h.login(h.role("other", `{}`), otherSID, ""); err != nil {
		t.Errorf("login to the other role: %v", err)
	}
}

func TestRoleIDs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idA := h.role("a", `{}`)
	idB := h.role("b", `{}`)
	if !uuid.Valid(idA) || !uuid.Valid(idB) || idA == idB {
		t.Fatalf("default role IDs %q, %q: want two distinct UUIDs", idA, idB)
	}
	// Updating a role keeps its role ID.
	if got := h.role("a", `{"token_ttl":60}`); got != idA {
		t.Errorf("role ID after update = %q, want %q", got, idA)
	}
	sid, _ := h.secretID("a", `{}`)

	steps := []struct {
		name    string
		r       req
		wantErr error
	}{
		{name: "take another role's ID", r: req{Op: opUpdate, Path: "role/b/role-id", Body: `{"role_id":"` + idA + `"}`}, wantErr: logical.ErrConflict},
		{name: "create with another role's ID", r: req{Op: opCreate, Path: "role/c", Body: `{"role_id":"` + idA + `"}`}, wantErr: logical.ErrConflict},
		{name: "update with another role's ID", r: req{Op: opUpdate, Path: "role/b", Body: `{"role_id":"` + idA + `"}`}, wantErr: logical.ErrConflict},
		{name: "empty", r: req{Op: opUpdate, Path: "role/a/role-id", Body: `{"role_id":""}`}, wantErr: logical.ErrInvalidRequest},
		{name: "missing role", r: req{Op: opUpdate, Path: "role/zzz/role-id", Body: `{"role_id":"x"}`}, wantErr: logical.ErrNotFound},
		{name: "set own ID again", r: req{Op: opUpdate, Path: "role/a/role-id", Body: `{"role_id":"` + idA + `"}`}},
		{name: "custom", r: req{Op: opUpdate, Path: "role/a/role-id", Body: `{"role_id":"custom-a"}`}},
	}
	for _, s := range steps {
		before := h.Storage.Snapshot()
		_, err := h.DoReq(s.r)
		if s.wantErr != nil {
			logicaltest.WantKind(t, s.name, err, s.wantErr)
			h.Unchanged(s.name, before)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	logicaltest.DiffJSON(t, "role-id read", `{"role_id":"custom-a"}`, h.MustReq(req{Op: opRead, Path: "role/a/role-id"}))
	if _, err := h.login("custom-a", sid, ""); err != nil {
		t.Errorf("login with the new role ID: %v", err)
	}
	_, err := h.login(idA, sid, "")
	wantInvalid(t, "login with the old role ID", err)
	// The old ID is free again.
	h.MustReq(req{Op: opUpdate, Path: "role/b/role-id", Body: `{"role_id":"` + idA + `"}`})
	if got := len(h.storedKeys(roleIDPrefix)); got != 2 {
		t.Errorf("%d role ID index entries, want 2", got)
	}
	if resp := h.MustReq(req{Op: opRead, Path: "role/zzz/role-id"}); resp != nil {
		t.Errorf("role-id of a missing role = %+v, want none", resp)
	}
}

func TestExistenceCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.role("here", `{}`)
	ec := h.Backend.(logical.ExistenceChecker)
	for path, want := range map[string]bool{"role/here": true, "role/HERE": true, "role/gone": false, "role/a#b": false} {
		exists, handled, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: path})
		if err != nil || !handled || exists != want {
			t.Errorf("ExistenceCheck(%q) = %v, %v, %v, want %v, true, nil", path, exists, handled, err, want)
		}
	}
}

func TestLookaheadAndLoginPaths(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	la := h.Backend.(logical.AliasLookahead)
	tests := []struct {
		path, body string
		want       string
		ok         bool
		wantErr    error
	}{
		{path: "login", body: `{"role_id":"r-1","secret_id":"s"}`, want: "r-1", ok: true},
		{path: "login", body: `{"secret_id":"s"}`},
		{path: "login", body: ``},
		{path: "login", body: `{"role_id":`, wantErr: logical.ErrInvalidRequest},
		{path: "login", body: `{"role_id":"r","x":1}`, want: "r", ok: true},
		{path: "role/a", body: `{"role_id":"r"}`},
	}
	for _, tt := range tests {
		r := &logical.Request{Operation: opUpdate, Path: tt.path}
		if tt.body != "" {
			r.Body = json.RawMessage(tt.body)
		}
		got, err := la.LookaheadAlias(t.Context(), r)
		name, ok := got.Name, got.Name != ""
		if tt.wantErr != nil {
			logicaltest.WantKind(t, "LookaheadAlias("+tt.body+")", err, tt.wantErr)
			continue
		}
		if err != nil || name != tt.want || ok != tt.ok {
			t.Errorf("LookaheadAlias(%q, %s) = %q, %v, %v, want %q, %v, nil", tt.path, tt.body, name, ok, err, tt.want, tt.ok)
		}
	}
	if diff := cmp.Diff([]string{"login"}, h.Backend.(logical.LoginPaths).LoginPaths()); diff != "" {
		t.Errorf("LoginPaths mismatch (-want +got):\n%s", diff)
	}
}

func TestHMACKeyPersists(t *testing.T) {
	t.Parallel()
	env := logicaltest.NewEnv(nil)
	first := &harness{logicaltest.NewHarness(t, Factory, env)}
	id := first.role("r", `{}`)
	sid, _ := first.secretID("r", `{}`)
	salt := first.storedKeys(saltKey)
	if !slices.Equal(salt, []string{saltKey}) {
		t.Fatalf("stored salt keys = %q, want [%q]", salt, saltKey)
	}
	// A second backend on the same storage (a restart) finds the same key.
	second := &harness{logicaltest.NewHarness(t, Factory, env)}
	if _, err := second.login(id, sid, ""); err != nil {
		t.Fatalf("login after restart: %v", err)
	}
	// A corrupt key fails requests rather than silently making a new one.
	if err := env.Storage.Put(t.Context(), &logical.StorageEntry{Key: saltKey, Value: []byte("short")}); err != nil {
		t.Fatal(err)
	}
	b, err := Factory(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.(logical.Initializer).Initialize(t.Context()); err == nil {
		t.Error("Initialize with a corrupt HMAC key = nil, want error")
	}
}
