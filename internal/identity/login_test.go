package identity

import (
	"errors"
	"regexp"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestLoginEntity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	login := func(acc, name string, md map[string]string) (string, error) {
		return h.s.LoginEntity(ctx, acc, "userpass", logical.Alias{Name: name, Metadata: md})
	}

	id, err := login(accUserpass, "alice", map[string]string{"team": "a"})
	if err != nil {
		t.Fatalf("first login: %v", err)
	}
	e, err := h.s.Entity(ctx, id)
	if err != nil {
		t.Fatalf("Entity(%s): %v", id, err)
	}
	if !regexp.MustCompile(`^entity_[0-9a-f]{8}$`).MatchString(e.Name) {
		t.Errorf("created entity name = %q, want entity_ and 8 hex digits", e.Name)
	}
	h.vars["e"] = id

	before := h.Storage.Counts()
	again, err := login(accUserpass, "alice", map[string]string{"team": "a"})
	if err != nil || again != id {
		t.Fatalf("second login = %q, %v, want %q", again, err, id)
	}
	if c := h.Storage.Counts(); c.Txns != before.Txns || c.Puts != before.Puts {
		t.Errorf("an unchanged login wrote to storage: %+v -> %+v", before, c)
	}

	tests := []struct {
		name    string
		acc     string
		alias   string
		md      map[string]string
		sameAs  string // "e" for the first entity, "" for a new one
		wantErr error
	}{
		{name: "metadata change updates the alias", acc: accUserpass, alias: "alice", md: map[string]string{"team": "b"}, sameAs: "e"},
		{name: "same name on another mount is another entity", acc: accApprole, alias: "alice"},
		{name: "another name is another entity", acc: accUserpass, alias: "bob"},
		{name: "no accessor", acc: "", alias: "x", wantErr: logical.ErrInvalidRequest},
		{name: "no name", acc: accUserpass, alias: "", wantErr: logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		got, err := login(tt.acc, tt.alias, tt.md)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: error = %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if (got == id) != (tt.sameAs == "e") {
			t.Errorf("%s: entity %q, first entity %q, want same = %v", tt.name, got, id, tt.sameAs == "e")
		}
	}
	h.check(t, opRead, "entity/id/{e}", h.mustResp(opRead, "entity/id/{e}"), `{"aliases":[{
		"id":"{aliasid}","canonical_id":"{e}","name":"alice","mount_accessor":"`+accUserpass+`","mount_path":"auth/userpass/",
		"mount_type":"userpass","metadata":{"team":"b"},"custom_metadata":null,"merged_from_canonical_ids":[],"local":false,
		"namespace_id":"","creation_time":"2025-01-02T03:04:05Z","last_update_time":"2025-01-02T03:04:05Z"}]}`)

	// A disabled entity cannot log in, and the refusal changes nothing.
	h.must(opUpdate, "entity/id/{e}", `{"disabled":true}`)
	before = h.Storage.Counts()
	if _, err := login(accUserpass, "alice", map[string]string{"team": "c"}); !errors.Is(err, logical.ErrPermissionDenied) {
		t.Errorf("login of a disabled entity: error = %v, want ErrPermissionDenied", err)
	}
	if c := h.Storage.Counts(); c.Txns != before.Txns {
		t.Errorf("a refused login wrote to storage")
	}
	h.must(opUpdate, "entity/id/{e}", `{"disabled":false}`)
	if got, err := login(accUserpass, "alice", nil); err != nil || got != id {
		t.Errorf("login after re-enabling = %q, %v, want %q", got, err, id)
	}

	// Entity of an unknown ID.
	if _, err := h.s.Entity(ctx, "nope"); !errors.Is(err, logical.ErrNotFound) {
		t.Errorf("Entity(nope) error = %v, want ErrNotFound", err)
	}
	// Entity returns a copy.
	e, _ = h.s.Entity(ctx, id)
	e.Name = "changed"
	if e2, _ := h.s.Entity(ctx, id); e2.Name == "changed" {
		t.Error("Entity returned the stored record, not a copy")
	}
}

// mustResp is must without decoding.
func (h *harness) mustResp(op logical.Operation, path string) *logical.Response {
	h.T.Helper()
	resp, err := h.do(op, path, "")
	if err != nil {
		h.T.Fatalf("%s %s: %v", op, path, err)
	}
	if a, ok := fields(h.T, resp)["aliases"].([]any); ok && len(a) == 1 {
		h.vars["aliasid"], _ = a[0].(map[string]any)["id"].(string)
	}
	return resp
}

// TestLoginEntityConcurrent logs the same new alias in from 32 goroutines:
// exactly one entity must be created and all must get its ID.
func TestLoginEntityConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const n = 32
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			ids[i], errs[i] = h.s.LoginEntity(t.Context(), accUserpass, "userpass", logical.Alias{Name: "carol", Metadata: map[string]string{"n": "1"}})
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("login %d = %q, %v, want %q", i, ids[i], errs[i], ids[0])
		}
	}
	got := h.must(opList, "entity/id", "")
	if diff := cmp.Diff([]any{ids[0]}, got["keys"]); diff != "" {
		t.Errorf("entities after concurrent logins (-want +got):\n%s", diff)
	}
	got = h.must(opList, "entity-alias/id", "")
	if keys, _ := got["keys"].([]any); len(keys) != 1 {
		t.Errorf("aliases after concurrent logins = %v, want one", got["keys"])
	}
}

