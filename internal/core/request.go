package core

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/sys/leases"
	"github.com/coffer-secrets/coffer/internal/token"
)

// Request is a client request as core sees it: the backend's part, plus
// what only core may know.
type Request struct {
	*logical.Request
	// ClientToken is the caller's token, "" when none was sent.
	ClientToken token.ID
	// WrapTTL, when positive, asks for the response to be wrapped.
	WrapTTL time.Duration
	// ForwardActive makes a standby forward the request to the active
	// node whatever it is ([ha.ErrStandby]): the client asked for it
	// (X-Vault-Forward) or the standby has not reached the state the
	// client required (X-Vault-Index).
	ForwardActive bool
}

// Response is a backend's response plus what the HTTP layer reports with
// it.
type Response struct {
	*logical.Response
	// MountType is the type of the mount that answered, e.g. "kv".
	MountType string
	// Auth is set when the request made a token (a login, a token create).
	Auth *AuthOutput
	// LeaseID, LeaseDuration and Renewable describe the response's lease.
	LeaseID       string
	LeaseDuration int64
	Renewable     bool
	// Wrap is set when the answer is itself a wrapped response (rewrap).
	Wrap *WrapInfo
}

// AuthOutput is the "auth" block of a response that made a token, in
// Vault's shape.
type AuthOutput struct {
	ClientToken      string            `json:"client_token"`
	Accessor         string            `json:"accessor"`
	Policies         []string          `json:"policies"`
	TokenPolicies    []string          `json:"token_policies"`
	IdentityPolicies []string          `json:"identity_policies,omitempty"`
	Metadata         map[string]string `json:"metadata"`
	LeaseDuration    int64             `json:"lease_duration"`
	Renewable        bool              `json:"renewable"`
	EntityID         string            `json:"entity_id"`
	TokenType        string            `json:"token_type"`
	Orphan           bool              `json:"orphan"`
	MFARequirement   any               `json:"mfa_requirement"`
	NumUses          int               `json:"num_uses"`
}

// caller is who sent a request, as checked by the pipeline. Handlers that
// core serves itself (sys/, auth/token/) read it from the context.
type caller struct {
	id       token.ID
	hash     string // "" for batch tokens
	entry    *token.Entry
	acl      *policy.ACL
	identity []string // policies from the caller's identity entity and groups
	sudo     bool     // the caller holds sudo on the request path
}

type callerKey struct{}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerFrom returns the request's caller; nil for unauthenticated paths.
func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// HandleRequest runs the pipeline: seal check, login paths, token lookup,
// permission check, then the sys handlers or the mounted backend. Errors
// carry the logical error kinds, [ErrSealed] or an internal cause.
//
// When audit devices are enabled, every request that reaches the pipeline
// is recorded before it runs and its response after; when no device can
// record the request it does not run (fail closed), and when none can
// record the response the caller gets an error instead of it.
func (c *Core) HandleRequest(ctx context.Context, req *Request) (*Response, error) {
	if req.Path == "sys/seal" {
		return nil, c.handleSealRequest(ctx, req)
	}
	resp, barrier, err := c.handleLocked(ctx, req)
	if barrier != 0 {
		// Outside the state lock: the wait may last up to the standby
		// lag bound, and role changes must not wait for it.
		c.clusterBarrier(ctx, barrier)
	}
	return resp, err
}

// handleLocked is HandleRequest under the state lock. barrier is the
// notice index the cluster must apply before the answer goes out (see
// [needsClusterBarrier]); 0 for none.
func (c *Core) handleLocked(ctx context.Context, req *Request) (resp *Response, barrier uint64, err error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil, 0, ErrSealed
	}
	var freshUntil time.Time
	if c.standby() {
		until, ok := c.servableOnStandby(req)
		if req.ForwardActive || !ok {
			return nil, 0, ha.ErrStandby
		}
		freshUntil = until
	}
	before, wrote := c.haIndex(), c.haCommits()
	defer func() {
		if !needsClusterBarrier(req) {
			return
		}
		if after := c.haIndex(); after > before {
			barrier = after
		} else if c.haCommits() > wrote {
			// Committed, but the node stopped being active before a
			// notice went out: wait out every lease it granted.
			barrier = ha.Unnumbered
		}
	}()
	resp, err = c.handleAudited(ctx, req, freshUntil)
	return resp, 0, err
}

