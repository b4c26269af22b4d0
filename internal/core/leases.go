package core

import (
	"context"
	"time"

	"github.com/coffer-secrets/coffer/internal/lease"
	"github.com/coffer-secrets/coffer/internal/logical"
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
	if err := l.RevokeSecret(ctx, leasedSecret(e, 0)); err != nil {
		return err
	}
	// The lease ID is left out: the path tells a consumer what it held.
	systemEvents(r).SendEvent(ctx, "lease/revoked", map[string]string{"path": e.MountPath + e.Path, "mount_path": e.MountPath, "operation": "revoke"})
	return nil
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
