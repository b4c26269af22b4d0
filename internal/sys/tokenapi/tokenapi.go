// Package tokenapi is the token store's API: the auth/token/ backend that
// core mounts as a built-in auth method (create, create-orphan,
// create/ROLE, lookup*, renew*, revoke*, accessors, roles, tidy).
//
// It turns requests into calls on the token store and the pure creation
// rules of [token.Plan]; everything else it needs from the server (the
// calling token, whether a policy exists, the mount's TTLs, storing a new
// token and rendering its auth block, identity policies) comes through
// the small [Core] interface it declares. It must not import core,
// httpapi, server or any engine. A backend returned by [New] is safe for
// concurrent use.
package tokenapi

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/token"
)

// Caller is the token that sent a request, as the pipeline checked it.
type Caller struct {
	// ID is the caller's token ID.
	ID token.ID
	// Hash is the token's hash; "" for a batch token.
	Hash string
	// Entry is the token; never nil.
	Entry *token.Entry
	// Sudo says whether the caller holds sudo on the request path.
	Sudo bool
}

// Core is what the token API needs from the server's core. Its methods
// must be safe for concurrent use.
type Core interface {
	// Caller returns the token that sent the request of ctx; false for a
	// request that carried none.
	Caller(ctx context.Context) (Caller, bool)
	// PolicyExists reports whether an ACL policy named name exists.
	PolicyExists(name string) bool
	// TokenTTLs returns the auth/token/ mount's default and maximum TTL.
	TokenTTLs() (defaultTTL, maxTTL time.Duration)
	// CreateToken stores e under id ("" makes one) and answers with its
	// auth block. A refused id is a [logical.ErrInvalidRequest] error.
	CreateToken(ctx context.Context, id token.ID, e *token.Entry) (*logical.Response, error)
	// AuthResponse answers with the auth block of the token e (with the
	// client token id, "" to leave it out).
	AuthResponse(ctx context.Context, id token.ID, e *token.Entry) *logical.Response
	// IdentityPolicies returns the policies e's entity and its groups
	// give, nil when there are none or they cannot be read.
	IdentityPolicies(ctx context.Context, entityID string) []string
}

// Store is the part of the token store ([*token.Store]) the API uses.
type Store interface {
	Lookup(ctx context.Context, id token.ID, now time.Time) (*token.Entry, string, error)
	LookupAccessor(ctx context.Context, accessor string, now time.Time) (*token.Entry, string, error)
	Renew(ctx context.Context, hash string, increment time.Duration, now time.Time) (*token.Entry, error)
	Revoke(ctx context.Context, hash string) error
	RevokeOrphan(ctx context.Context, hash string) error
	Accessors(ctx context.Context) ([]string, error)
	Tidy(ctx context.Context, now time.Time) error
}

// Options configures the backend [New] returns. Every field is required.
type Options struct {
	Core   Core
	Tokens Store
	// Roles is where token roles are kept, one entry per role name (core
	// gives a barrier view of "sys/token/roles/").
	Roles logical.Storage
	Clock logical.Clock
}

// backend serves auth/token/.
type backend struct {
	core   Core
	tokens Store
	roles  logical.Storage
	clock  logical.Clock
}

// New returns the path table of the token store's API, to be mounted at
// auth/token/. The patterns, operations and synopses are the wire: keep
// them (and their order) as they are.
func New(opts Options) *framework.Backend {
	b := &backend{core: opts.Core, tokens: opts.Tokens, roles: opts.Roles, clock: opts.Clock}
	type ops = map[logical.Operation]framework.Handler
	return &framework.Backend{Paths: []*framework.Path{
		{Pattern: `create-orphan`, Operations: ops{logical.UpdateOperation: framework.Typed(b.createOrphan)}, Synopsis: "Create an orphan token."},
		{Pattern: `create/(?P<role>[^/]+)`, Operations: ops{logical.UpdateOperation: framework.Typed(b.createRole)}, Synopsis: "Create a token with a role."},
		{Pattern: `create`, Operations: ops{logical.UpdateOperation: framework.Typed(b.create)}, Synopsis: "Create a child token."},
		{Pattern: `lookup-self`, Operations: ops{logical.ReadOperation: b.lookupSelf, logical.UpdateOperation: b.lookupSelf}, Synopsis: "Look up the calling token."},
		{Pattern: `lookup-accessor`, Operations: ops{logical.UpdateOperation: framework.Typed(b.lookupAccessor)}, Synopsis: "Look up a token by accessor."},
		{Pattern: `lookup`, Operations: ops{logical.UpdateOperation: framework.Typed(b.lookup), logical.ReadOperation: b.lookupQuery}, Synopsis: "Look up a token."},
		{Pattern: `renew-self`, Operations: ops{logical.UpdateOperation: framework.Typed(b.renewSelf)}, Synopsis: "Renew the calling token."},
		{Pattern: `renew-accessor`, Operations: ops{logical.UpdateOperation: framework.Typed(b.renewAccessor)}, Synopsis: "Renew a token by accessor."},
		{Pattern: `renew`, Operations: ops{logical.UpdateOperation: framework.Typed(b.renew)}, Synopsis: "Renew a token."},
		{Pattern: `revoke-self`, Operations: ops{logical.UpdateOperation: b.revokeSelf}, Synopsis: "Revoke the calling token and its children."},
		{Pattern: `revoke-accessor`, Operations: ops{logical.UpdateOperation: framework.Typed(b.revokeAccessor)}, Synopsis: "Revoke a token by accessor."},
		{Pattern: `revoke-orphan`, Operations: ops{logical.UpdateOperation: framework.Typed(b.revokeOrphan)}, Synopsis: "Revoke a token, keeping its children as orphans."},
		{Pattern: `revoke`, Operations: ops{logical.UpdateOperation: framework.Typed(b.revoke)}, Synopsis: "Revoke a token and its children."},
		{Pattern: `accessors/?`, Operations: ops{logical.ListOperation: b.accessors}, Synopsis: "List token accessors."},
		{Pattern: `roles/?`, Operations: ops{logical.ListOperation: b.roleList}, Synopsis: "List token roles."},
		{Pattern: `roles/(?P<role>[^/]+)`, Operations: ops{
			logical.ReadOperation:   b.roleRead,
			logical.UpdateOperation: framework.Typed(b.roleWrite),
			logical.DeleteOperation: b.roleDelete,
		}, ExistenceCheck: b.roleExists, Synopsis: "Manage token roles."},
		{Pattern: `tidy`, Operations: ops{logical.UpdateOperation: b.tidy}, Synopsis: "Clean up the token store's indexes."},
	}}
}

// now returns the current time in UTC.
func (b *backend) now() time.Time { return b.clock.Now().UTC() }

// caller returns the request's caller, or a permission denied error.
func (b *backend) caller(ctx context.Context) (Caller, error) {
	cl, ok := b.core.Caller(ctx)
	if !ok {
		return Caller{}, logical.PermissionDenied()
	}
	return cl, nil
}

// clientError turns a refusal by the token rules into an invalid request
// with the rule's message; other errors pass unchanged.
func clientError(err error) error {
	if errors.Is(err, token.ErrInvalidRequest) {
		return logical.InvalidRequest("%s", err.Error())
	}
	return err
}
