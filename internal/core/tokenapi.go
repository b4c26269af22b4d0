package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/token"
)

const tokenRolePrefix = "sys/token/roles/"

// newTokenBackend returns the path table of the token store's API, mounted
// at auth/token/.
func (c *Core) newTokenBackend() *framework.Backend {
	ops := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	return &framework.Backend{Paths: []*framework.Path{
		{Pattern: `create-orphan`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenCreateOrphan)}), Synopsis: "Create an orphan token."},
		{Pattern: `create/(?P<role>[^/]+)`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenCreateRole)}), Synopsis: "Create a token with a role."},
		{Pattern: `create`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenCreate)}), Synopsis: "Create a child token."},
		{Pattern: `lookup-self`, Operations: ops(map[logical.Operation]framework.Handler{logical.ReadOperation: c.tokenLookupSelf, logical.UpdateOperation: c.tokenLookupSelf}), Synopsis: "Look up the calling token."},
		{Pattern: `lookup-accessor`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenLookupAccessor)}), Synopsis: "Look up a token by accessor."},
		{Pattern: `lookup`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenLookup), logical.ReadOperation: c.tokenLookupQuery}), Synopsis: "Look up a token."},
		{Pattern: `renew-self`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenRenewSelf)}), Synopsis: "Renew the calling token."},
		{Pattern: `renew-accessor`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenRenewAccessor)}), Synopsis: "Renew a token by accessor."},
		{Pattern: `renew`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenRenew)}), Synopsis: "Renew a token."},
		{Pattern: `revoke-self`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: c.tokenRevokeSelf}), Synopsis: "Revoke the calling token and its children."},
		{Pattern: `revoke-accessor`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenRevokeAccessor)}), Synopsis: "Revoke a token by accessor."},
		{Pattern: `revoke-orphan`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenRevokeOrphan)}), Synopsis: "Revoke a token, keeping its children as orphans."},
		{Pattern: `revoke`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.tokenRevoke)}), Synopsis: "Revoke a token and its children."},
		{Pattern: `accessors/?`, Operations: ops(map[logical.Operation]framework.Handler{logical.ListOperation: c.tokenAccessors}), Synopsis: "List token accessors."},
		{Pattern: `roles/?`, Operations: ops(map[logical.Operation]framework.Handler{logical.ListOperation: c.tokenRoleList}), Synopsis: "List token roles."},
		{Pattern: `roles/(?P<role>[^/]+)`, Operations: ops(map[logical.Operation]framework.Handler{
			logical.ReadOperation:   c.tokenRoleRead,
			logical.UpdateOperation: framework.Typed(c.tokenRoleWrite),
			logical.DeleteOperation: c.tokenRoleDelete,
		}), ExistenceCheck: c.tokenRoleExists, Synopsis: "Manage token roles."},
		{Pattern: `tidy`, Operations: ops(map[logical.Operation]framework.Handler{logical.UpdateOperation: c.tokenTidy}), Synopsis: "Clean up the token store's indexes."},
	}}
}

// tokenCreateInput is the body of auth/token/create and friends.
type tokenCreateInput struct {
	ID              string                 `json:"id"`
	RoleName        string                 `json:"role_name"`
	Policies        framework.CommaStrings `json:"policies"`
	Meta            map[string]string      `json:"meta"`
	NoParent        framework.Bool         `json:"no_parent"`
	NoDefaultPolicy framework.Bool         `json:"no_default_policy"`
	Renewable       *framework.Bool        `json:"renewable"`
	Lease           framework.Duration     `json:"lease"`
	TTL             framework.Duration     `json:"ttl"`
	ExplicitMaxTTL  framework.Duration     `json:"explicit_max_ttl"`
	Period          framework.Duration     `json:"period"`
	DisplayName     string                 `json:"display_name"`
	NumUses         framework.Int          `json:"num_uses"`
	Type            string                 `json:"type"`
	EntityAlias     string                 `json:"entity_alias"`
}

func (c *Core) tokenCreate(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenCreateInput) (*logical.Response, error) {
	if in.RoleName != "" {
		return c.createWithRole(ctx, req, in.RoleName, in)
	}
	return c.createTokenFor(ctx, req, in, bool(in.NoParent), nil)
}

func (c *Core) tokenCreateOrphan(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenCreateInput) (*logical.Response, error) {
	return c.createTokenFor(ctx, req, in, true, nil)
}

func (c *Core) tokenCreateRole(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenCreateInput) (*logical.Response, error) {
	return c.createWithRole(ctx, req, m.Get("role"), in)
}

