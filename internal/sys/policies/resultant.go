package policies

import (
	"context"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// resultantPerm is one path's merged capabilities in the resultant ACL.
type resultantPerm struct {
	Capabilities []string `json:"capabilities"`
}

// resultantOutput is sys/internal/ui/resultant-acl's answer, in Vault's
// shape: exact paths, and glob paths keyed without their trailing "*".
type resultantOutput struct {
	ExactPaths map[string]resultantPerm `json:"exact_paths"`
	GlobPaths  map[string]resultantPerm `json:"glob_paths"`
	Root       bool                     `json:"root"`
}

// resultantACL answers the caller's own ACL: every rule of its policies
// (with its entity's), templated rules resolved for its entity, merged by
// path as the request pipeline merges them. The default policy lets every
// token read it, as Vault's does; it never names another token's access.
func (a *API) resultantACL(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	names, entityID, err := a.opts.Core.CallerPolicies(ctx)
	if err != nil {
		return nil, err
	}
	out := resultantOutput{ExactPaths: map[string]resultantPerm{}, GlobPaths: map[string]resultantPerm{}}
	if slices.Contains(names, policy.RootPolicyName) {
		out.Root = true
		return &logical.Response{Data: out}, nil
	}
	pols := make([]*policy.Policy, 0, len(names))
	for _, n := range names {
		if p, ok := a.opts.Store.Policy(n); ok {
			pols = append(pols, p)
		}
	}
	if ents := a.opts.Core.Entities(); entityID != "" && ents != nil {
		id, _ := ents.Identity(entityID)
		pols = policy.ResolveAll(pols, id)
	}
	byPath := map[string][]policy.Rule{}
	var order []string
	for _, p := range pols {
		for _, r := range p.Rules {
			if r.Templated() {
				continue // unresolved: grants nothing
			}
			key := strings.TrimLeft(r.Path, "/")
			if _, seen := byPath[key]; !seen {
				order = append(order, key)
			}
			byPath[key] = append(byPath[key], r)
		}
	}
	for _, key := range order {
		r := policy.MergeRules(byPath[key])
		perm := resultantPerm{Capabilities: r.Capabilities.Strings()}
		if perm.Capabilities == nil {
			perm.Capabilities = []string{}
		}
		if glob, ok := strings.CutSuffix(key, "*"); ok {
			out.GlobPaths[glob] = perm
		} else {
			out.ExactPaths[key] = perm
		}
	}
	return &logical.Response{Data: out}, nil
}
