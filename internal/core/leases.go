package core

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/lease"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/router"
)

// leaseRevoker is the [lease.Revoker] core gives the expiration manager:
// it finds the mount that issued a lease and calls its [logical.Leaser].
type leaseRevoker struct{ c *Core }

func (r leaseRevoker) leaser(e *lease.Entry) (logical.Leaser, bool) {
	route, rel, ok := r.c.router.Match(e.MountPath)
	if !ok || rel != "" || route.Path != e.MountPath {
		return nil, false
	}
	l, ok := route.Backend.(logical.Leaser)
	return l, ok
}

func leasedSecret(e *lease.Entry, inc time.Duration) *logical.LeasedSecret {
	return &logical.LeasedSecret{LeaseID: e.LeaseID, Path: e.Path, InternalData: e.InternalData, IssueTime: e.IssueTime, Increment: inc}
}

// RevokeLease revokes the secret in its backend. A lease whose mount is
// gone has nothing left to revoke.
func (r leaseRevoker) RevokeLease(ctx context.Context, e *lease.Entry) error {
	l, ok := r.leaser(e)
	if !ok {
		return nil
	}
	return l.RevokeSecret(ctx, leasedSecret(e, 0))
}

// RenewLease asks the backend to extend the secret.
func (r leaseRevoker) RenewLease(ctx context.Context, e *lease.Entry, inc time.Duration) (time.Duration, error) {
	l, ok := r.leaser(e)
	if !ok {
		return 0, logical.InvalidRequest("the mount that issued this lease is gone")
	}
	return l.RenewSecret(ctx, leasedSecret(e, inc))
}

// registerLease records a lease for a response carrying a secret and fills
// in the response's lease fields. The lease never outlives the mount's
// maximum TTL nor the token that asked for it.
func (c *Core) registerLease(ctx context.Context, route *router.Route, rel string, cl *caller, out *Response) error {
	s := out.Response.Secret
	sv := c.systemViewFor(route.Path)
	ttl := s.TTL
	if ttl <= 0 {
		ttl = sv.DefaultLeaseTTL()
	}
	maxTTL := sv.MaxLeaseTTL()
	if s.MaxTTL > 0 && s.MaxTTL < maxTTL {
		maxTTL = s.MaxTTL
	}
	ttl = min(ttl, maxTTL)
	if exp := cl.entry.ExpireTime(); !exp.IsZero() {
		if left := exp.Sub(c.now()); left < ttl {
			ttl = max(left, 0)
		}
	}
	e, err := c.leases.Register(ctx, lease.Request{
		MountPath:    route.Path,
		Path:         rel,
		TokenHash:    cl.hash,
		TTL:          ttl,
		MaxTTL:       maxTTL,
		Renewable:    s.Renewable,
		InternalData: s.InternalData,
	})
	if err != nil {
		// The credential exists in the target system but nothing would
		// revoke it: take it back now.
		if l, ok := route.Backend.(logical.Leaser); ok {
			if rerr := l.RevokeSecret(context.WithoutCancel(ctx), &logical.LeasedSecret{Path: rel, InternalData: s.InternalData, IssueTime: c.now()}); rerr != nil {
				c.logger.Error("revoke a secret whose lease could not be stored", "mount", route.Path, "err", rerr)
			}
		}
		return err
	}
	out.LeaseID = e.LeaseID
	out.LeaseDuration = int64(ttl / time.Second)
	out.Renewable = s.Renewable
	return nil
}

// leasePaths are the sys/ endpoints of the expiration manager, with
// Vault's older sys/renew and sys/revoke aliases.
func (c *Core) leasePaths() []*framework.Path {
	h := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	return []*framework.Path{
		{Pattern: `leases`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysLeases}), Synopsis: "Count leases and list the irrevocable ones."},
		{Pattern: `leases/lookup`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysLeaseLookup)}), Synopsis: "Look up a lease."},
		{Pattern: `leases/lookup/?(?P<prefix>.*)`, Operations: h(map[logical.Operation]framework.Handler{logical.ListOperation: c.sysLeaseList}), Synopsis: "List leases under a prefix."},
		{Pattern: `(leases/)?renew(/(?P<id>.+))?`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysLeaseRenew)}), Synopsis: "Renew a lease."},
		{Pattern: `(leases/)?revoke(/(?P<id>.+))?`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysLeaseRevoke)}), Synopsis: "Revoke a lease."},
		{Pattern: `(leases/)?revoke-prefix/(?P<prefix>.+)`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: c.sysLeaseRevokePrefix(false)}), Synopsis: "Revoke every lease under a prefix."},
		{Pattern: `(leases/)?revoke-force/(?P<prefix>.+)`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: c.sysLeaseRevokePrefix(true)}), Synopsis: "Remove every lease under a prefix, even if the backend cannot revoke it."},
		{Pattern: `leases/tidy`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: c.sysLeaseTidy}), Synopsis: "Clean up the lease indexes."},
	}
}

type leaseInput struct {
	LeaseID   string             `json:"lease_id"`
	Increment framework.Duration `json:"increment"`
	Sync      framework.Bool     `json:"sync"`
}

// leaseError maps the expiration manager's errors to request errors, with
// Vault's words; notFound is what an unknown lease is called (Vault says
// "invalid lease" on lookup and "lease not found" on renewal).
func leaseError(err error, notFound string) error {
	switch {
	case errors.Is(err, lease.ErrNotFound):
		return logical.InvalidRequest("%s", notFound)
	case errors.Is(err, lease.ErrExpired):
		return logical.InvalidRequest("lease expired")
	case errors.Is(err, lease.ErrNotRenewable):
		return logical.InvalidRequest("lease is not renewable")
	}
	return err
}