func (c *Core) createWithRole(ctx context.Context, req *logical.Request, name string, in *tokenCreateInput) (*logical.Response, error) {
	role, err := c.loadTokenRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, logical.InvalidRequest("unknown token role %q", name)
	}
	return c.createTokenFor(ctx, req, in, role.Orphan, role)
}

// createTokenFor makes a token for the caller: a child unless orphan.
// Without root, the new token's policies must be a subset of the caller's
// (or allowed by the role), and making an orphan needs sudo.
func (c *Core) createTokenFor(ctx context.Context, req *logical.Request, in *tokenCreateInput, orphan bool, role *tokenRole) (*logical.Response, error) {
	cl := callerFrom(ctx)
	if cl == nil {
		return nil, logical.PermissionDenied()
	}
	parent := cl.entry
	isRoot := parent.IsRoot()
	if parent.Type == token.TypeBatch && !orphan {
		return nil, logical.InvalidRequest("batch tokens cannot create child tokens")
	}
	if in.ID != "" && !isRoot && !cl.sudo {
		return nil, logical.InvalidRequest("root or sudo privileges required to specify token id")
	}
	// As in Vault, create-orphan is governed by the ACL on its own path;
	// asking auth/token/create for no_parent needs root or sudo there.
	if orphan && role == nil && bool(in.NoParent) && !isRoot && !cl.sudo {
		return nil, logical.InvalidRequest("root or sudo privileges required to create orphan token")
	}
	policies := []string(in.Policies)
	for i, p := range policies {
		policies[i] = strings.ToLower(strings.TrimSpace(p))
	}
	for _, p := range policies {
		if p == "" {
			return nil, logical.InvalidRequest("empty policy name")
		}
		if !c.policies.Exists(p) {
			return nil, logical.InvalidRequest("policy %q does not exist", p)
		}
	}
	e := &token.Entry{
		Meta:           in.Meta,
		DisplayName:    tokenDisplayName(in.DisplayName),
		Path:           "auth/token/create",
		TTL:            time.Duration(in.TTL),
		ExplicitMaxTTL: time.Duration(in.ExplicitMaxTTL),
		Period:         time.Duration(in.Period),
		NumUses:        int(in.NumUses),
		Renewable:      true,
		Type:           strings.ToLower(in.Type),
	}
	if e.TTL == 0 {
		e.TTL = time.Duration(in.Lease)
	}
	if in.Renewable != nil {
		e.Renewable = bool(*in.Renewable)
	}
	if in.NumUses < 0 {
		return nil, logical.InvalidRequest("num_uses must not be negative")
	}
	noDefault := bool(in.NoDefaultPolicy)
	if role != nil {
		e.Path = "auth/token/create/" + role.Name
		if role.PathSuffix != "" {
			e.Path += "/" + role.PathSuffix
		}
		e.Role = role.Name
		if !role.Renewable {
			e.Renewable = false
		}
		if len(policies) == 0 {
			policies = slices.Clone(role.AllowedPolicies)
		}
		for _, p := range policies {
			if slices.Contains(role.DisallowedPolicies, p) {
				return nil, logical.InvalidRequest("policy %q is disallowed by the role", p)
			}
			if len(role.AllowedPolicies) > 0 && !slices.Contains(role.AllowedPolicies, p) && p != "default" {
				return nil, logical.InvalidRequest("policy %q is not allowed by the role", p)
			}
		}
		p := role.Params
		if p.Period > 0 {
			e.Period = time.Duration(p.Period)
		}
		if p.ExplicitMaxTTL > 0 && (e.ExplicitMaxTTL == 0 || time.Duration(p.ExplicitMaxTTL) < e.ExplicitMaxTTL) {
			e.ExplicitMaxTTL = time.Duration(p.ExplicitMaxTTL)
		}
		if e.TTL == 0 {
			e.TTL = time.Duration(p.TTL)
		}
		if p.MaxTTL > 0 {
			e.MaxTTL = time.Duration(p.MaxTTL)
		}
		if p.NumUses > 0 && (e.NumUses == 0 || int(p.NumUses) < e.NumUses) {
			e.NumUses = int(p.NumUses)
		}
		if p.Type != "" && e.Type == "" {
			e.Type = p.Type
		}
		e.BoundCIDRs = slices.Clone(p.BoundCIDRs)
		noDefault = noDefault || bool(p.NoDefaultPolicy)
	} else if !isRoot {
		// A child may hold only policies its parent holds.
		if len(policies) == 0 {
			policies = slices.DeleteFunc(slices.Clone(parent.Policies), func(p string) bool { return p == "default" })
		}
		for _, p := range policies {
			if p != "default" && !slices.Contains(parent.Policies, p) {
				return nil, logical.InvalidRequest("child policies must be subset of parent: %q is not held by the calling token", p)
			}
		}
	} else if len(policies) == 0 {
		policies = slices.Clone(parent.Policies)
	}
	if slices.Contains(policies, "root") && !isRoot {
		return nil, logical.InvalidRequest("root tokens may not be created without parent token being root")
	}
	e.Policies = tokenPolicies(policies, noDefault)
	if !orphan {
		e.Parent = cl.hash
	}
	if in.EntityAlias != "" {
		return nil, logical.InvalidRequest("entity_alias is not supported yet")
	}
	sv := c.systemViewFor("auth/token/")
	if err := c.applyTTLs(e, sv.DefaultLeaseTTL(), sv.MaxLeaseTTL()); err != nil {
		return nil, err
	}
	if !isRoot && parent.TTL > 0 && e.Period == 0 {
		// A child never outlives its parent's current expiry.
		if left := parent.ExpireTime().Sub(c.now()); left > 0 && e.TTL > left {
			e.TTL = left
		}
	}
	ao, err := c.createToken(ctx, token.ID(in.ID), e, c.now())
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: ao}, nil
}