// TestDeleteEntityCascades deletes an entity with aliases on two mounts
// and membership in two groups, and checks that one transaction removed
// the aliases and the memberships.
func TestDeleteEntityCascades(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	id, err := h.s.LoginEntity(ctx, accUserpass, "userpass", logical.Alias{Name: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	h.vars["e"] = id
	h.create("keep", "entity", `{"name":"keep"}`)
	h.create("a2", "entity-alias", `{"name":"role-d","mount_accessor":"`+accApprole+`","canonical_id":"{e}"}`)
	h.create("g1", "group", `{"name":"g1","policies":["p1"],"member_entity_ids":["{e}","{keep}"]}`)
	h.create("g2", "group", `{"name":"g2","member_entity_ids":["{e}"],"member_group_ids":["{g1}"]}`)

	before := h.Storage.Counts()
	h.must(opDelete, "entity/id/{e}", "")
	if c := h.Storage.Counts(); c.Txns-before.Txns != 1 {
		t.Errorf("delete used %d transactions, want 1", c.Txns-before.Txns)
	}

	h.run(t, []step{
		{name: "entity gone", op: opRead, path: "entity/id/{e}", want: "null"},
		{name: "api alias gone", op: opRead, path: "entity-alias/id/{a2}", want: "null"},
		{name: "no aliases left", op: opList, path: "entity-alias/id", want: "null"},
		{name: "left g1", op: opRead, path: "group/id/{g1}", want: `{"member_entity_ids":["{keep}"],"parent_group_ids":["{g2}"]}`},
		{name: "left g2", op: opRead, path: "group/id/{g2}", want: `{"member_entity_ids":[],"member_group_ids":["{g1}"]}`},
		{name: "lookup by alias finds nothing", op: opUpdate, path: "lookup/entity", body: `{"alias_name":"dave","alias_mount_accessor":"` + accUserpass + `"}`, want: "null"},
		{name: "alias name reusable", op: opUpdate, path: "entity-alias", body: `{"name":"role-d","mount_accessor":"` + accApprole + `","canonical_id":"{keep}"}`},
	})
	// Storage agrees with memory: a fresh store sees the same.
	h.use(newStore(t, h.Storage))
	h.run(t, []step{
		{name: "reloaded entity gone", op: opRead, path: "entity/id/{e}", want: "null"},
		{name: "reloaded g1", op: opRead, path: "group/id/{g1}", want: `{"member_entity_ids":["{keep}"],"parent_group_ids":["{g2}"]}`},
	})
	// A new login with the old alias makes a new entity.
	again, err := h.s.LoginEntity(ctx, accUserpass, "userpass", logical.Alias{Name: "dave"})
	if err != nil || again == id {
		t.Errorf("login after delete = %q, %v, want a new entity", again, err)
	}
	// Deleting a mount's aliases.
	if err := h.s.DeleteMountAliases(ctx, accApprole); err != nil {
		t.Fatal(err)
	}
	h.run(t, []step{
		{name: "mount aliases gone", op: opUpdate, path: "lookup/entity", body: `{"alias_name":"role-d","alias_mount_accessor":"` + accApprole + `"}`, want: "null"},
		{name: "other mount kept", op: opUpdate, path: "lookup/entity", body: `{"alias_name":"dave","alias_mount_accessor":"` + accUserpass + `"}`, want: `{"id":"` + again + `"}`},
	})
}

func TestLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("e", "entity", `{"name":"erin"}`)
	h.create("a", "entity-alias", `{"name":"erin-up","mount_accessor":"`+accUserpass+`","canonical_id":"{e}"}`)
	h.create("g", "group", `{"name":"grp"}`)
	h.run(t, []step{
		{name: "entity by name", op: opUpdate, path: "lookup/entity", body: `{"name":"erin"}`, want: `{"id":"{e}","name":"erin"}`},
		{name: "entity by id", op: opUpdate, path: "lookup/entity", body: `{"id":"{e}"}`, want: `{"name":"erin"}`},
		{name: "entity by alias id", op: opUpdate, path: "lookup/entity", body: `{"alias_id":"{a}"}`, want: `{"id":"{e}"}`},
		{name: "entity by alias name", op: opUpdate, path: "lookup/entity", body: `{"alias_name":"erin-up","alias_mount_accessor":"` + accUserpass + `"}`, want: `{"id":"{e}"}`},
		{name: "alias name on another mount", op: opUpdate, path: "lookup/entity", body: `{"alias_name":"erin-up","alias_mount_accessor":"` + accApprole + `"}`, want: "null"},
		{name: "entity missing", op: opUpdate, path: "lookup/entity", body: `{"name":"nobody"}`, want: "null"},
		{name: "entity missing id", op: opUpdate, path: "lookup/entity", body: `{"id":"nope"}`, want: "null"},
		{name: "no criterion", op: opUpdate, path: "lookup/entity", body: `{}`, wantErr: logical.ErrInvalidRequest},
		{name: "two criteria", op: opUpdate, path: "lookup/entity", body: `{"name":"erin","id":"{e}"}`, wantErr: logical.ErrInvalidRequest},
		{name: "alias name without accessor", op: opUpdate, path: "lookup/entity", body: `{"alias_name":"erin-up"}`, wantErr: logical.ErrInvalidRequest},
		{name: "accessor without alias name", op: opUpdate, path: "lookup/entity", body: `{"alias_mount_accessor":"x","name":"erin"}`, wantErr: logical.ErrInvalidRequest},
		{name: "read unsupported", op: opRead, path: "lookup/entity", wantErr: logical.ErrUnsupportedOperation},
		{name: "group by name", op: opUpdate, path: "lookup/group", body: `{"name":"grp"}`, want: `{"id":"{g}","name":"grp"}`},
		{name: "group by id", op: opUpdate, path: "lookup/group", body: `{"id":"{g}"}`, want: `{"name":"grp"}`},
		{name: "group by alias finds nothing", op: opUpdate, path: "lookup/group", body: `{"alias_id":"x"}`, want: "null"},
		{name: "group missing", op: opUpdate, path: "lookup/group", body: `{"name":"nope"}`, want: "null"},
		{name: "group two criteria", op: opUpdate, path: "lookup/group", body: `{"name":"grp","id":"{g}"}`, wantErr: logical.ErrInvalidRequest},
	})
}

func TestExistenceCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.create("e", "entity", `{"name":"erin"}`)
	h.create("g", "group", `{"name":"grp"}`)
	h.create("a", "entity-alias", `{"name":"erin","mount_accessor":"`+accUserpass+`","canonical_id":"{e}"}`)
	tests := []struct {
		path                 string
		wantExists, wantKnow bool
	}{
		{path: "entity/id/{e}", wantExists: true, wantKnow: true},
		{path: "entity/id/nope", wantKnow: true},
		{path: "entity/name/erin", wantExists: true, wantKnow: true},
		{path: "entity/name/nope", wantKnow: true},
		{path: "entity-alias/id/{a}", wantExists: true, wantKnow: true},
		{path: "group/id/{g}", wantExists: true, wantKnow: true},
		{path: "group/name/grp", wantExists: true, wantKnow: true},
		{path: "group/name/nope", wantKnow: true},
		{path: "entity", wantKnow: false},
	}
	for _, tt := range tests {
		exists, known, err := h.s.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: h.expand(tt.path)})
		if err != nil || exists != tt.wantExists || known != tt.wantKnow {
			t.Errorf("ExistenceCheck(%s) = %v, %v, %v, want %v, %v", tt.path, exists, known, err, tt.wantExists, tt.wantKnow)
		}
	}
}
