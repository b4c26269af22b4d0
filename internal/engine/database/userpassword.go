package database

import (
	"context"
	"errors"

	"github.com/coffer-secrets/coffer/internal/logical"
)

var _ logical.UserPasswordSetter = (*backend)(nil)

// SetUserPassword implements [logical.UserPasswordSetter] for KV
// rotation's database rotator: it sets the password of an existing user
// through connection, with the dialect's default rotation statement (as a
// static role without rotation statements). It refuses the connection's
// own user (rotate-root does that, keeping the connection working) and a
// password that cannot be placed in a statement. Errors never quote the
// password.
func (b *backend) SetUserPassword(ctx context.Context, connection, username, password string) error {
	if username == "" {
		return logical.InvalidRequest("missing database username")
	}
	if password == "" || !sqlSafe(password) {
		return logical.InvalidRequest("the new password is empty or has quotes or backslashes, which cannot be placed in SQL statements safely")
	}
	p, c, err := b.pool(ctx, connection)
	if err != nil {
		return err
	}
	if username == c.Username {
		return logical.InvalidRequest("database user %q is the connection's own user; rotate it with rotate-root", username)
	}
	ctx, cancel := withoutCancel(ctx)
	defer cancel()
	ok, err := p.d.userExists(ctx, p.db, username)
	if err != nil {
		return upstream("look up database user", err, password)
	}
	if !ok {
		return logical.InvalidRequest("database user %q does not exist on connection %q", username, connection)
	}
	if err := p.d.setPassword(ctx, p.db, username, password); err != nil {
		if errors.Is(err, errUserGone) {
			return logical.InvalidRequest("database user %q does not exist on connection %q", username, connection)
		}
		return upstream("set database user password", err, password)
	}
	return nil
}