// tokenDisplayName makes Vault's "token-<name>" display names.
func tokenDisplayName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "token"
	}
	name = strings.ToLower(name)
	if strings.HasPrefix(name, "token-") || name == "token" {
		return name
	}
	return "token-" + name
}

// tokenLookupOutput is a token as lookups report it.
type tokenLookupOutput struct {
	Accessor         string            `json:"accessor"`
	CreationTime     int64             `json:"creation_time"`
	CreationTTL      int64             `json:"creation_ttl"`
	DisplayName      string            `json:"display_name"`
	EntityID         string            `json:"entity_id"`
	ExpireTime       *string           `json:"expire_time"`
	ExplicitMaxTTL   int64             `json:"explicit_max_ttl"`
	ID               string            `json:"id"`
	IdentityPolicies []string          `json:"identity_policies,omitempty"`
	IssueTime        string            `json:"issue_time"`
	LastRenewal      string            `json:"last_renewal,omitempty"`
	LastRenewalTime  int64             `json:"last_renewal_time,omitempty"`
	Meta             map[string]string `json:"meta"`
	NumUses          int               `json:"num_uses"`
	Orphan           bool              `json:"orphan"`
	Path             string            `json:"path"`
	Period           int64             `json:"period,omitempty"`
	Policies         []string          `json:"policies"`
	Renewable        bool              `json:"renewable"`
	Role             string            `json:"role,omitempty"`
	BoundCIDRs       []string          `json:"bound_cidrs,omitempty"`
	TTL              int64             `json:"ttl"`
	Type             string            `json:"type"`
}

func (c *Core) lookupOutput(ctx context.Context, id token.ID, e *token.Entry) tokenLookupOutput {
	now := c.now()
	out := tokenLookupOutput{
		Accessor:       e.Accessor,
		CreationTime:   e.CreationTime.Unix(),
		CreationTTL:    int64(e.CreationTTL / time.Second),
		DisplayName:    e.DisplayName,
		EntityID:       e.EntityID,
		ExplicitMaxTTL: int64(e.ExplicitMaxTTL / time.Second),
		ID:             string(id),
		IssueTime:      e.CreationTime.Format(time.RFC3339Nano),
		Meta:           e.Meta,
		NumUses:        max(e.NumUses, 0),
		Orphan:         e.Parent == "",
		Path:           e.Path,
		Period:         int64(e.Period / time.Second),
		Policies:       e.Policies,
		Renewable:      e.Renewable,
		Role:           e.Role,
		BoundCIDRs:     e.BoundCIDRs,
		Type:           e.Type,
	}
	if exp := e.ExpireTime(); !exp.IsZero() {
		s := exp.Format(time.RFC3339Nano)
		out.ExpireTime = &s
		out.TTL = int64(exp.Sub(now) / time.Second)
	}
	if !e.LastRenewal.IsZero() {
		out.LastRenewal = e.LastRenewal.Format(time.RFC3339Nano)
		out.LastRenewalTime = e.LastRenewal.Unix()
	}
	if e.EntityID != "" && c.identity != nil {
		if ip, err := c.identity.Policies(ctx, e.EntityID); err == nil && len(ip) > 0 {
			out.IdentityPolicies = ip
		}
	}
	return out
}

