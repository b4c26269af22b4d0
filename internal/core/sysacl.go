package core

import (
	"context"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/token"
)

// aclPaths are the sys/ endpoints for policies, capabilities and lockouts.
func (c *Core) aclPaths() []*framework.Path {
	h := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	return []*framework.Path{
		{Pattern: `policy/?`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysPolicyList, logical.ListOperation: c.sysPolicyKeys}), Synopsis: "List ACL policies.", TopLevel: true},
		{Pattern: `policy/(?P<name>.+)`, Operations: h(map[logical.Operation]framework.Handler{
			logical.ReadOperation:   c.sysPolicyRead("rules"),
			logical.UpdateOperation: framework.Typed(c.sysPolicyWrite),
			logical.DeleteOperation: c.sysPolicyDelete,
		}), Synopsis: "Read, write or delete an ACL policy (older endpoint).", TopLevel: true},
		{Pattern: `policies/acl/?`, Operations: h(map[logical.Operation]framework.Handler{logical.ListOperation: c.sysPolicyKeys}), Synopsis: "List ACL policies."},
		{Pattern: `policies/acl/(?P<name>.+)`, Operations: h(map[logical.Operation]framework.Handler{
			logical.ReadOperation:   c.sysPolicyRead("policy"),
			logical.UpdateOperation: framework.Typed(c.sysPolicyWrite),
			logical.DeleteOperation: c.sysPolicyDelete,
		}), Synopsis: "Read, write or delete an ACL policy."},
		{Pattern: `capabilities`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysCapabilities)}), Synopsis: "Report a token's capabilities on paths.", TopLevel: true},
		{Pattern: `capabilities-self`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysCapabilitiesSelf)}), Synopsis: "Report the caller's capabilities on paths.", TopLevel: true},
		{Pattern: `capabilities-accessor`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysCapabilitiesAccessor)}), Synopsis: "Report capabilities of a token given by accessor.", TopLevel: true},
		{Pattern: `locked-users`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysLockedUsers}), Synopsis: "List aliases locked out after failed logins."},
		{Pattern: `locked-users/(?P<accessor>[^/]+)/unlock/(?P<alias>.+)`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: c.sysUnlockUser}), Synopsis: "Lift a login lockout."},
	}
}

func (c *Core) sysPolicyList(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	names := c.policies.names()
	return &logical.Response{Data: map[string][]string{"policies": names, "keys": names}}, nil
}

func (c *Core) sysPolicyKeys(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	return framework.ListResponse(c.policies.names())
}

// sysPolicyRead returns a policy's text under field ("rules" for the older
// sys/policy endpoint, "policy" for sys/policies/acl).
func (c *Core) sysPolicyRead(field string) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		name := strings.ToLower(m.Get("name"))
		if name == "root" {
			return &logical.Response{Data: map[string]string{"name": "root", field: ""}}, nil
		}
		pol, ok := c.policies.get(name)
		if !ok {
			return nil, nil
		}
		return &logical.Response{Data: map[string]string{"name": name, field: pol.Raw}}, nil
	}
}

type policyInput struct {
	Policy string `json:"policy"`
	Rules  string `json:"rules"`
}

func (c *Core) sysPolicyWrite(ctx context.Context, req *logical.Request, m *framework.Match, in *policyInput) (*logical.Response, error) {
	text := in.Policy
	if text == "" {
		text = in.Rules
	}
	if strings.TrimSpace(text) == "" {
		return nil, logical.InvalidRequest("missing policy: send its HCL or JSON text as \"policy\"")
	}
	return nil, c.policies.put(ctx, m.Get("name"), text)
}

func (c *Core) sysPolicyDelete(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	return nil, c.policies.delete(ctx, m.Get("name"))
}

// capabilitiesInput is the body of the sys/capabilities endpoints.
type capabilitiesInput struct {
	Token    string                 `json:"token"`
	Accessor string                 `json:"accessor"`
	Path     string                 `json:"path"`
	Paths    framework.CommaStrings `json:"paths"`
}