// leaseID returns the lease ID of a request, from the body or the path;
// Vault refuses a request without one.
func leaseID(in *leaseInput, m *framework.Match) (string, error) {
	id := in.LeaseID
	if id == "" {
		id = m.Get("id")
	}
	if id == "" {
		return "", logical.InvalidRequest("lease_id must be specified")
	}
	return id, nil
}

// leaseLookupOutput is sys/leases/lookup's answer.
type leaseLookupOutput struct {
	ID          string  `json:"id"`
	IssueTime   string  `json:"issue_time"`
	ExpireTime  string  `json:"expire_time"`
	LastRenewal *string `json:"last_renewal"`
	Renewable   bool    `json:"renewable"`
	TTL         int64   `json:"ttl"`
}

func (c *Core) sysLeaseLookup(ctx context.Context, req *logical.Request, m *framework.Match, in *leaseInput) (*logical.Response, error) {
	if in.LeaseID == "" {
		return nil, logical.InvalidRequest("lease_id must be specified")
	}
	e, err := c.leases.Lookup(ctx, in.LeaseID)
	if err != nil {
		return nil, leaseError(err, "invalid lease")
	}
	out := leaseLookupOutput{
		ID:         e.LeaseID,
		IssueTime:  e.IssueTime.Format(time.RFC3339Nano),
		ExpireTime: e.ExpireTime.Format(time.RFC3339Nano),
		Renewable:  e.Renewable,
		TTL:        int64(e.TTL(c.now()) / time.Second),
	}
	if !e.LastRenewal.IsZero() {
		s := e.LastRenewal.Format(time.RFC3339Nano)
		out.LastRenewal = &s
	}
	return &logical.Response{Data: out}, nil
}

func (c *Core) sysLeaseList(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := c.leases.List(ctx, m.Get("prefix"))
	if err != nil {
		return nil, leaseError(err, "invalid prefix")
	}
	return framework.ListResponse(keys)
}

// leaseRenewed is what sys/leases/renew answers: the lease fields of the
// envelope, carried out of band like a token's auth block.
type leaseRenewed struct {
	LeaseID       string
	LeaseDuration int64
	Renewable     bool
}

func (c *Core) sysLeaseRenew(ctx context.Context, req *logical.Request, m *framework.Match, in *leaseInput) (*logical.Response, error) {
	id, err := leaseID(in, m)
	if err != nil {
		return nil, err
	}
	var limit time.Time
	if cl := callerFrom(ctx); cl != nil && !cl.entry.IsRoot() {
		limit = cl.entry.ExpireTime()
	}
	e, err := c.leases.Renew(ctx, id, time.Duration(in.Increment), limit)
	if err != nil {
		return nil, leaseError(err, "lease not found")
	}
	// The lease duration is the TTL granted, not one recomputed after the
	// renewal took its time.
	return &logical.Response{Data: &leaseRenewed{LeaseID: e.LeaseID, LeaseDuration: int64(e.GrantedTTL() / time.Second), Renewable: e.Renewable}}, nil
}

func (c *Core) sysLeaseRevoke(ctx context.Context, req *logical.Request, m *framework.Match, in *leaseInput) (*logical.Response, error) {
	id, err := leaseID(in, m)
	if err != nil {
		return nil, err
	}
	if err := c.leases.Revoke(ctx, id, false); err != nil {
		if errors.Is(err, lease.ErrNotFound) {
			// Revocation is idempotent, as in Vault: a lease that is
			// already gone (or never existed) answers success.
			return nil, nil
		}
		return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "revoking the lease failed in the backend; it will be retried", Err: err}
	}
	return nil, nil
}

func (c *Core) sysLeaseRevokePrefix(force bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		prefix := m.Get("prefix")
		if strings.HasPrefix(prefix, authPrefix) {
			// Under auth/ the prefix names token creation paths, as in
			// Vault: revoke the tokens created there.
			if err := c.tokens.RevokeByPathPrefix(ctx, strings.TrimSuffix(prefix, "/"), c.now()); err != nil {
				return nil, err
			}
		}
		err := c.leases.RevokePrefix(ctx, prefix, force)
		if errors.Is(err, lease.ErrNotFound) {
			return nil, logical.InvalidRequest("invalid prefix %q", prefix)
		}
		if err != nil {
			return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "some leases could not be revoked in their backend; they will be retried", Err: err}
		}
		return nil, nil
	}
}

func (c *Core) sysLeaseTidy(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if err := c.leases.Tidy(ctx); err != nil {
		return nil, err
	}
	return &logical.Response{Warnings: []string{"Tidy of the lease indexes finished."}}, nil
}

// irrevocableOutput describes a lease whose revocation keeps failing.
type irrevocableOutput struct {
	LeaseID     string `json:"lease_id"`
	MountPath   string `json:"mount_path"`
	ExpireTime  string `json:"expire_time"`
	Attempts    int    `json:"revoke_attempts"`
	Error       string `json:"error"`
	NextAttempt string `json:"next_attempt"`
	Irrevocable bool   `json:"irrevocable"`
}

func (c *Core) sysLeases(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	entries, err := c.leases.Irrevocable(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]irrevocableOutput, 0, len(entries))
	for _, e := range entries {
		out = append(out, irrevocableOutput{
			LeaseID: e.LeaseID, MountPath: e.MountPath, ExpireTime: e.ExpireTime.Format(time.RFC3339),
			Attempts: e.RevokeAttempts, Error: e.LastError, NextAttempt: e.NextAttempt.Format(time.RFC3339), Irrevocable: e.Irrevocable(),
		})
	}
	return &logical.Response{Data: map[string]any{"lease_count": c.leases.Count(), "failing_revocations": out}}, nil
}