func (c *Core) tokenLookupSelf(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	cl := callerFrom(ctx)
	if cl == nil {
		return nil, logical.PermissionDenied()
	}
	return &logical.Response{Data: c.lookupOutput(ctx, cl.id, cl.entry)}, nil
}

type tokenInput struct {
	Token string `json:"token"`
}

// findToken looks up a token given in a request body; e is nil when no
// such token exists (or it expired).
func (c *Core) findToken(ctx context.Context, id string) (e *token.Entry, hash string, err error) {
	if id == "" {
		return nil, "", logical.InvalidRequest("missing token ID")
	}
	return c.tokens.Lookup(ctx, token.ID(id), c.now())
}

// lookupToken finds a token given in a request body. A token that does
// not exist is refused with [logical.ErrInvalidRequest] and msg (Vault's
// words differ by endpoint).
func (c *Core) lookupToken(ctx context.Context, id, msg string) (*token.Entry, string, error) {
	e, h, err := c.findToken(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if e == nil {
		return nil, "", logical.InvalidRequest("%s", msg)
	}
	return e, h, nil
}

func (c *Core) tokenLookup(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenInput) (*logical.Response, error) {
	e, _, err := c.findToken(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	if e == nil {
		// As in Vault: an unknown token is a 403 with "bad token".
		return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "bad token"}
	}
	return &logical.Response{Data: c.lookupOutput(ctx, token.ID(in.Token), e)}, nil
}

func (c *Core) tokenLookupQuery(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	return c.tokenLookup(ctx, req, m, &tokenInput{Token: req.Query.Get("token")})
}

type accessorInput struct {
	Accessor string `json:"accessor"`
}

// lookupAccessor finds a token by the accessor in a request body.
func (c *Core) lookupAccessor(ctx context.Context, accessor string) (*token.Entry, string, error) {
	if accessor == "" {
		return nil, "", logical.InvalidRequest("missing accessor")
	}
	e, h, err := c.tokens.LookupAccessor(ctx, accessor, c.now())
	if err != nil {
		return nil, "", err
	}
	if e == nil {
		return nil, "", logical.InvalidRequest("invalid accessor")
	}
	return e, h, nil
}

func (c *Core) tokenLookupAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *accessorInput) (*logical.Response, error) {
	e, _, err := c.lookupAccessor(ctx, in.Accessor)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: c.lookupOutput(ctx, "", e)}, nil
}

type renewInput struct {
	Token     string             `json:"token"`
	Accessor  string             `json:"accessor"`
	Increment framework.Duration `json:"increment"`
}

// renew extends the token with hash and returns its auth block.
func (c *Core) renew(ctx context.Context, id token.ID, hash string, increment time.Duration) (*logical.Response, error) {
	if hash == "" {
		return nil, logical.InvalidRequest("batch tokens cannot be renewed")
	}
	e, err := c.tokens.Renew(ctx, hash, increment, c.now())
	switch {
	case errors.Is(err, token.ErrNotRenewable):
		return nil, logical.InvalidRequest("token is not renewable")
	case errors.Is(err, token.ErrPastMaxTTL):
		return nil, logical.InvalidRequest("token has reached its maximum TTL and cannot be renewed")
	case errors.Is(err, token.ErrNotFound):
		return nil, logical.InvalidRequest("token not found")
	case err != nil:
		return nil, err
	}
	ao := c.authOutput(ctx, id, e)
	return &logical.Response{Data: ao}, nil
}

func (c *Core) tokenRenewSelf(ctx context.Context, req *logical.Request, m *framework.Match, in *renewInput) (*logical.Response, error) {
	cl := callerFrom(ctx)
	if cl == nil {
		return nil, logical.PermissionDenied()
	}
	return c.renew(ctx, cl.id, cl.hash, time.Duration(in.Increment))
}

func (c *Core) tokenRenew(ctx context.Context, req *logical.Request, m *framework.Match, in *renewInput) (*logical.Response, error) {
	_, h, err := c.lookupToken(ctx, in.Token, "token not found")
	if err != nil {
		return nil, err
	}
	return c.renew(ctx, token.ID(in.Token), h, time.Duration(in.Increment))
}

