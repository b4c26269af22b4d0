package core

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/coffer-secrets/coffer/internal/lockout"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/mount"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/token"
)

// lockoutConfig returns the lockout setting of the auth mount at path:
// its own user_lockout_config over the server's setting for its type (or
// "all"), over the defaults.
func (c *Core) lockoutConfig(path string) LockoutConfig {
	if typ, cfg, ok := c.mountAt(path); ok {
		base, ok := c.opts.Lockout[typ]
		if !ok {
			base = c.opts.Lockout["all"]
		}
		return base.Over(cfg.Lockout).WithDefaults()
	}
	return c.opts.Lockout["all"].WithDefaults()
}

// handleLogin serves a login path of an auth method: no token needed. A
// login that names an alias locked out after failed logins is refused
// before the credentials are checked, so a correct password does not help
// during the lockout.
func (c *Core) handleLogin(ctx context.Context, req *Request, route *router.Route, rel string) (*Response, error) {
	lreq := *req.Request
	lreq.Path = rel
	lreq.MountPoint = route.Path
	now := c.now()
	var key lockout.Key
	cfg := c.lockoutConfig(route.Path)
	track := false
	if la, ok := route.Backend.(logical.AliasLookahead); ok && !cfg.Disable {
		// Only aliases that exist are tracked: an invented name costs the
		// method the same work but takes no memory here.
		ahead, err := la.LookaheadAlias(ctx, &lreq)
		if err != nil {
			return nil, err
		}
		if ahead.Name != "" && ahead.Exists {
			key = lockout.Key{Accessor: route.Accessor, Name: ahead.Name}
			track = true
			if c.lockouts.Locked(key, now) {
				return nil, logical.PermissionDenied()
			}
		}
	}
	resp, err := route.Backend.HandleRequest(ctx, &lreq)
	if c.opts.Observer != nil && (err != nil || (resp != nil && resp.Auth != nil)) {
		c.opts.Observer.Login(route.Type, err == nil)
	}
	if err != nil {
		// A refused login counts; so does a method's permission denied
		// (a client address outside token_bound_cidrs, say).
		if track && (errors.Is(err, logical.ErrInvalidCredentials) || errors.Is(err, logical.ErrPermissionDenied)) {
			if c.lockouts.Fail(key, cfg, now) {
				c.logger.Warn("login locked out after repeated failures", "mount", route.Path, "for", cfg.Duration)
			}
		}
		return nil, err
	}
	if track {
		c.lockouts.Succeed(key)
	}
	if resp == nil || resp.Auth == nil {
		return c.finish(resp, route.Type, nil)
	}
	if c.incidents.Guard().LoginBlocked(route.Path, resp.Auth.Metadata, resp.Auth.InternalData) {
		// An open incident blocks this role or certificate.
		return nil, logical.PermissionDenied()
	}
	ao, err := c.issueLoginToken(ctx, route, rel, resp.Auth, now)
	if err != nil {
		return nil, err
	}
	return &Response{Response: &logical.Response{Warnings: resp.Warnings}, MountType: route.Type, Auth: ao}, nil
}

// issueLoginToken turns an auth method's login result into an orphan
// token attached to an identity entity.
func (c *Core) issueLoginToken(ctx context.Context, route *router.Route, rel string, a *logical.Auth, now time.Time) (*AuthOutput, error) {
	var entityID string
	if a.EntityID != "" && c.identity != nil {
		e, err := c.identity.Entity(ctx, a.EntityID)
		if err != nil || e.Disabled {
			return nil, logical.PermissionDenied()
		}
		entityID = e.ID
	} else if a.Alias != nil && a.Alias.Name != "" && c.identity != nil {
		id, err := c.identity.LoginEntity(ctx, route.Accessor, route.Type, *a.Alias)
		if err != nil {
			return nil, err
		}
		entityID = id
		if err := c.identity.LoginGroups(ctx, route.Accessor, entityID, a.GroupAliases); err != nil {
			return nil, err
		}
	}
	display := route.Type
	if a.DisplayName != "" {
		display += "-" + a.DisplayName
	}
	sv := c.systemViewFor(route.Path)
	e := &token.Entry{
		Policies:       token.Policies(a.Policies, a.NoDefaultPolicy),
		DisplayName:    display,
		Path:           route.Path + rel,
		Meta:           a.Metadata,
		TTL:            a.TTL,
		MaxTTL:         a.MaxTTL,
		ExplicitMaxTTL: a.ExplicitMaxTTL,
		Period:         a.Period,
		NumUses:        a.NumUses,
		Renewable:      true,
		Type:           a.TokenType,
		EntityID:       entityID,
		BoundCIDRs:     a.BoundCIDRs,
		MountAccessor:  route.Accessor,
		InternalData:   a.InternalData,
	}
	if err := token.ApplyTTLs(e, sv.DefaultLeaseTTL(), sv.MaxLeaseTTL()); err != nil {
		return nil, tokenRuleError(err)
	}
	return c.createToken(ctx, "", e, now)
}

// createToken stores e and returns the auth block for the response.
func (c *Core) createToken(ctx context.Context, id token.ID, e *token.Entry, now time.Time) (*AuthOutput, error) {
	newID, _, err := c.tokens.Create(ctx, id, e, now)
	if err != nil {
		return nil, tokenRuleError(err)
	}
	return c.authOutput(ctx, newID, e), nil
}

// authOutput renders a token for a response's auth block.
func (c *Core) authOutput(ctx context.Context, id token.ID, e *token.Entry) *AuthOutput {
	ao := &AuthOutput{
		ClientToken:   string(id),
		Accessor:      e.Accessor,
		Policies:      e.Policies,
		TokenPolicies: e.Policies,
		Metadata:      e.Meta,
		LeaseDuration: int64(e.TTL / time.Second),
		Renewable:     e.Renewable,
		EntityID:      e.EntityID,
		TokenType:     e.Type,
		Orphan:        e.Parent == "",
		NumUses:       e.NumUses,
	}
	if e.EntityID != "" && c.identity != nil {
		if ip, err := c.identity.Policies(ctx, e.EntityID); err == nil && len(ip) > 0 {
			ao.IdentityPolicies = ip
			all := append(slices.Clone(e.Policies), ip...)
			slices.Sort(all)
			ao.Policies = slices.Compact(all)
		}
	}
	return ao
}

// systemViewFor returns the TTL settings of the mount at path.
func (c *Core) systemViewFor(path string) mount.SystemView {
	_, cfg, _ := c.mountAt(path)
	return c.systemView(cfg)
}