// handleAudited runs the pipeline between the audit entries. A standby
// serving req under a read lease passes the lease's end as freshUntil
// (zero otherwise): when the lease ended while the request ran (after its
// token and policy checks, before the answer), the answer may be older
// than the lag bound allows and the request goes to the active node
// instead ([ha.ErrStandby]; standbys serve only reads, so it is safe to
// run it again there).
func (c *Core) handleAudited(ctx context.Context, req *Request, freshUntil time.Time) (*Response, error) {
	rec := &auditRecord{start: c.now()}
	resp, err := c.handleRequest(ctx, req, rec)
	if !freshUntil.IsZero() && !time.Now().Before(freshUntil) {
		// A later lease does not help: what the request read may be
		// older than that lease's index.
		resp, err = nil, ha.ErrStandby
	}
	err = c.redactError(req.Path, err)
	if aerr := c.auditRequest(ctx, req, rec); aerr != nil {
		return nil, aerr
	}
	if errors.Is(err, ha.ErrStandby) {
		// A standby found part way that the request writes (a use of a
		// token with limited uses, a lease): it goes to the active node,
		// and the forward entry that follows the request entry in this
		// node's log is its outcome here.
		return nil, err
	}
	if aerr := c.auditResponse(ctx, req, rec, resp, err); aerr != nil {
		return nil, aerr
	}
	return resp, err
}

// handleRequest runs the pipeline for HandleRequest. It writes the
// request's audit entry itself, once it knows the caller and the mount and
// before anything runs.
func (c *Core) handleRequest(ctx context.Context, req *Request, rec *auditRecord) (*Response, error) {
	if isWrappingPath(req.Path) {
		if req.Operation != logical.UpdateOperation && !(req.Path == "sys/wrapping/lookup" && req.Operation == logical.ReadOperation) {
			return nil, logical.Unsupported(req.Operation, req.Path)
		}
		rec.mountType, rec.mountPoint = "system", "sys/"
		if err := c.auditRequest(ctx, req, rec); err != nil {
			return nil, err
		}
		return c.handleWrapping(ctx, req)
	}
	if isCeremonyPath(req.Path) {
		// Unauthenticated, as in Vault: the key shares are the authority.
		rec.mountType, rec.mountPoint = "system", "sys/"
		if err := c.auditRequest(ctx, req, rec); err != nil {
			return nil, err
		}
		return c.handleCeremony(ctx, req)
	}
	if req.Path == "sys/wrapping/wrap" && req.WrapTTL <= 0 {
		return nil, logical.InvalidRequest("sys/wrapping/wrap needs a wrap TTL (the X-Vault-Wrap-TTL header)")
	}
	isSys := req.Path == "sys" || strings.HasPrefix(req.Path, "sys/")
	var route *router.Route
	var rel string
	if !isSys {
		route, rel, _ = c.router.Match(req.Path)
		rec.route = route
		if route != nil && isLoginPath(route, rel) {
			if err := c.auditRequest(ctx, req, rec); err != nil {
				return nil, err
			}
			if c.guardRefuses(req, nil, nil) {
				// A banned address or a locked-down auth mount.
				return nil, logical.PermissionDenied()
			}
			return c.handleLogin(ctx, req, route, rel)
		}
	} else {
		rec.mountType, rec.mountPoint = "system", "sys/"
	}
	cl, err := c.authorize(ctx, req, route, rel)
	if cl != nil {
		rec.caller = cl
	}
	if err != nil {
		return nil, err
	}
	if err := c.auditRequest(ctx, req, rec); err != nil {
		return nil, err
	}
	ctx = withCaller(ctx, cl)
	if cl.entry.NumUses > 0 && c.standby() {
		// Counting a use is a write.
		return nil, ha.ErrStandby
	}
	if cl.entry.NumUses > 0 {
		last, err := c.tokens.Use(ctx, cl.hash)
		if err != nil {
			return nil, logical.PermissionDenied()
		}
		if last {
			// The last use is allowed; the token goes once it is done.
			defer func() {
				if err := c.tokens.Revoke(context.WithoutCancel(ctx), cl.hash); err != nil {
					c.logger.Error("revoke used-up token", "err", err)
				}
			}()
		}
	}
	if isSys {
		lreq := *req.Request
		lreq.Path = strings.TrimPrefix(strings.TrimPrefix(req.Path, "sys"), "/")
		lreq.MountPoint = "sys/"
		lreq.EntityID = cl.entry.EntityID
		lreq.DisplayName = cl.entry.DisplayName
		lreq.Accessor = cl.entry.Accessor
		lreq.Access = aclAccess{acl: cl.acl, withheld: func(path string) bool { return c.readWithheld(path, req, cl.acl) }}
		resp, err := c.sys.HandleRequest(ctx, &lreq)
		return c.finish(resp, "system", err)
	}
	if route == nil {
		return nil, &logical.Error{Kind: logical.ErrUnsupportedPath, Msg: "no handler for route \"" + req.Path + "\": route entry not found"}
	}
	lreq := *req.Request
	lreq.Path = rel
	lreq.MountPoint = route.Path
	lreq.EntityID = cl.entry.EntityID
	lreq.DisplayName = cl.entry.DisplayName
	lreq.CubbyholeID = cl.hash
	lreq.Accessor = cl.entry.Accessor
	lreq.Access = aclAccess{acl: cl.acl}
	resp, err := route.Backend.HandleRequest(ctx, &lreq)
	if err == nil && resp != nil && resp.Secret != nil && c.standby() {
		// Registering the lease is a write; the active node answers
		// instead (the request had no side effect here).
		return nil, ha.ErrStandby
	}
	out, err := c.finish(resp, route.Type, err)
	if err == nil && resp != nil && resp.Secret != nil {
		if err := c.registerLease(ctx, route, rel, cl, out); err != nil {
			return nil, err
		}
	}
	return out, err
}