func (c *Core) tokenRenewAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *renewInput) (*logical.Response, error) {
	_, h, err := c.lookupAccessor(ctx, in.Accessor)
	if err != nil {
		return nil, err
	}
	resp, err := c.renew(ctx, "", h, time.Duration(in.Increment))
	if err != nil {
		return nil, err
	}
	// Renewing by accessor must not hand out the token.
	resp.Data.(*AuthOutput).ClientToken = ""
	return resp, nil
}

func (c *Core) tokenRevokeSelf(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	cl := callerFrom(ctx)
	if cl == nil {
		return nil, logical.PermissionDenied()
	}
	if cl.hash == "" {
		return nil, logical.InvalidRequest("batch tokens cannot be revoked")
	}
	return nil, c.tokens.Revoke(ctx, cl.hash)
}

func (c *Core) tokenRevoke(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenInput) (*logical.Response, error) {
	e, h, err := c.findToken(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	if e == nil {
		// Revocation is idempotent, as in Vault: a token that is already
		// gone (or never existed) answers success.
		return nil, nil
	}
	if h == "" {
		return nil, logical.InvalidRequest("batch tokens cannot be revoked")
	}
	return nil, c.tokens.Revoke(ctx, h)
}

func (c *Core) tokenRevokeOrphan(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenInput) (*logical.Response, error) {
	_, h, err := c.lookupToken(ctx, in.Token, "token to revoke not found")
	if err != nil {
		return nil, err
	}
	if h == "" {
		return nil, logical.InvalidRequest("batch tokens cannot be revoked")
	}
	return nil, c.tokens.RevokeOrphan(ctx, h)
}

func (c *Core) tokenRevokeAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *accessorInput) (*logical.Response, error) {
	_, h, err := c.lookupAccessor(ctx, in.Accessor)
	if err != nil {
		return nil, err
	}
	return nil, c.tokens.Revoke(ctx, h)
}

func (c *Core) tokenAccessors(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := c.tokens.Accessors(ctx)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

func (c *Core) tokenTidy(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if err := c.tokens.Tidy(ctx, c.now()); err != nil {
		return nil, err
	}
	return &logical.Response{Warnings: []string{"Tidy of the token store finished."}}, nil
}

// tokenRole is a stored token role.
type tokenRole struct {
	Name                 string                `json:"name"`
	AllowedPolicies      []string              `json:"allowed_policies"`
	DisallowedPolicies   []string              `json:"disallowed_policies"`
	AllowedEntityAliases []string              `json:"allowed_entity_aliases"`
	Orphan               bool                  `json:"orphan"`
	Renewable            bool                  `json:"renewable"`
	PathSuffix           string                `json:"path_suffix"`
	Params               framework.TokenParams `json:"params"`
}

// tokenRoleInput is the body of auth/token/roles/:name.
type tokenRoleInput struct {
	AllowedPolicies      *framework.CommaStrings `json:"allowed_policies"`
	DisallowedPolicies   *framework.CommaStrings `json:"disallowed_policies"`
	AllowedEntityAliases *framework.CommaStrings `json:"allowed_entity_aliases"`
	Orphan               *framework.Bool         `json:"orphan"`
	Renewable            *framework.Bool         `json:"renewable"`
	PathSuffix           *string                 `json:"path_suffix"`
	// Vault's older names for token_period, token_explicit_max_ttl and
	// token_bound_cidrs.
	Period         *framework.Duration     `json:"period"`
	ExplicitMaxTTL *framework.Duration     `json:"explicit_max_ttl"`
	BoundCIDRs     *framework.CommaStrings `json:"bound_cidrs"`
	// DisallowedPoliciesGlob is not implemented; ignoring it would let
	// the role grant policies the caller meant to forbid.
	DisallowedPoliciesGlob framework.Unsupported `json:"disallowed_policies_glob"`
	framework.TokenParamsUpdate
}

func validRoleName(name string) error {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "/ \x00") {
		return logical.InvalidRequest("invalid role name")
	}
	return nil
}

func (c *Core) loadTokenRole(ctx context.Context, name string) (*tokenRole, error) {
	if err := validRoleName(name); err != nil {
		return nil, err
	}
	e, err := c.barrier.Get(ctx, tokenRolePrefix+strings.ToLower(name))
	if err != nil || e == nil {
		return nil, err
	}
	r := new(tokenRole)
	if err := json.Unmarshal(e.Value, r); err != nil {
		return nil, fmt.Errorf("decode token role: %w", err)
	}
	return r, nil
}

