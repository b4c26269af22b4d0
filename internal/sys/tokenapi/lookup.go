package tokenapi

import (
	"context"
	"errors"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/token"
)

// lookupOutput is a token as lookups report it.
type lookupOutput struct {
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

// lookupResponse reports the token e, whose ID is id ("" to leave it out).
func (b *backend) lookupResponse(ctx context.Context, id token.ID, e *token.Entry) *logical.Response {
	out := lookupOutput{
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
		out.TTL = int64(exp.Sub(b.now()) / time.Second)
	}
	if !e.LastRenewal.IsZero() {
		out.LastRenewal = e.LastRenewal.Format(time.RFC3339Nano)
		out.LastRenewalTime = e.LastRenewal.Unix()
	}
	if e.EntityID != "" {
		if ip := b.core.IdentityPolicies(ctx, e.EntityID); len(ip) > 0 {
			out.IdentityPolicies = ip
		}
	}
	return &logical.Response{Data: out}
}

// FindToken looks up the token id given in a request body at now; the
// entry is nil when no such token exists (or it expired). An empty id is
// a [logical.ErrInvalidRequest] error.
func FindToken(ctx context.Context, s Store, id string, now time.Time) (e *token.Entry, hash string, err error) {
	if id == "" {
		return nil, "", logical.InvalidRequest("missing token ID")
	}
	return s.Lookup(ctx, token.ID(id), now)
}

// LookupToken is [FindToken] for endpoints that need the token: one that
// does not exist is refused with [logical.ErrInvalidRequest] and msg
// (Vault's words differ by endpoint).
func LookupToken(ctx context.Context, s Store, id string, now time.Time, msg string) (*token.Entry, string, error) {
	e, h, err := FindToken(ctx, s, id, now)
	if err != nil {
		return nil, "", err
	}
	if e == nil {
		return nil, "", logical.InvalidRequest("%s", msg)
	}
	return e, h, nil
}

// LookupAccessor finds the token with the accessor given in a request
// body at now. A missing or unknown accessor is a
// [logical.ErrInvalidRequest] error.
func LookupAccessor(ctx context.Context, s Store, accessor string, now time.Time) (*token.Entry, string, error) {
	if accessor == "" {
		return nil, "", logical.InvalidRequest("missing accessor")
	}
	e, h, err := s.LookupAccessor(ctx, accessor, now)
	if err != nil {
		return nil, "", err
	}
	if e == nil {
		return nil, "", logical.InvalidRequest("invalid accessor")
	}
	return e, h, nil
}

type tokenInput struct {
	Token string `json:"token"`
}

type accessorInput struct {
	Accessor string `json:"accessor"`
}

type renewInput struct {
	Token     string             `json:"token"`
	Accessor  string             `json:"accessor"`
	Increment framework.Duration `json:"increment"`
}

func (b *backend) lookupSelf(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	cl, err := b.caller(ctx)
	if err != nil {
		return nil, err
	}
	return b.lookupResponse(ctx, cl.ID, cl.Entry), nil
}

func (b *backend) lookup(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenInput) (*logical.Response, error) {
	e, _, err := FindToken(ctx, b.tokens, in.Token, b.now())
	if err != nil {
		return nil, err
	}
	if e == nil {
		// As in Vault: an unknown token is a 403 with "bad token".
		return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "bad token"}
	}
	return b.lookupResponse(ctx, token.ID(in.Token), e), nil
}

func (b *backend) lookupQuery(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	return b.lookup(ctx, req, m, &tokenInput{Token: req.Query.Get("token")})
}

func (b *backend) lookupAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *accessorInput) (*logical.Response, error) {
	e, _, err := LookupAccessor(ctx, b.tokens, in.Accessor, b.now())
	if err != nil {
		return nil, err
	}
	return b.lookupResponse(ctx, "", e), nil
}

// renewHash extends the token with hash and answers with its auth block,
// showing id as the client token ("" to leave it out).
func (b *backend) renewHash(ctx context.Context, id token.ID, hash string, increment time.Duration) (*logical.Response, error) {
	if hash == "" {
		return nil, logical.InvalidRequest("batch tokens cannot be renewed")
	}
	e, err := b.tokens.Renew(ctx, hash, increment, b.now())
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
	return b.core.AuthResponse(ctx, id, e), nil
}

func (b *backend) renewSelf(ctx context.Context, req *logical.Request, m *framework.Match, in *renewInput) (*logical.Response, error) {
	cl, err := b.caller(ctx)
	if err != nil {
		return nil, err
	}
	return b.renewHash(ctx, cl.ID, cl.Hash, time.Duration(in.Increment))
}

func (b *backend) renew(ctx context.Context, req *logical.Request, m *framework.Match, in *renewInput) (*logical.Response, error) {
	_, h, err := LookupToken(ctx, b.tokens, in.Token, b.now(), "token not found")
	if err != nil {
		return nil, err
	}
	return b.renewHash(ctx, token.ID(in.Token), h, time.Duration(in.Increment))
}

func (b *backend) renewAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *renewInput) (*logical.Response, error) {
	_, h, err := LookupAccessor(ctx, b.tokens, in.Accessor, b.now())
	if err != nil {
		return nil, err
	}
	// Renewing by accessor must not hand out the token: no ID goes in.
	return b.renewHash(ctx, "", h, time.Duration(in.Increment))
}

func (b *backend) revokeSelf(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	cl, err := b.caller(ctx)
	if err != nil {
		return nil, err
	}
	if cl.Hash == "" {
		return nil, logical.InvalidRequest("batch tokens cannot be revoked")
	}
	return nil, b.tokens.Revoke(ctx, cl.Hash)
}

func (b *backend) revoke(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenInput) (*logical.Response, error) {
	e, h, err := FindToken(ctx, b.tokens, in.Token, b.now())
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
	return nil, b.tokens.Revoke(ctx, h)
}

func (b *backend) revokeOrphan(ctx context.Context, req *logical.Request, m *framework.Match, in *tokenInput) (*logical.Response, error) {
	_, h, err := LookupToken(ctx, b.tokens, in.Token, b.now(), "token to revoke not found")
	if err != nil {
		return nil, err
	}
	if h == "" {
		return nil, logical.InvalidRequest("batch tokens cannot be revoked")
	}
	return nil, b.tokens.RevokeOrphan(ctx, h)
}

func (b *backend) revokeAccessor(ctx context.Context, req *logical.Request, m *framework.Match, in *accessorInput) (*logical.Response, error) {
	_, h, err := LookupAccessor(ctx, b.tokens, in.Accessor, b.now())
	if err != nil {
		return nil, err
	}
	return nil, b.tokens.Revoke(ctx, h)
}

func (b *backend) accessors(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := b.tokens.Accessors(ctx)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

func (b *backend) tidy(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if err := b.tokens.Tidy(ctx, b.now()); err != nil {
		return nil, err
	}
	return &logical.Response{Warnings: []string{"Tidy of the token store finished."}}, nil
}
