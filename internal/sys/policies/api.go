package policies

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/router"
)

// Core is what the capabilities and lockout endpoints need from core.
// The token lookups return a token's policies with those of its identity
// entity and groups, and its entity ID (templated policies are resolved
// for it; "" for none); an unknown token or accessor is an
// [logical.ErrInvalidRequest] error with Vault's words.
type Core interface {
	// TokenPolicies returns the policies of the token with ID id.
	TokenPolicies(ctx context.Context, id string) (names []string, entityID string, err error)
	// AccessorPolicies returns the policies of the token with accessor.
	AccessorPolicies(ctx context.Context, accessor string) (names []string, entityID string, err error)
	// CallerPolicies returns the policies of the request's own token;
	// [logical.ErrPermissionDenied] when it has none.
	CallerPolicies(ctx context.Context) (names []string, entityID string, err error)
	// Entities resolves templated policies; nil while there is no
	// identity store.
	Entities() Entities
	// LockedUsers lists the locked-out alias names by mount accessor.
	LockedUsers() map[string][]string
	// Unlock lifts the lockout of an alias of the auth mount accessor.
	Unlock(accessor, alias string)
}

// Options configures an [API].
type Options struct {
	Store *Store
	Core  Core
	// Logger receives lifecycle logs (an operator lifting a lockout).
	Logger *slog.Logger
	// Events, when set, is told "policy/changed" after a policy is
	// written or deleted.
	Events logical.EventSender
}

// API serves the access control endpoints.
type API struct {
	opts Options
}

// New returns the access control endpoints.
func New(opts Options) *API { return &API{opts: opts} }

// Paths returns the sys/ endpoints for policies (and their evaluator,
// sys/policies/test), the caller's resultant ACL
// (sys/internal/ui/resultant-acl), capabilities and lockouts, relative
// to sys/, in match order.
func (a *API) Paths() []*framework.Path {
	h := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	return []*framework.Path{
		{Pattern: `policy/?`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: a.list, logical.ListOperation: a.keys}), Synopsis: "List ACL policies.", TopLevel: true},
		{Pattern: `policy/(?P<name>.+)`, Operations: h(map[logical.Operation]framework.Handler{
			logical.ReadOperation:   a.read("rules"),
			logical.UpdateOperation: framework.Typed(a.write),
			logical.DeleteOperation: a.delete,
		}), Synopsis: "Read, write or delete an ACL policy (older endpoint).", TopLevel: true},
		{Pattern: `policies/test`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.test)}), Synopsis: "Evaluate a policy text or stored policies on paths, storing nothing."},
		{Pattern: `policies/acl/?`, Operations: h(map[logical.Operation]framework.Handler{logical.ListOperation: a.keys}), Synopsis: "List ACL policies."},
		{Pattern: `policies/acl/(?P<name>.+)`, Operations: h(map[logical.Operation]framework.Handler{
			logical.ReadOperation:   a.read("policy"),
			logical.UpdateOperation: framework.Typed(a.write),
			logical.DeleteOperation: a.delete,
		}), Synopsis: "Read, write or delete an ACL policy."},
		{Pattern: `internal/ui/resultant-acl`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: a.resultantACL}), Synopsis: "The caller's own resultant ACL (its policies' rules merged by path).", TopLevel: true},
		{Pattern: `capabilities`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.capabilitiesToken)}), Synopsis: "Report a token's capabilities on paths.", TopLevel: true},
		{Pattern: `capabilities-self`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.capabilitiesSelf)}), Synopsis: "Report the caller's capabilities on paths.", TopLevel: true},
		{Pattern: `capabilities-accessor`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.capabilitiesAccessor)}), Synopsis: "Report capabilities of a token given by accessor.", TopLevel: true},
		{Pattern: `locked-users`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: a.lockedUsers}), Synopsis: "List aliases locked out after failed logins."},
		{Pattern: `locked-users/(?P<accessor>[^/]+)/unlock/(?P<alias>.+)`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: a.unlockUser}), Synopsis: "Lift a login lockout."},
	}
}

func (a *API) list(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	names := a.opts.Store.Names()
	return &logical.Response{Data: map[string][]string{"policies": names, "keys": names}}, nil
}

func (a *API) keys(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	return framework.ListResponse(a.opts.Store.Names())
}

