package access

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/policy"
)

// directory has two entities; alice is in group inner, and so in outer.
func directory() *Directory {
	return &Directory{
		Entities: []Entity{
			{
				ID: "e-alice", Name: "alice", Metadata: map[string]string{"team": "red"},
				Aliases:  []Alias{{ID: "al-1", Name: "alice@example", MountAccessor: "auth_jwt_1", Metadata: map[string]string{"sub": "s1"}, CustomMetadata: map[string]string{"dept": "eng"}}},
				GroupIDs: []string{"g-inner", "g-outer"},
			},
			{ID: "e-bob", Name: "bob", GroupIDs: []string{"g-missing"}},
		},
		Groups: []Group{
			{ID: "g-inner", Name: "inner", Metadata: map[string]string{"env": "dev"}},
			{ID: "g-outer", Name: "outer"},
		},
	}
}

func TestForEntity(t *testing.T) {
	t.Parallel()
	ps := []*policy.Policy{
		mustParse(t, "own", `
path "secret/data/{{identity.entity.name}}/*" { capabilities = ["read"] }
path "secret/data/shared" { capabilities = ["read"] }`),
		mustParse(t, "team", `path "secret/data/team/{{identity.entity.metadata.team}}" { capabilities = ["read"] }`),
		mustParse(t, "alias", `path "secret/data/jwt/{{identity.entity.aliases.auth_jwt_1.custom_metadata.dept}}" { capabilities = ["read"] }`),
		mustParse(t, "group", `path "secret/data/env/{{identity.groups.names.inner.metadata.env}}/{{identity.groups.ids.g-outer.name}}" { capabilities = ["read"] }`),
		mustParse(t, "plain", `path "secret/data/alice/db" { capabilities = ["deny"] }`),
	}
	x := NewIndex(ps)
	ids := NewIdentities(directory())
	if ids.Of("nobody") != nil {
		t.Error("Of(unknown entity) is not nil")
	}
	tests := []struct {
		entity, path string
		grants       []string
		denies       []string
	}{
		{"e-alice", "secret/data/alice/x", []string{"own:secret/data/alice/*"}, nil},
		{"e-alice", "secret/data/alice/db", []string{"own:secret/data/alice/*"}, []string{"plain:secret/data/alice/db"}},
		{"e-alice", "secret/data/bob/x", nil, nil},
		{"e-bob", "secret/data/bob/x", []string{"own:secret/data/bob/*"}, nil},
		{"e-alice", "secret/data/team/red", []string{"team:secret/data/team/red"}, nil},
		{"e-bob", "secret/data/team/red", nil, nil}, // bob has no team
		{"e-alice", "secret/data/jwt/eng", []string{"alias:secret/data/jwt/eng"}, nil},
		{"e-alice", "secret/data/env/dev/outer", []string{"group:secret/data/env/dev/outer"}, nil},
		{"e-bob", "secret/data/env/dev/outer", nil, nil},
		{"e-bob", "secret/data/shared", []string{"own:secret/data/shared"}, nil},
		{"nobody", "secret/data/shared", []string{"own:secret/data/shared"}, nil},
	}
	for _, tt := range tests {
		a := x.ForEntity(ids.Of(tt.entity)).Who(tt.path, policy.CapRead)
		if len(a.Templated) != 0 {
			t.Errorf("%s %s: Templated = %q after resolving", tt.entity, tt.path, a.Templated)
		}
		if got := strings.Join(names(a.Grants), ","); got != strings.Join(tt.grants, ",") {
			t.Errorf("%s %s: grants = %q, want %q", tt.entity, tt.path, got, tt.grants)
		}
		if got := strings.Join(names(a.Denies), ","); got != strings.Join(tt.denies, ",") {
			t.Errorf("%s %s: denies = %q, want %q", tt.entity, tt.path, got, tt.denies)
		}
	}
	// Unresolved, the templated policies are reported, not indexed.
	a := x.Who("secret/data/alice/x", policy.CapRead)
	if got := strings.Join(a.Templated, ","); got != "alias,group,own,team" || len(a.Grants) != 0 {
		t.Errorf("unresolved: Templated = %q, Grants = %q", got, names(a.Grants))
	}
	// An index without templates is its own resolution.
	plain := NewIndex(ps[4:])
	if plain.ForEntity(ids.Of("e-alice")) != plain {
		t.Error("ForEntity rebuilt an index without templates")
	}
}

