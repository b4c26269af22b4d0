// Package leases serves the sys/ endpoints of the expiration manager:
// sys/leases (count and failing revocations), lookup, list, renew, revoke,
// revoke-prefix, revoke-force and tidy, with Vault's older sys/renew and
// sys/revoke aliases.
//
// Registering a lease for a response and revoking it in its backend stay
// in core's pipeline; this package reaches the expiration manager and the
// token store through the [Leases] and [Core] interfaces it declares and
// imports no core package. An [API] is safe for concurrent use.
package leases

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/lease"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Leases is the part of the expiration manager the endpoints use;
// [lease.Manager] implements it.
type Leases interface {
	Count() int64
	Lookup(ctx context.Context, id string) (*lease.Entry, error)
	List(ctx context.Context, prefix string) ([]string, error)
	Renew(ctx context.Context, id string, increment time.Duration, limit time.Time) (*lease.Entry, error)
	Revoke(ctx context.Context, id string, force bool) error
	RevokePrefix(ctx context.Context, prefix string, force bool) error
	Irrevocable(ctx context.Context) ([]*lease.Entry, error)
	Tidy(ctx context.Context) error
}

// Core is what the endpoints need from core besides the leases.
type Core interface {
	// CallerExpiry returns when the request's token expires, the limit of
	// a renewal; zero for a root token or one that does not expire.
	CallerExpiry(ctx context.Context) time.Time
	// RevokeTokensByPath revokes the tokens created under the auth path
	// prefix (e.g. "auth/userpass/login").
	RevokeTokensByPath(ctx context.Context, prefix string) error
}

// Options configures an [API].
type Options struct {
	Leases Leases
	Core   Core
	Clock  logical.Clock
}

// API serves the lease endpoints.
type API struct {
	opts Options
}

// New returns the lease endpoints.
func New(opts Options) *API { return &API{opts: opts} }

func (a *API) now() time.Time { return a.opts.Clock.Now().UTC() }

// Paths returns the lease endpoints, relative to sys/, in match order.
func (a *API) Paths() []*framework.Path {
	h := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	return []*framework.Path{
		{Pattern: `leases`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: a.leases}), Synopsis: "Count leases and list the irrevocable ones."},
		{Pattern: `leases/lookup`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.lookup)}), Synopsis: "Look up a lease."},
		{Pattern: `leases/lookup/?(?P<prefix>.*)`, Operations: h(map[logical.Operation]framework.Handler{logical.ListOperation: a.list}), Synopsis: "List leases under a prefix."},
		{Pattern: `(leases/)?renew(/(?P<id>.+))?`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.renew)}), Synopsis: "Renew a lease."},
		{Pattern: `(leases/)?revoke(/(?P<id>.+))?`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.revoke)}), Synopsis: "Revoke a lease."},
		{Pattern: `(leases/)?revoke-prefix/(?P<prefix>.+)`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: a.revokePrefix(false)}), Synopsis: "Revoke every lease under a prefix."},
		{Pattern: `(leases/)?revoke-force/(?P<prefix>.+)`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: a.revokePrefix(true)}), Synopsis: "Remove every lease under a prefix, even if the backend cannot revoke it."},
		{Pattern: `leases/tidy`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: a.tidy}), Synopsis: "Clean up the lease indexes."},
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

func (a *API) lookup(ctx context.Context, req *logical.Request, m *framework.Match, in *leaseInput) (*logical.Response, error) {
	if in.LeaseID == "" {
		return nil, logical.InvalidRequest("lease_id must be specified")
	}
	e, err := a.opts.Leases.Lookup(ctx, in.LeaseID)
	if err != nil {
		return nil, leaseError(err, "invalid lease")
	}
	out := leaseLookupOutput{
		ID:         e.LeaseID,
		IssueTime:  e.IssueTime.Format(time.RFC3339Nano),
		ExpireTime: e.ExpireTime.Format(time.RFC3339Nano),
		Renewable:  e.Renewable,
		TTL:        int64(e.TTL(a.now()) / time.Second),
	}
	if !e.LastRenewal.IsZero() {
		s := e.LastRenewal.Format(time.RFC3339Nano)
		out.LastRenewal = &s
	}
	return &logical.Response{Data: out}, nil
}

func (a *API) list(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := a.opts.Leases.List(ctx, m.Get("prefix"))
	if err != nil {
		return nil, leaseError(err, "invalid prefix")
	}
	return framework.ListResponse(keys)
}

// Renewed is what sys/leases/renew answers as its data: the lease fields
// of the envelope, which core carries out of band like a token's auth
// block.
type Renewed struct {
	LeaseID       string
	LeaseDuration int64
	Renewable     bool
}

func (a *API) renew(ctx context.Context, req *logical.Request, m *framework.Match, in *leaseInput) (*logical.Response, error) {
	id, err := leaseID(in, m)
	if err != nil {
		return nil, err
	}
	e, err := a.opts.Leases.Renew(ctx, id, time.Duration(in.Increment), a.opts.Core.CallerExpiry(ctx))
	if err != nil {
		return nil, leaseError(err, "lease not found")
	}
	// The lease duration is the TTL granted, not one recomputed after the
	// renewal took its time.
	return &logical.Response{Data: &Renewed{LeaseID: e.LeaseID, LeaseDuration: int64(e.GrantedTTL() / time.Second), Renewable: e.Renewable}}, nil
}

func (a *API) revoke(ctx context.Context, req *logical.Request, m *framework.Match, in *leaseInput) (*logical.Response, error) {
	id, err := leaseID(in, m)
	if err != nil {
		return nil, err
	}
	if err := a.opts.Leases.Revoke(ctx, id, false); err != nil {
		if errors.Is(err, lease.ErrNotFound) {
			// Revocation is idempotent, as in Vault: a lease that is
			// already gone (or never existed) answers success.
			return nil, nil
		}
		return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "revoking the lease failed in the backend; it will be retried", Err: err}
	}
	return nil, nil
}

func (a *API) revokePrefix(force bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		prefix := m.Get("prefix")
		if strings.HasPrefix(prefix, "auth/") {
			// Under auth/ the prefix names token creation paths, as in
			// Vault: revoke the tokens created there.
			if err := a.opts.Core.RevokeTokensByPath(ctx, strings.TrimSuffix(prefix, "/")); err != nil {
				return nil, err
			}
		}
		err := a.opts.Leases.RevokePrefix(ctx, prefix, force)
		if errors.Is(err, lease.ErrNotFound) {
			return nil, logical.InvalidRequest("invalid prefix %q", prefix)
		}
		if err != nil {
			return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "some leases could not be revoked in their backend; they will be retried", Err: err}
		}
		return nil, nil
	}
}

func (a *API) tidy(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if err := a.opts.Leases.Tidy(ctx); err != nil {
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

func (a *API) leases(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	entries, err := a.opts.Leases.Irrevocable(ctx)
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
	return &logical.Response{Data: map[string]any{"lease_count": a.opts.Leases.Count(), "failing_revocations": out}}, nil
}
