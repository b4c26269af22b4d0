package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCandidates(t *testing.T) {
	acl := NewACL([]*Policy{mustParse(t, "a", `
path "secret/*"          { capabilities = ["read"] }
path "secret/app"        { capabilities = ["list"] }
path "secret/app/*"      { capabilities = ["deny"] }
path "secret/+/config"   { capabilities = ["update"] }
path "secret/+/c*"       { capabilities = ["create"] }
path "+/app/config"      { capabilities = ["delete"] }
path "secret/app/config" { capabilities = ["patch"] }
`)})
	for _, tc := range []struct {
		path string
		list bool
		want []string
	}{
		{"secret/app/config", false, []string{"secret/app/config", "secret/app/*", "secret/+/config", "secret/*", "secret/+/c*", "+/app/config"}},
		{"/secret/app/config", false, []string{"secret/app/config", "secret/app/*", "secret/+/config", "secret/*", "secret/+/c*", "+/app/config"}},
		{"secret/app/", true, []string{"secret/app", "secret/*", "secret/app/*"}},
		{"secret/app/", false, []string{"secret/app/*", "secret/*"}},
		{"secret/other", false, []string{"secret/*"}},
		{"kv/x", false, nil},
	} {
		if got := acl.Candidates(tc.path, tc.list); !slices.Equal(got, tc.want) {
			t.Errorf("Candidates(%q, %v) = %q, want %q", tc.path, tc.list, got, tc.want)
		}
		// The first candidate is the rule Check uses.
		op := "read"
		if tc.list {
			op = "list"
		}
		d := acl.Check(Request{Path: tc.path, Operation: op})
		if len(tc.want) == 0 && d.Capabilities != 0 {
			t.Errorf("Check(%q) = %+v, but there is no candidate", tc.path, d)
		}
	}
	if got := NewACL([]*Policy{{Name: RootPolicyName}}).Candidates("a", false); got != nil {
		t.Errorf("root Candidates = %q, want nil", got)
	}
	if got := (*ACL)(nil).Candidates("a", false); got != nil {
		t.Errorf("nil Candidates = %q, want nil", got)
	}
}

func TestMergeRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []Rule
		want  Rule
	}{
		{"none", nil, Rule{}},
		{"one", []Rule{{Path: "/a", Capabilities: CapRead, MinWrappingTTL: time.Minute}},
			Rule{Path: "a", Capabilities: CapRead, MinWrappingTTL: time.Minute}},
		{"union and smaller ttls", []Rule{
			{Path: "a", Capabilities: CapRead, MaxWrappingTTL: time.Hour, RequiredParameters: []string{"X"}},
			{Path: "a", Capabilities: CapList, MaxWrappingTTL: time.Minute, MinWrappingTTL: time.Second, RequiredParameters: []string{"x", "y"}},
		}, Rule{Path: "a", Capabilities: CapRead | CapList, MinWrappingTTL: time.Second, MaxWrappingTTL: time.Minute, RequiredParameters: []string{"x", "y"}}},
		{"params", []Rule{
			{Path: "a", Capabilities: CapUpdate, AllowedParameters: map[string][]any{"K": {"v1"}, "any": {}}},
			{Path: "a", Capabilities: CapUpdate, AllowedParameters: map[string][]any{"k": {"v2"}, "any": {"z"}}, DeniedParameters: map[string][]any{"d": {}}},
		}, Rule{Path: "a", Capabilities: CapUpdate,
			AllowedParameters: map[string][]any{"k": {"v1", "v2"}, "any": {}},
			DeniedParameters:  map[string][]any{"d": {}}}},
		{"deny wins", []Rule{
			{Path: "a", Capabilities: CapRead, MinWrappingTTL: time.Minute},
			{Path: "a", Capabilities: CapDeny},
			{Path: "a", Capabilities: CapList},
		}, Rule{Path: "a", Capabilities: CapDeny}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, MergeRules(tc.rules)); diff != "" {
				t.Errorf("MergeRules() (-want +got):\n%s", diff)
			}
		})
	}
}
