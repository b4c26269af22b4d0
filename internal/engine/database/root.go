package database

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// rotateRoot gives the connection's own user a new password that only
// Coffer knows.
//
// The new password is stored as the connection's pending password before
// the database is changed, so that a failure at any later step never
// loses it: if the ALTER fails, or succeeds but the final write fails, the
// pending password is still stored, and the next use of the connection or
// the next Periodic call completes the rotation (see finishRootLocked).
func (b *backend) rotateRoot(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	defer b.configs.Hold(name)()

	p, c, err := b.poolLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.PendingPassword != "" {
		return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "an earlier root rotation is still pending and could not be completed; try again later"}
	}
	if c.Username == "" || !strings.Contains(c.ConnectionURL, "{{password}}") {
		return nil, logical.InvalidRequest("rotate-root needs username set and connection_url using {{password}}")
	}
	pw, err := b.newPassword(ctx, c.PasswordPolicy)
	if err != nil {
		return nil, err
	}
	// From here on the work must finish even if the client goes away.
	ctx, cancel := withoutCancel(ctx)
	defer cancel()

	c.PendingPassword = pw
	if err := b.configs.Put(ctx, name, c); err != nil {
		return nil, err
	}
	if err := b.setRootPassword(ctx, p.db, c, pw); err != nil {
		return nil, upstream("rotate root password (the rotation stays pending and will be retried)", err, pw, c.Password)
	}
	if err := b.promoteRootLocked(ctx, name, c); err != nil {
		return nil, err
	}
	return nil, nil
}

// setRootPassword runs the connection's root rotation statements, or the
// dialect's default, to set the connected user's password to pw.
func (b *backend) setRootPassword(ctx context.Context, db *sql.DB, c *connConfig, pw string) error {
	if len(c.RootRotationStatements) == 0 {
		return c.dialect().setOwnPassword(ctx, db, pw)
	}
	stmts, err := renderAll(c.RootRotationStatements, map[string]string{phName: c.Username, phPassword: pw})
	if err != nil {
		return err
	}
	return execTx(ctx, db, stmts)
}

// promoteRootLocked makes the pending password the connection's password
// and drops the pool opened with the old one.
func (b *backend) promoteRootLocked(ctx context.Context, name string, c *connConfig) error {
	c.Password, c.PendingPassword = c.PendingPassword, ""
	if err := b.configs.Put(ctx, name, c); err != nil {
		return err
	}
	b.closePool(name)
	return nil
}

// completeRootRotation is finishRootLocked for Periodic.
func (b *backend) completeRootRotation(ctx context.Context, name string) error {
	defer b.configs.Hold(name)()
	c, err := b.configs.Get(ctx, name)
	if err != nil || c == nil || c.PendingPassword == "" {
		return err
	}
	return b.finishRootLocked(ctx, name, c)
}

// finishRootLocked completes a pending root rotation. It connects with the
// stored password; if the database refuses it, the earlier ALTER must have
// worked, which a connection with the pending password confirms. Otherwise
// it sets the pending password again (doing it twice is harmless) and then
// promotes it.
func (b *backend) finishRootLocked(ctx context.Context, name string, c *connConfig) error {
	ctx, cancel := withoutCancel(ctx)
	defer cancel()
	pw := c.PendingPassword
	d := c.dialect()
	db, err := d.open(c.ConnectionURL, c.Username, c.Password)
	if err != nil {
		return invalid("connection_url", err, c.Password, pw)
	}
	defer db.Close()
	err = db.PingContext(ctx)
	if isAuthFailure(err) {
		alt, oerr := d.open(c.ConnectionURL, c.Username, pw)
		if oerr != nil {
			return invalid("connection_url", oerr, c.Password, pw)
		}
		defer alt.Close()
		if perr := alt.PingContext(ctx); perr != nil {
			return upstream("complete root rotation "+name, errors.Join(err, perr), c.Password, pw)
		}
		return b.promoteRootLocked(ctx, name, c)
	}
	if err != nil {
		return upstream("complete root rotation "+name, err, c.Password, pw)
	}
	if err := b.setRootPassword(ctx, db, c, pw); err != nil {
		return upstream("complete root rotation "+name, err, c.Password, pw)
	}
	return b.promoteRootLocked(ctx, name, c)
}

// execTx runs stmts in one transaction.
func execTx(ctx context.Context, db *sql.DB, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	return tx.Commit()
}
