package userpass

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Principals implements [logical.PrincipalLister]: one principal a user,
// with the token limits it sets. A user's password is its credential, so
// no user is Unbound; the password hash is never returned.
func (b *backend) Principals(ctx context.Context) ([]logical.Principal, error) {
	names, err := b.users.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]logical.Principal, 0, len(names))
	for _, name := range names {
		u, err := b.users.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		if u != nil {
			out = append(out, u.Token.Principal("user", name))
		}
	}
	return out, nil
}
