package policies

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/router"
)

// maxTestPaths bounds the paths one sys/policies/test request evaluates.
const maxTestPaths = 100

// testInput is the body of sys/policies/test: a policy text or the names
// of stored policies, and the paths to evaluate.
type testInput struct {
	Policy string                 `json:"policy"`
	Names  framework.CommaStrings `json:"names"`
	Path   string                 `json:"path"`
	Paths  framework.CommaStrings `json:"paths"`
}

// testOutput is sys/policies/test's answer: each path's capabilities as
// sys/capabilities reports them, and whether templated rules were left
// out (no entity to resolve them for).
type testOutput struct {
	Capabilities     map[string][]string `json:"capabilities"`
	TemplatedSkipped bool                `json:"templated_skipped"`
}

// test evaluates a policy text (parsed as a write would parse it, so
// its errors are the write's) or a set of stored policies on paths,
// without storing anything. Stored policies are evaluated only when the
// caller may read each of them; a policy text's templated rules are
// resolved for the caller's entity, stored policies' are left out.
func (a *API) test(ctx context.Context, req *logical.Request, m *framework.Match, in *testInput) (*logical.Response, error) {
	paths := slices.Clone([]string(in.Paths))
	if in.Path != "" {
		paths = append(paths, in.Path)
	}
	switch {
	case len(paths) == 0:
		return nil, logical.InvalidRequest("missing path or paths: the paths to evaluate")
	case len(paths) > maxTestPaths:
		return nil, logical.InvalidRequest("too many paths: at most %d per request", maxTestPaths)
	case (strings.TrimSpace(in.Policy) == "") == (len(in.Names) == 0):
		return nil, logical.InvalidRequest("send exactly one of policy (an HCL or JSON policy text) and names (stored policies)")
	}
	clean := make([]string, len(paths))
	for i, p := range paths {
		cp, err := router.CleanPath(strings.TrimPrefix(p, "/"))
		if err != nil {
			return nil, err
		}
		clean[i] = cp
	}
	callerNames, entityID, err := a.opts.Core.CallerPolicies(ctx)
	if err != nil {
		return nil, err
	}
	var acl *policy.ACL
	out := testOutput{Capabilities: make(map[string][]string, len(paths))}
	if len(in.Names) > 0 {
		caller := a.opts.Store.EntityACL(callerNames, entityID, a.opts.Core.Entities())
		names := make([]string, 0, len(in.Names))
		for _, n := range in.Names {
			n, err := normalizePolicyName(n)
			if err != nil {
				return nil, err
			}
			caps := caller.Capabilities("sys/policies/acl/" + n)
			if !slices.Contains(caps, "read") && !slices.Contains(caps, policy.RootPolicyName) {
				return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: fmt.Sprintf("permission denied: testing policy %q needs read on sys/policies/acl/%s", n, n)}
			}
			if !a.opts.Store.Exists(n) {
				return nil, logical.InvalidRequest("no policy named %q", n)
			}
			if pol, ok := a.opts.Store.Policy(n); ok && pol.Templated() {
				out.TemplatedSkipped = true
			}
			names = append(names, n)
		}
		acl = a.opts.Store.ACL(names)
	} else {
		pol, err := policy.Parse("test", in.Policy)
		if err != nil {
			return nil, logical.InvalidRequest("failed to parse policy: %s", err.Error())
		}
		pols := []*policy.Policy{pol}
		if pol.Templated() {
			ents := a.opts.Core.Entities()
			if entityID != "" && ents != nil {
				id, _ := ents.Identity(entityID)
				pols = policy.ResolveAll(pols, id)
			} else {
				out.TemplatedSkipped = true
			}
		}
		acl = policy.NewACL(pols)
	}
	for i, p := range paths {
		out.Capabilities[p] = acl.Capabilities(clean[i])
	}
	return &logical.Response{Data: out}, nil
}