// aclAccess is the caller's ACL as a [logical.AccessChecker].
type aclAccess struct {
	acl *policy.ACL
	// withheld, when set, reports whether the incident guard refuses the
	// caller a read of a path (see [aclAccess.ReadWithheld]).
	withheld func(path string) bool
}

// ReadWithheld reports whether an incident lockdown (or an address ban)
// would refuse the caller a read of path, whatever its ACL says; false
// when the guard is not wired (engines' requests). sys/leaks/check asks
// it before calling a match readable.
func (a aclAccess) ReadWithheld(path string) bool {
	return a.withheld != nil && a.withheld(path)
}

// Allowed checks path without parameters, so a rule that constrains
// parameters counts as allowing (the real request is checked with them).
func (a aclAccess) Allowed(path string, op logical.Operation) bool {
	return a.acl.Check(policy.Request{Path: path, Operation: string(op)}).Allowed
}

// AllowedParams checks path as a request with body params would be
// checked: the governing rule's capability, its parameter constraints
// and, on a sudo-protected path, sudo. params goes through JSON first, so
// its values are compared as a decoded request body's would be. Response
// wrapping bounds are not applied: they govern how an answer is
// delivered, and the caller's own request was checked against them.
// (Coffer has no control groups: policies that name them do not load.)
func (a aclAccess) AllowedParams(path string, op logical.Operation, params map[string]any) bool {
	preq := policy.Request{Path: path, Operation: string(op)}
	if len(params) > 0 && a.acl.NeedsParams(path) {
		body, err := json.Marshal(params)
		if err != nil {
			return false
		}
		if err := json.Unmarshal(body, &preq.Params); err != nil {
			return false
		}
	}
	dec := a.acl.Check(preq)
	return dec.Allowed && (dec.Sudo || !policy.NeedsSudo(path))
}

// finish wraps a backend's answer; a response that made a token (token
// create) carries its auth block out of band.
func (c *Core) finish(resp *logical.Response, mountType string, err error) (*Response, error) {
	if err != nil {
		return nil, err
	}
	out := &Response{Response: resp, MountType: mountType}
	if resp != nil {
		switch d := resp.Data.(type) {
		case *AuthOutput:
			out.Auth = d
			r := *resp
			r.Data = nil
			out.Response = &r
		case *leases.Renewed:
			out.LeaseID, out.LeaseDuration, out.Renewable = d.LeaseID, d.LeaseDuration, d.Renewable
			r := *resp
			r.Data = nil
			out.Response = &r
		}
	}
	return out, nil
}

// isLoginPath reports whether rel is one of the route's login paths.
func isLoginPath(route *router.Route, rel string) bool {
	lp, ok := route.Backend.(logical.LoginPaths)
	if !ok {
		return false
	}
	for _, p := range lp.LoginPaths() {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(rel, prefix) {
				return true
			}
		} else if rel == p {
			return true
		}
	}
	return false
}

