package core

import (
	"container/list"
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/token"
)

// maxLockoutEntries caps the lockout table. Only aliases that exist are
// tracked, so the cap is reached only with that many users or roles
// failing at once; beyond it the entry whose counting window began
// first is evicted (which may lift its lockout early).
const maxLockoutEntries = 100_000

// lockoutSweepInterval is how often, at most, the whole lockout table is
// swept for expired entries; expired entries met in between are removed
// as they are met.
const lockoutSweepInterval = time.Minute

// lockouts counts failed logins per auth mount accessor and alias name.
// An entry expires when both its counting window and its lockout are
// over; expired entries are removed on access and by a sweep at most
// every lockoutSweepInterval. The table holds at most max entries. It is
// safe for concurrent use; times are passed in, so tests drive the clock.
type lockouts struct {
	mu        sync.Mutex
	max       int                          // fixed at construction
	state     map[lockoutKey]*list.Element // guarded by mu; values are *lockoutState
	order     *list.List                   // guarded by mu; oldest window first
	nextSweep time.Time                    // guarded by mu
}

type lockoutKey struct{ accessor, name string }

type lockoutState struct {
	key         lockoutKey
	failures    int
	firstFail   time.Time
	lockedUntil time.Time
	expires     time.Time // the later of firstFail plus the counter reset and lockedUntil
}

func newLockouts(maxEntries int) *lockouts {
	return &lockouts{max: maxEntries, state: map[lockoutKey]*list.Element{}, order: list.New()}
}

func (l *lockouts) reset() {
	l.mu.Lock()
	l.state = map[lockoutKey]*list.Element{}
	l.order.Init()
	l.mu.Unlock()
}

// liveLocked returns the entry of k, or nil when there is none or it
// expired at now (it is then removed).
func (l *lockouts) liveLocked(k lockoutKey, now time.Time) *lockoutState {
	el := l.state[k]
	if el == nil {
		return nil
	}
	st := el.Value.(*lockoutState)
	if !now.Before(st.expires) {
		l.removeLocked(el)
		return nil
	}
	return st
}

func (l *lockouts) removeLocked(el *list.Element) {
	delete(l.state, el.Value.(*lockoutState).key)
	l.order.Remove(el)
}

// sweepLocked removes every expired entry when a sweep is due at now.
func (l *lockouts) sweepLocked(now time.Time) {
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(lockoutSweepInterval)
	for el := l.order.Front(); el != nil; {
		next := el.Next()
		if !now.Before(el.Value.(*lockoutState).expires) {
			l.removeLocked(el)
		}
		el = next
	}
}

// locked reports whether the alias is locked out at now.
func (l *lockouts) locked(k lockoutKey, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.liveLocked(k, now)
	return st != nil && now.Before(st.lockedUntil)
}

// fail records a failed login of an existing alias and reports whether it
// locked the alias.
func (l *lockouts) fail(k lockoutKey, cfg LockoutConfig, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	st := l.liveLocked(k, now)
	if st == nil || now.Sub(st.firstFail) > cfg.CounterReset || (!st.lockedUntil.IsZero() && !now.Before(st.lockedUntil)) {
		if el := l.state[k]; el != nil {
			l.removeLocked(el)
		}
		for l.order.Len() >= l.max {
			l.removeLocked(l.order.Front())
		}
		st = &lockoutState{key: k, firstFail: now}
		l.state[k] = l.order.PushBack(st)
	}
	st.failures++
	st.expires = st.firstFail.Add(cfg.CounterReset)
	locked := false
	if st.failures >= cfg.Threshold && st.lockedUntil.IsZero() {
		st.lockedUntil = now.Add(cfg.Duration)
		locked = true
	}
	if st.lockedUntil.After(st.expires) {
		st.expires = st.lockedUntil
	}
	return locked
}

// succeed clears the failures of an alias after a good login.
func (l *lockouts) succeed(k lockoutKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.state[k]; el != nil {
		l.removeLocked(el)
	}
}

// unlock lifts a lockout; it reports whether there was an entry.
func (l *lockouts) unlock(k lockoutKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.state[k]
	if el != nil {
		l.removeLocked(el)
	}
	return el != nil
}

// size returns the number of live entries at now (for metrics).
func (l *lockouts) size(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	return len(l.state)
}

// lockedNames returns the locked aliases by mount accessor at now.
func (l *lockouts) lockedNames(now time.Time) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for k, el := range l.state {
		if now.Before(el.Value.(*lockoutState).lockedUntil) {
			out[k.accessor] = append(out[k.accessor], k.name)
		}
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
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
			return base.Over(m.Config.Lockout).WithDefaults()
		}
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
	var key lockoutKey
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
			key = lockoutKey{accessor: route.Accessor, name: ahead.Name}
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
func (c *Core) systemViewFor(path string) mountSystemView {
	for _, m := range c.Mounts() {
		if m.Path == path {
			return mountSystemView{c: c, m: m.Config}
		}
	}
	return mountSystemView{c: c}
}
