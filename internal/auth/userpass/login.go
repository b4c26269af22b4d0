package userpass

import (
	"context"
	"errors"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// loginInput is the body of login/:username.
type loginInput struct {
	Password string `json:"password"`
}

// invalidCredentials is the one answer to every failed login. cause is
// for the server log only.
func invalidCredentials(cause string) error {
	return logical.InvalidCredentials("invalid username or password", errors.New(cause))
}

// login checks a username and password. An unknown user costs the same
// hash as a known one; a wrong password, an unknown user and a client
// outside the user's token_bound_cidrs all get the same error.
func (b *backend) login(ctx context.Context, req *logical.Request, m *framework.Match, in *loginInput) (*logical.Response, error) {
	name, err := username(m)
	if err != nil {
		return nil, err
	}
	if err := checkPassword(in.Password); err != nil {
		return nil, err
	}
	u, err := b.users.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	stored := &b.dummy
	if u != nil {
		stored = &u.Password
	}
	var match bool
	if err := b.hash(ctx, func() { match = stored.verify(in.Password) }); err != nil {
		return nil, err
	}
	switch {
	case u == nil:
		return nil, invalidCredentials("no such user")
	case !match:
		return nil, invalidCredentials("wrong password")
	case !framework.CIDRsAllow(u.Token.BoundCIDRs, req.Connection.RemoteIP()):
		return nil, invalidCredentials("client address outside token_bound_cidrs")
	}
	auth := &logical.Auth{
		DisplayName: name,
		Metadata:    map[string]string{"username": name},
		Alias:       &logical.Alias{Name: name},
	}
	u.Token.PopulateAuth(auth)
	return &logical.Response{Auth: auth}, nil
}