// authorize checks the caller's token and its permission for the request.
// The caller holds stateMu for reading.
func (c *Core) authorize(ctx context.Context, req *Request, route *router.Route, rel string) (*caller, error) {
	te, hash, err := c.tokens.Lookup(ctx, req.ClientToken, c.now())
	if err != nil {
		return nil, err
	}
	if te == nil {
		return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "permission denied", Err: ErrInvalidToken}
	}
	if !te.UsableFrom(req.Connection.RemoteIP()) {
		return nil, logical.PermissionDenied()
	}
	cl := &caller{id: req.ClientToken, hash: hash, entry: te}
	names := te.Policies
	if te.EntityID != "" && c.identity != nil {
		// A disabled entity answers ErrPermissionDenied, refusing the token.
		ip, err := c.identity.Policies(ctx, te.EntityID)
		if err != nil {
			return nil, err
		}
		if len(ip) > 0 {
			cl.identity = ip
			names = append(slices.Clone(names), ip...)
		}
	}
	cl.acl = c.policies.EntityACL(names, te.EntityID, c.entities())
	op := req.Operation
	if op == logical.UpdateOperation && route != nil {
		if ec, ok := route.Backend.(logical.ExistenceChecker); ok {
			lreq := *req.Request
			lreq.Path = rel
			lreq.MountPoint = route.Path
			lreq.CubbyholeID = hash
			exists, handled, err := ec.ExistenceCheck(ctx, &lreq)
			if err != nil {
				return nil, err
			}
			if handled && !exists {
				op = logical.CreateOperation
				req.Operation = op
			}
		}
	}
	if c.guardRefuses(req, cl.acl, te) {
		// An incident bans the client's address, locks the path down or
		// blocks the login the token came from.
		return cl, logical.PermissionDenied()
	}
	if rest, ok := strings.CutPrefix(req.Path, "sys/internal/ui/mounts/"); ok && op == logical.ReadOperation {
		// As in Vault, a token may ask which mount serves a path when it
		// has any access under that mount (clients such as the kv
		// commands ask before every call).
		if r, _, found := c.router.Match(rest); found && cl.acl.AnyUnder(r.Path) {
			return cl, nil
		}
	}
	preq := policy.Request{Path: req.Path, Operation: string(op)}
	if cl.acl.NeedsParams(req.Path) {
		preq.Params = requestParams(req.Request)
	}
	dec := cl.acl.Check(preq)
	if !dec.Allowed {
		return cl, logical.PermissionDenied()
	}
	cl.sudo = dec.Sudo
	if policy.NeedsSudo(req.Path) && !dec.Sudo {
		return cl, logical.PermissionDenied()
	}
	if !dec.WrapTTLAllowed(req.WrapTTL) {
		return cl, logical.PermissionDenied()
	}
	return cl, nil
}

// requestParams decodes a request's parameters (body members, or query
// values for reads) for policies with parameter constraints.
func requestParams(req *logical.Request) map[string]any {
	params := map[string]any{}
	if len(req.Body) > 0 {
		json.Unmarshal(req.Body, &params)
	}
	for k, v := range req.Query {
		if _, ok := params[k]; !ok && len(v) > 0 {
			params[k] = v[0]
		}
	}
	return params
}

// handleSealRequest serves sys/seal. It checks the caller under the read
// lock, then seals under the write lock, so the seal is complete when the
// response is sent.
func (c *Core) handleSealRequest(ctx context.Context, req *Request) error {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return logical.Unsupported(req.Operation, req.Path)
	}
	c.stateMu.RLock()
	if c.Sealed() {
		c.stateMu.RUnlock()
		return ErrSealed
	}
	// The request and its outcome are audited before the seal unloads the
	// devices, whether the caller may seal or not.
	rec := &auditRecord{start: c.now(), mountType: "system", mountPoint: "sys/"}
	cl, err := c.authorize(ctx, req, nil, "")
	rec.caller = cl
	if aerr := c.auditRequest(ctx, req, rec); aerr != nil {
		c.stateMu.RUnlock()
		return aerr
	}
	var resp *Response
	if err == nil {
		resp = &Response{MountType: "system"}
	}
	aerr := c.auditResponse(ctx, req, rec, resp, err)
	c.stateMu.RUnlock()
	if err != nil {
		return err
	}
	if aerr != nil {
		return aerr
	}
	return c.Seal(ctx)
}