// read returns a policy's text under field ("rules" for the older
// sys/policy endpoint, "policy" for sys/policies/acl).
func (a *API) read(field string) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		name := strings.ToLower(m.Get("name"))
		if name == "root" {
			return &logical.Response{Data: map[string]string{"name": "root", field: ""}}, nil
		}
		pol, ok := a.opts.Store.Policy(name)
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

func (a *API) write(ctx context.Context, req *logical.Request, m *framework.Match, in *policyInput) (*logical.Response, error) {
	text := in.Policy
	if text == "" {
		text = in.Rules
	}
	if strings.TrimSpace(text) == "" {
		return nil, logical.InvalidRequest("missing policy: send its HCL or JSON text as \"policy\"")
	}
	if err := a.opts.Store.Put(ctx, m.Get("name"), text); err != nil {
		return nil, err
	}
	a.changed(ctx, m.Get("name"), "write")
	return nil, nil
}

func (a *API) delete(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if err := a.opts.Store.Delete(ctx, m.Get("name")); err != nil {
		return nil, err
	}
	a.changed(ctx, m.Get("name"), "delete")
	return nil, nil
}

// changed sends policy/changed; its path is the policy's sys/policies/acl
// path, so a subscriber sees it only if it may read that policy.
func (a *API) changed(ctx context.Context, name, op string) {
	if a.opts.Events == nil {
		return
	}
	name = strings.ToLower(name)
	a.opts.Events.SendEvent(ctx, "policy/changed", map[string]string{"name": name, "operation": op, "path": "sys/policies/acl/" + name, "modified": "true"})
}

// capabilitiesInput is the body of the sys/capabilities endpoints.
type capabilitiesInput struct {
	Token    string                 `json:"token"`
	Accessor string                 `json:"accessor"`
	Path     string                 `json:"path"`
	Paths    framework.CommaStrings `json:"paths"`
}

// capabilities answers for a token holding the policies names on the
// requested paths, in Vault's shape: each path as a key, and
// "capabilities" for a single path.
func (a *API) capabilities(names []string, entityID string, in *capabilitiesInput) (*logical.Response, error) {
	paths := slices.Clone([]string(in.Paths))
	if in.Path != "" {
		paths = append(paths, in.Path)
	}
	if len(paths) == 0 {
		return nil, logical.InvalidRequest("missing path or paths")
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
	acl := a.opts.Store.EntityACL(names, entityID, a.opts.Core.Entities())
	out := map[string][]string{}
	for i, p := range paths {
		out[p] = acl.Capabilities(clean[i])
	}
	if len(paths) == 1 {
		out["capabilities"] = out[paths[0]]
	}
	return &logical.Response{Data: out}, nil
}

func (a *API) capabilitiesToken(ctx context.Context, req *logical.Request, m *framework.Match, in *capabilitiesInput) (*logical.Response, error) {
	names, entityID, err := a.opts.Core.TokenPolicies(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	return a.capabilities(names, entityID, in)
}

func (a *API) capabilitiesSelf(ctx context.Context, req *logical.Request, m *framework.Match, in *capabilitiesInput) (*logical.Response, error) {
	names, entityID, err := a.opts.Core.CallerPolicies(ctx)
	if err != nil {
		return nil, err
	}
	return a.capabilities(names, entityID, in)
}

func (a *API) capabilitiesAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *capabilitiesInput) (*logical.Response, error) {
	names, entityID, err := a.opts.Core.AccessorPolicies(ctx, in.Accessor)
	if err != nil {
		return nil, err
	}
	return a.capabilities(names, entityID, in)
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

func (a *API) lockedUsers(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	byAccessor := a.opts.Core.LockedUsers()
	ns := lockedNamespace{NamespaceID: "root", NamespacePath: "", MountAccessors: []lockedAccount{}}
	accessors := make([]string, 0, len(byAccessor))
	for acc := range byAccessor {
		accessors = append(accessors, acc)
	}
	slices.Sort(accessors)
	for _, acc := range accessors {
		names := byAccessor[acc]
		ns.MountAccessors = append(ns.MountAccessors, lockedAccount{MountAccessor: acc, Counts: len(names), AliasIdentifiers: names})
		ns.Counts += len(names)
	}
	return &logical.Response{Data: lockedUsersOutput{ByNamespace: []lockedNamespace{ns}, Total: ns.Counts}}, nil
}

func (a *API) unlockUser(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	a.opts.Core.Unlock(m.Get("accessor"), m.Get("alias"))
	a.opts.Logger.Info("login lockout lifted by an operator", "mount_accessor", m.Get("accessor"), "alias", m.Get("alias"))
	return nil, nil
}