// capabilities answers for the token entry e on the requested paths, in
// Vault's shape: each path as a key, and "capabilities" for a single path.
func (c *Core) capabilities(ctx context.Context, e *token.Entry, in *capabilitiesInput) (*logical.Response, error) {
	paths := slices.Clone([]string(in.Paths))
	if in.Path != "" {
		paths = append(paths, in.Path)
	}
	if len(paths) == 0 {
		return nil, logical.InvalidRequest("missing path or paths")
	}
	names := e.Policies
	if e.EntityID != "" && c.identity != nil {
		if ip, err := c.identity.Policies(ctx, e.EntityID); err == nil {
			names = append(slices.Clone(names), ip...)
		}
	}
	// Each path must pass the rule every request passes: a path no request
	// can reach (a ".." segment, say) is refused, not reported on.
	clean := make([]string, len(paths))
	for i, p := range paths {
		cp, err := router.CleanPath(strings.TrimPrefix(p, "/"))
		if err != nil {
			return nil, err
		}
		clean[i] = cp
	}
	acl := c.policies.acl(names)
	out := map[string][]string{}
	for i, p := range paths {
		out[p] = acl.Capabilities(clean[i])
	}
	if len(paths) == 1 {
		out["capabilities"] = out[paths[0]]
	}
	return &logical.Response{Data: out}, nil
}

func (c *Core) sysCapabilities(ctx context.Context, req *logical.Request, m *framework.Match, in *capabilitiesInput) (*logical.Response, error) {
	e, _, err := c.lookupToken(ctx, in.Token, "invalid token")
	if err != nil {
		return nil, err
	}
	return c.capabilities(ctx, e, in)
}

func (c *Core) sysCapabilitiesSelf(ctx context.Context, req *logical.Request, m *framework.Match, in *capabilitiesInput) (*logical.Response, error) {
	cl := callerFrom(ctx)
	if cl == nil {
		return nil, logical.PermissionDenied()
	}
	return c.capabilities(ctx, cl.entry, in)
}

func (c *Core) sysCapabilitiesAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *capabilitiesInput) (*logical.Response, error) {
	e, _, err := c.lookupAccessor(ctx, in.Accessor)
	if err != nil {
		return nil, err
	}
	return c.capabilities(ctx, e, in)
}

// lockedUsersOutput is sys/locked-users' answer, in Vault's shape.
type lockedUsersOutput struct {
	ByNamespace []lockedNamespace `json:"by_namespace"`
	Total       int               `json:"total"`
}

type lockedNamespace struct {
	NamespaceID    string          `json:"namespace_id"`
	NamespacePath  string          `json:"namespace_path"`
	Counts         int             `json:"counts"`
	MountAccessors []lockedAccount `json:"mount_accessors"`
}

type lockedAccount struct {
	MountAccessor    string   `json:"mount_accessor"`
	Counts           int      `json:"counts"`
	AliasIdentifiers []string `json:"alias_identifiers"`
}

func (c *Core) sysLockedUsers(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	byAccessor := c.lockouts.lockedNames(c.now())
	ns := lockedNamespace{NamespaceID: "root", NamespacePath: "", MountAccessors: []lockedAccount{}}
	accessors := make([]string, 0, len(byAccessor))
	for a := range byAccessor {
		accessors = append(accessors, a)
	}
	slices.Sort(accessors)
	for _, a := range accessors {
		names := byAccessor[a]
		ns.MountAccessors = append(ns.MountAccessors, lockedAccount{MountAccessor: a, Counts: len(names), AliasIdentifiers: names})
		ns.Counts += len(names)
	}
	return &logical.Response{Data: lockedUsersOutput{ByNamespace: []lockedNamespace{ns}, Total: ns.Counts}}, nil
}

func (c *Core) sysUnlockUser(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	c.lockouts.unlock(lockoutKey{accessor: m.Get("accessor"), name: m.Get("alias")})
	c.logger.Info("login lockout lifted by an operator", "mount_accessor", m.Get("accessor"), "alias", m.Get("alias"))
	return nil, nil
}

// defaultPolicyName is re-exported for tests of the pipeline.
var _ = policy.DefaultPolicyName