// templatedSegs are the rule path segments of the property test: the
// entities below resolve them to one of segs' names, or not at all.
var templatedSegs = []string{
	"{{identity.entity.name}}",
	"{{identity.entity.metadata.m}}",
	"{{identity.entity.aliases.acc.name}}",
	"{{identity.groups.names.g.id}}",
	"x{{identity.entity.id}}",
}

// testIdentities resolve templatedSegs to names that randomPath uses.
var testIdentities = []*policy.Identity{
	nil,
	{EntityID: "1", EntityName: "a", Metadata: map[string]string{"m": "b"}, Aliases: []policy.IdentityAlias{{MountAccessor: "acc", Name: "ab"}}, Groups: []policy.IdentityGroup{{ID: "a", Name: "g"}}},
	{EntityID: "2", EntityName: "ab", Metadata: map[string]string{"m": "*"}},
	{EntityID: "", EntityName: "b", Metadata: map[string]string{"m": "a/b"}, Aliases: []policy.IdentityAlias{{MountAccessor: "acc", Name: "+"}}},
}

// TestForEntityAgreesWithACL is the property test of templated policies:
// for random policy sets with templated rules, entities and paths, the
// answer of the index resolved for an entity decides every subset of the
// policies as the ACL core builds for a token of that entity.
func TestForEntityAgreesWithACL(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(15, 2026))
	ops := []string{"create", "read", "update", "delete", "list"}
	var allowed, refused, resolved int
	for iter := range 20 {
		ps := randomPolicies(rng, 4)
		for _, p := range ps {
			for i := range p.Rules {
				if rng.IntN(2) == 0 {
					segs := strings.Split(p.Rules[i].Path, "/")
					j := rng.IntN(len(segs))
					if segs[j] != "" && !strings.HasSuffix(segs[j], "*") {
						segs[j] = templatedSegs[rng.IntN(len(templatedSegs))]
					}
					p.Rules[i].Path = strings.Join(segs, "/")
				}
			}
		}
		x := NewIndex(ps)
		for _, id := range testIdentities {
			y := x.ForEntity(id)
			for range 6 {
				path := randomPath(rng)
				for _, op := range ops {
					a := y.Who(path, policy.OperationCapability(op))
					unresolved := x.Who(path, policy.OperationCapability(op))
					for mask := range 1 << len(ps) {
						var subset []*policy.Policy
						var subNames []string
						for i, p := range ps {
							if mask&(1<<i) != 0 {
								subset = append(subset, p)
								subNames = append(subNames, p.Name)
							}
						}
						got := a.For(subNames)
						want := policy.NewACL(policy.ResolveAll(subset, id)).Check(policy.Request{Path: path, Operation: op})
						// As in TestForAgreesWithACL: Check has no parameters
						// to offer, For reports required ones as a condition.
						needsParams := op != "read" && op != "list" && op != "delete" && len(got.Rule.RequiredParameters) > 0
						if (got.Allowed && !needsParams) != want.Allowed || got.Rule.Capabilities != want.Capabilities || got.DependsOnEntity {
							t.Fatalf("iteration %d, entity %+v: %s %q with %q: For = %+v, ACL.Check = %+v\npolicies: %s",
								iter, id, op, path, subNames, got, want, dump(ps))
						}
						if unresolved.For(subNames).Allowed != got.Allowed {
							resolved++ // a template decided
						}
						if want.Allowed {
							allowed++
						} else {
							refused++
						}
					}
				}
			}
		}
	}
	if allowed < 500 || refused < 500 || resolved < 50 {
		t.Fatalf("generator too narrow: %d allowed, %d refused, %d decided by a template", allowed, refused, resolved)
	}
	t.Logf("%d allowed, %d refused decisions agree; %d decided by a template", allowed, refused, resolved)
}
