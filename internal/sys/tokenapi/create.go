package tokenapi

import (
	"context"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/token"
)

// createInput is the body of auth/token/create and friends.
type createInput struct {
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

// request returns the body as the token rules take it; orphan is set on
// create-orphan.
func (in *createInput) request(orphan bool) token.CreateRequest {
	r := token.CreateRequest{
		ID:              in.ID,
		Policies:        in.Policies,
		Meta:            in.Meta,
		NoParent:        bool(in.NoParent),
		Orphan:          orphan,
		NoDefaultPolicy: bool(in.NoDefaultPolicy),
		TTL:             time.Duration(in.TTL),
		Lease:           time.Duration(in.Lease),
		ExplicitMaxTTL:  time.Duration(in.ExplicitMaxTTL),
		Period:          time.Duration(in.Period),
		DisplayName:     in.DisplayName,
		NumUses:         int(in.NumUses),
		Type:            in.Type,
		EntityAlias:     in.EntityAlias,
	}
	if in.Renewable != nil {
		renewable := bool(*in.Renewable)
		r.Renewable = &renewable
	}
	return r
}

func (b *backend) create(ctx context.Context, req *logical.Request, m *framework.Match, in *createInput) (*logical.Response, error) {
	if in.RoleName != "" {
		return b.createWithRole(ctx, in.RoleName, in)
	}
	return b.createToken(ctx, in.request(false), nil)
}

func (b *backend) createOrphan(ctx context.Context, req *logical.Request, m *framework.Match, in *createInput) (*logical.Response, error) {
	return b.createToken(ctx, in.request(true), nil)
}

func (b *backend) createRole(ctx context.Context, req *logical.Request, m *framework.Match, in *createInput) (*logical.Response, error) {
	return b.createWithRole(ctx, m.Get("role"), in)
}

func (b *backend) createWithRole(ctx context.Context, name string, in *createInput) (*logical.Response, error) {
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("unknown token role %q", name)
	}
	return b.createToken(ctx, in.request(false), r.rules())
}

// createToken makes a token for the caller by the rules of [token.Plan]
// and stores it.
func (b *backend) createToken(ctx context.Context, cr token.CreateRequest, role *token.Role) (*logical.Response, error) {
	cl, err := b.caller(ctx)
	if err != nil {
		return nil, err
	}
	def, maxTTL := b.core.TokenTTLs()
	e, err := token.Plan(cr, token.Parent{Entry: cl.Entry, Hash: cl.Hash, Sudo: cl.Sudo}, role, token.Limits{
		DefaultTTL:   def,
		MaxTTL:       maxTTL,
		Now:          b.now(),
		PolicyExists: b.core.PolicyExists,
	})
	if err != nil {
		return nil, clientError(err)
	}
	return b.core.CreateToken(ctx, token.ID(cr.ID), e)
}
