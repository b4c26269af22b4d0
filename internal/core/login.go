package core

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/token"
)

// LockoutConfig is an auth mount's user lockout setting (Vault's
// user_lockout_config). Zero values mean the defaults.
type LockoutConfig struct {
	// Threshold is how many failed logins lock an alias out (default 5).
	Threshold int `json:"lockout_threshold,omitempty"`
	// Duration is how long a lockout lasts (default 15m).
	Duration time.Duration `json:"lockout_duration,omitempty"`
	// CounterReset is the window failures are counted in (default 15m).
	CounterReset time.Duration `json:"lockout_counter_reset,omitempty"`
	// Disable turns lockout off for the mount.
	Disable bool `json:"lockout_disable,omitempty"`
}

func (l LockoutConfig) withDefaults() LockoutConfig {
	if l.Threshold <= 0 {
		l.Threshold = 5
	}
	if l.Duration <= 0 {
		l.Duration = 15 * time.Minute
	}
	if l.CounterReset <= 0 {
		l.CounterReset = 15 * time.Minute
	}
	return l
}

// lockouts counts failed logins per auth mount accessor and alias name.
type lockouts struct {
	mu    sync.Mutex
	state map[lockoutKey]*lockoutState // guarded by mu
}

type lockoutKey struct{ accessor, name string }

type lockoutState struct {
	failures    int
	firstFail   time.Time
	lockedUntil time.Time
}

func newLockouts() *lockouts { return &lockouts{state: map[lockoutKey]*lockoutState{}} }

func (l *lockouts) reset() {
	l.mu.Lock()
	l.state = map[lockoutKey]*lockoutState{}
	l.mu.Unlock()
}

// locked reports whether the alias is locked out at now.
func (l *lockouts) locked(k lockoutKey, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state[k]
	return st != nil && now.Before(st.lockedUntil)
}

// fail records a failed login and reports whether it locked the alias.
func (l *lockouts) fail(k lockoutKey, cfg LockoutConfig, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.state[k]
	if st == nil || now.Sub(st.firstFail) > cfg.CounterReset || (!st.lockedUntil.IsZero() && !now.Before(st.lockedUntil)) {
		st = &lockoutState{firstFail: now}
		l.state[k] = st
	}
	st.failures++
	if st.failures >= cfg.Threshold && st.lockedUntil.IsZero() {
		st.lockedUntil = now.Add(cfg.Duration)
		return true
	}
	return false
}

// succeed clears the failures of an alias after a good login.
func (l *lockouts) succeed(k lockoutKey) {
	l.mu.Lock()
	delete(l.state, k)
	l.mu.Unlock()
}

// unlock lifts a lockout; it reports whether there was one.
func (l *lockouts) unlock(k lockoutKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.state[k]
	delete(l.state, k)
	return ok
}

// lockedNames returns the locked aliases by mount accessor at now.
func (l *lockouts) lockedNames(now time.Time) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for k, st := range l.state {
		if now.Before(st.lockedUntil) {
			out[k.accessor] = append(out[k.accessor], k.name)
		}
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
}

// over returns l with the fields o sets (non-zero) taking their place.
func (l LockoutConfig) over(o LockoutConfig) LockoutConfig {
	if o.Threshold > 0 {
		l.Threshold = o.Threshold
	}
	if o.Duration > 0 {
		l.Duration = o.Duration
	}
	if o.CounterReset > 0 {
		l.CounterReset = o.CounterReset
	}
	if o.Disable {
		l.Disable = true
	}
	return l
}

// lockoutConfig returns the lockout setting of the auth mount at path:
// its own user_lockout_config over the server's setting for its type (or
// "all"), over the defaults.
func (c *Core) lockoutConfig(path string) LockoutConfig {
	for _, m := range c.Mounts() {
		if m.Path == path {
			base, ok := c.opts.Lockout[m.Type]
			if !ok {
				base = c.opts.Lockout["all"]
			}
			return base.over(m.Config.Lockout).withDefaults()
		}
	}
	return c.opts.Lockout["all"].withDefaults()
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
	var key lockoutKey
	cfg := c.lockoutConfig(route.Path)
	track := false
	if la, ok := route.Backend.(logical.AliasLookahead); ok && !cfg.Disable {
		name, ok, err := la.LookaheadAlias(ctx, &lreq)
		if err != nil {
			return nil, err
		}
		if ok {
			key = lockoutKey{accessor: route.Accessor, name: name}
			track = true
			if c.lockouts.locked(key, now) {
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
			if c.lockouts.fail(key, cfg, now) {
				c.logger.Warn("login locked out after repeated failures", "mount", route.Path, "alias", key.name, "for", cfg.Duration)
			}
		}
		return nil, err
	}
	if track {
		c.lockouts.succeed(key)
	}
	if resp == nil || resp.Auth == nil {
		return c.finish(resp, route.Type, nil)
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
	if a.Alias != nil && a.Alias.Name != "" && c.identity != nil {
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
		Policies:       tokenPolicies(a.Policies, a.NoDefaultPolicy),
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
	if err := c.applyTTLs(e, sv.DefaultLeaseTTL(), sv.MaxLeaseTTL()); err != nil {
		return nil, err
	}
	return c.createToken(ctx, "", e, now)
}

// tokenPolicies returns the sorted, deduplicated policies of a new token,
// with "default" unless noDefault; a root token keeps only "root".
func tokenPolicies(in []string, noDefault bool) []string {
	out := slices.Clone(in)
	if slices.Contains(out, "root") {
		return []string{"root"}
	}
	if !noDefault {
		out = append(out, policy.DefaultPolicyName)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// applyTTLs settles a new token's TTL within the mount's limits: the
// requested TTL or the default, capped by the maximum (periodic tokens use
// their period and are capped only by an explicit maximum).
func (c *Core) applyTTLs(e *token.Entry, def, maxTTL time.Duration) error {
	if e.Type == "" || e.Type == "default" || e.Type == "default-service" {
		e.Type = token.TypeService
	} else if e.Type == "default-batch" {
		e.Type = token.TypeBatch
	}
	if e.Type != token.TypeService && e.Type != token.TypeBatch {
		return logical.InvalidRequest("invalid token type %q: want service or batch", e.Type)
	}
	if e.Type == token.TypeBatch {
		if e.Period > 0 || e.NumUses > 0 {
			return logical.InvalidRequest("batch tokens cannot be periodic or have limited uses")
		}
		e.Renewable = false
	}
	if e.Period > 0 {
		e.TTL = e.Period
		e.MaxTTL = 0
	} else {
		if e.TTL <= 0 {
			e.TTL = def
		}
		if e.MaxTTL <= 0 || e.MaxTTL > maxTTL {
			e.MaxTTL = maxTTL
		}
		if e.TTL > e.MaxTTL {
			e.TTL = e.MaxTTL
		}
	}
	if e.ExplicitMaxTTL > 0 && e.TTL > e.ExplicitMaxTTL {
		e.TTL = e.ExplicitMaxTTL
	}
	return nil
}

// createToken stores e and returns the auth block for the response.
func (c *Core) createToken(ctx context.Context, id token.ID, e *token.Entry, now time.Time) (*AuthOutput, error) {
	newID, _, err := c.tokens.Create(ctx, id, e, now)
	if err != nil {
		if errors.Is(err, token.ErrInvalidID) {
			return nil, logical.InvalidRequest("%s", err.Error())
		}
		return nil, err
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
func (c *Core) systemViewFor(path string) mountSystemView {
	for _, m := range c.Mounts() {
		if m.Path == path {
			return mountSystemView{c: c, m: m.Config}
		}
	}
	return mountSystemView{c: c}
}