func (c *Core) tokenRoleExists(ctx context.Context, req *logical.Request, m *framework.Match) (bool, error) {
	r, err := c.loadTokenRole(ctx, m.Get("role"))
	return r != nil, err
}

func lowerAll(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (c *Core) tokenRoleWrite(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenRoleInput) (*logical.Response, error) {
	name := strings.ToLower(m.Get("role"))
	r, err := c.loadTokenRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &tokenRole{Name: name, Renewable: true}
	}
	if in.AllowedPolicies != nil {
		r.AllowedPolicies = lowerAll(*in.AllowedPolicies)
	}
	if in.DisallowedPolicies != nil {
		r.DisallowedPolicies = lowerAll(*in.DisallowedPolicies)
	}
	if in.AllowedEntityAliases != nil {
		r.AllowedEntityAliases = []string(*in.AllowedEntityAliases)
	}
	if in.Orphan != nil {
		r.Orphan = bool(*in.Orphan)
	}
	if in.Renewable != nil {
		r.Renewable = bool(*in.Renewable)
	}
	if in.PathSuffix != nil {
		if strings.Contains(*in.PathSuffix, "..") {
			return nil, logical.InvalidRequest("path_suffix must not contain \"..\"")
		}
		r.PathSuffix = *in.PathSuffix
	}
	upd := in.TokenParamsUpdate
	if upd.TokenPeriod == nil && in.Period != nil {
		upd.TokenPeriod = in.Period
	}
	if upd.TokenExplicitMaxTTL == nil && in.ExplicitMaxTTL != nil {
		upd.TokenExplicitMaxTTL = in.ExplicitMaxTTL
	}
	if upd.TokenBoundCIDRs == nil && in.BoundCIDRs != nil {
		upd.TokenBoundCIDRs = in.BoundCIDRs
	}
	params, err := upd.Apply(r.Params)
	if err != nil {
		return nil, err
	}
	r.Params = params
	for _, p := range r.AllowedPolicies {
		if p == "root" {
			return nil, logical.InvalidRequest("a token role cannot allow the root policy")
		}
	}
	buf, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return nil, c.barrier.Put(ctx, storageEntry(tokenRolePrefix+name, buf))
}

// tokenRoleOutput is a token role as reads report it.
type tokenRoleOutput struct {
	Name                 string   `json:"name"`
	AllowedPolicies      []string `json:"allowed_policies"`
	DisallowedPolicies   []string `json:"disallowed_policies"`
	AllowedEntityAliases []string `json:"allowed_entity_aliases"`
	Orphan               bool     `json:"orphan"`
	Renewable            bool     `json:"renewable"`
	PathSuffix           string   `json:"path_suffix"`
	Period               int64    `json:"period"`
	ExplicitMaxTTL       int64    `json:"explicit_max_ttl"`
	framework.TokenParamsResponse
}

func (c *Core) tokenRoleRead(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	r, err := c.loadTokenRole(ctx, m.Get("role"))
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: tokenRoleOutput{
		Name:                 r.Name,
		AllowedPolicies:      nonNil(r.AllowedPolicies),
		DisallowedPolicies:   nonNil(r.DisallowedPolicies),
		AllowedEntityAliases: nonNil(r.AllowedEntityAliases),
		Orphan:               r.Orphan,
		Renewable:            r.Renewable,
		PathSuffix:           r.PathSuffix,
		Period:               framework.Seconds(time.Duration(r.Params.Period)),
		ExplicitMaxTTL:       framework.Seconds(time.Duration(r.Params.ExplicitMaxTTL)),
		TokenParamsResponse:  r.Params.Response(),
	}}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (c *Core) tokenRoleDelete(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := strings.ToLower(m.Get("role"))
	if err := validRoleName(name); err != nil {
		return nil, err
	}
	return nil, c.barrier.Delete(ctx, tokenRolePrefix+name)
}

func (c *Core) tokenRoleList(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := c.barrier.List(ctx, tokenRolePrefix)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

// onTokenRevoke runs for every revoked token: it revokes the token's
// leases (a lease whose backend fails stays and is retried) and deletes
// its cubbyhole.
func (c *Core) onTokenRevoke(ctx context.Context, hash string, e *token.Entry) error {
	if err := c.leases.RevokeByToken(ctx, hash); err != nil {
		return err
	}
	for _, m := range c.Mounts() {
		if m.Type == "cubbyhole" && m.Builtin {
			return router.Clear(ctx, c.barrier, m.storagePrefix()+hash+"/")
		}
	}
	return nil
}
