package identity

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TestSnapshot checks one snapshot field by field: nested and external
// groups expanded, aliases with their mount, group parents and aliases.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := t.Context()
	h.create("alice", "entity", `{"name":"alice","policies":["own"],"metadata":{"team":"pay"}}`)
	h.create("aliceAlias", "entity-alias", `{"name":"alice","mount_accessor":"`+accUserpass+`","canonical_id":"{alice}","custom_metadata":{"k":"v"}}`)
	h.create("bob", "entity", `{"name":"bob","disabled":true}`)
	h.create("devs", "group", `{"name":"devs","type":"external","policies":["dev"]}`)
	h.create("devsAlias", "group-alias", `{"name":"developers","mount_accessor":"`+accApprole+`","canonical_id":"{devs}"}`)
	h.create("leaf", "group", `{"name":"leaf","policies":["leaf"],"member_entity_ids":["{alice}"]}`)
	h.create("mid", "group", `{"name":"mid","policies":["mid","leaf"],"member_group_ids":["{leaf}","{devs}"]}`)
	h.create("top", "group", `{"name":"top","policies":["top"],"member_group_ids":["{mid}"],"member_entity_ids":["{bob}"]}`)
	carol, err := h.s.LoginEntity(ctx, accApprole, "approle", logical.Alias{Name: "role-carol"})
	if err != nil {
		t.Fatal(err)
	}
	h.vars["carol"] = carol
	if err := h.s.LoginGroups(ctx, accApprole, carol, []string{"developers"}); err != nil {
		t.Fatal(err)
	}

	got := h.s.Snapshot()
	v := h.vars
	sorted := func(s ...string) []string { return slices.Sorted(slices.Values(s)) }
	wantEntities := map[string]EntityInfo{
		"alice": {ID: v["alice"], Name: "alice", Policies: []string{"own"}, Metadata: map[string]string{"team": "pay"},
			Aliases: []AliasInfo{{ID: v["aliceAlias"], Name: "alice", MountAccessor: accUserpass, MountPath: "auth/userpass/",
				CustomMetadata: map[string]string{"k": "v"}}},
			GroupIDs:         sorted(v["leaf"], v["mid"], v["top"]),
			IdentityPolicies: []string{"leaf", "mid", "own", "top"}},
		"bob": {ID: v["bob"], Name: "bob", Disabled: true, Policies: []string{}, GroupIDs: []string{v["top"]}, IdentityPolicies: []string{"top"}},
	}
	for _, e := range got.Entities {
		if e.ID == carol {
			if want := sorted(v["devs"], v["mid"], v["top"]); !cmp.Equal(e.GroupIDs, want) {
				t.Errorf("carol's groups = %v, want %v", e.GroupIDs, want)
			}
			if want := []string{"dev", "leaf", "mid", "top"}; !cmp.Equal(e.IdentityPolicies, want) {
				t.Errorf("carol's policies = %v, want %v", e.IdentityPolicies, want)
			}
			if len(e.Aliases) != 1 || e.Aliases[0].Name != "role-carol" || e.Aliases[0].MountPath != "auth/approle/" {
				t.Errorf("carol's aliases = %+v", e.Aliases)
			}
			continue
		}
		if diff := cmp.Diff(wantEntities[e.Name], e); diff != "" {
			t.Errorf("entity %s (-want +got):\n%s", e.Name, diff)
		}
	}
	if len(got.Entities) != 3 {
		t.Errorf("%d entities, want 3", len(got.Entities))
	}
	wantGroups := map[string]GroupInfo{
		"devs": {ID: v["devs"], Name: "devs", Type: "external", Policies: []string{"dev"}, MemberEntityIDs: []string{carol},
			ParentGroupIDs: []string{v["mid"]}, AliasName: "developers", AliasMountAccessor: accApprole},
		"leaf": {ID: v["leaf"], Name: "leaf", Type: "internal", Policies: []string{"leaf"}, MemberEntityIDs: []string{v["alice"]}, ParentGroupIDs: []string{v["mid"]}},
		"mid":  {ID: v["mid"], Name: "mid", Type: "internal", Policies: []string{"leaf", "mid"}, MemberEntityIDs: []string{}, ParentGroupIDs: []string{v["top"]}},
		"top":  {ID: v["top"], Name: "top", Type: "internal", Policies: []string{"top"}, MemberEntityIDs: []string{v["bob"]}, ParentGroupIDs: []string{}},
	}
	for _, g := range got.Groups {
		if diff := cmp.Diff(wantGroups[g.Name], g); diff != "" {
			t.Errorf("group %s (-want +got):\n%s", g.Name, diff)
		}
	}
	if len(got.Groups) != len(wantGroups) {
		t.Errorf("%d groups, want %d", len(got.Groups), len(wantGroups))
	}
}

// TestSnapshotPoliciesMatchPipeline builds random nested groups and checks
// that every enabled entity's IdentityPolicies are what Policies (which
// the request pipeline uses) returns, and its GroupIDs the transitive
// closure of its memberships.
func TestSnapshotPoliciesMatchPipeline(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 1))
			h := newHarness(t)
			const nEntities, nGroups = 12, 15
			entities := make([]string, nEntities)
			for i := range entities {
				entities[i] = h.create(fmt.Sprint("e", i), "entity", fmt.Sprintf(`{"name":"e%d","policies":["own%d"]}`, i, i%3))
			}
			groups := make([]string, nGroups)
			direct := map[string][]string{} // entity or group ID -> groups it is a direct member of
			for i := range groups {
				var members, subgroups []string
				for _, e := range entities {
					if r.IntN(5) == 0 {
						members = append(members, `"`+e+`"`)
					}
				}
				for _, g := range groups[:i] { // earlier groups only: no cycle
					if r.IntN(4) == 0 {
						subgroups = append(subgroups, `"`+g+`"`)
					}
				}
				id := h.create(fmt.Sprint("g", i), "group", fmt.Sprintf(`{"name":"g%d","policies":["p%d","shared"],"member_entity_ids":[%s],"member_group_ids":[%s]}`,
					i, i, strings.Join(members, ","), strings.Join(subgroups, ",")))
				groups[i] = id
				for _, m := range slices.Concat(members, subgroups) {
					m = strings.Trim(m, `"`)
					direct[m] = append(direct[m], id)
				}
			}
			closure := func(id string) []string {
				seen := map[string]bool{}
				queue := slices.Clone(direct[id])
				for len(queue) > 0 {
					g := queue[0]
					queue = queue[1:]
					if !seen[g] {
						seen[g] = true
						queue = append(queue, direct[g]...)
					}
				}
				out := []string{}
				for g := range seen {
					out = append(out, g)
				}
				slices.Sort(out)
				return out
			}
			snap := h.s.Snapshot()
			if len(snap.Entities) != nEntities || len(snap.Groups) != nGroups {
				t.Fatalf("snapshot has %d entities and %d groups", len(snap.Entities), len(snap.Groups))
			}
			for _, e := range snap.Entities {
				want, err := h.s.Policies(t.Context(), e.ID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, e.IdentityPolicies, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("entity %s: snapshot policies differ from Policies (-pipeline +snapshot):\n%s", e.Name, diff)
				}
				if diff := cmp.Diff(closure(e.ID), e.GroupIDs, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("entity %s: groups (-closure +snapshot):\n%s", e.Name, diff)
				}
			}
		})
	}
}
