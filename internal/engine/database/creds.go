package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Keys of a lease's internal data.
const (
	dataUsername = "username"
	dataRole     = "role"
	dataDBName   = "db_name"
)

// credsResponse is the data of a creds/:name answer.
type credsResponse struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// creds creates a database user for a role: the creation statements run
// in one transaction; when they fail, the transaction is rolled back and
// the rollback statements (or the dialect's default) run.
func (b *backend) creds(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	roleName := m.Get("name")
	r, err := b.roles.Get(ctx, roleName)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("unknown role %q", roleName)
	}
	p, c, err := b.pool(ctx, r.DBName)
	if err != nil {
		return nil, err
	}
	if !c.allows(roleName) {
		return nil, errNotAllowed(r.DBName, roleName)
	}
	src := c.UsernameTemplate
	if src == "" {
		src = p.d.defaultTemplate()
	}
	tmpl, err := parseUsernameTemplate(src, b.clock.Now)
	if err != nil {
		return nil, logical.InvalidRequest("connection %q: %v", r.DBName, err)
	}
	username, err := tmpl.generate(req.DisplayName, roleName, p.d.maxUsername())
	if err != nil {
		return nil, logical.InvalidRequest("connection %q: %v", r.DBName, err)
	}
	password, err := b.newPassword(ctx, c.PasswordPolicy)
	if err != nil {
		return nil, err
	}
	ttl, maxTTL := b.ttls(r)
	if ttl > maxTTL {
		ttl = maxTTL
	}
	vars := map[string]string{
		phName:       username,
		phPassword:   password,
		phExpiration: b.clock.Now().Add(ttl).UTC().Format(expirationLayout),
	}
	stmts, err := renderAll(r.CreationStatements, vars)
	if err != nil {
		return nil, logical.InvalidRequest("creation_statements: %v", err)
	}
	if err := execTx(ctx, p.db, stmts); err != nil {
		b.rollback(ctx, p, r, vars)
		return nil, upstream("create database user", err, password)
	}
	return &logical.Response{
		Data: &credsResponse{Username: username, Password: password},
		Secret: &logical.Secret{
			TTL:       ttl,
			MaxTTL:    r.MaxTTL,
			Renewable: true,
			InternalData: map[string]string{
				dataUsername: username,
				dataRole:     roleName,
				dataDBName:   r.DBName,
			},
		},
	}, nil
}

// ttls returns the role's default and maximum TTL, the mount's where the
// role sets none.
func (b *backend) ttls(r *role) (ttl, maxTTL time.Duration) {
	ttl, maxTTL = b.system.DefaultLeaseTTL(), b.system.MaxLeaseTTL()
	if r != nil && r.DefaultTTL > 0 {
		ttl = r.DefaultTTL
	}
	if r != nil && r.MaxTTL > 0 {
		maxTTL = r.MaxTTL
	}
	return ttl, maxTTL
}

// rollback undoes a failed creation as well as it can. It runs even if
// the request was cancelled; its own failures are logged, since the
// creation error is what the client needs.
func (b *backend) rollback(ctx context.Context, p *pool, r *role, vars map[string]string) {
	ctx, cancel := withoutCancel(ctx)
	defer cancel()
	var err error
	if len(r.RollbackStatements) > 0 {
		var stmts []string
		if stmts, err = renderAll(r.RollbackStatements, vars); err == nil {
			err = execTx(ctx, p.db, stmts)
		}
	} else {
		err = p.d.rollback(ctx, p.db, vars[phName])
	}
	if err != nil {
		b.logger.Error("rollback of a failed database user creation", "user", vars[phName],
			"error", redact(err.Error(), vars[phPassword]))
	}
}

// leaseData reads what a lease needs from its internal data.
func leaseData(s *logical.LeasedSecret) (username, roleName, dbName string, err error) {
	if s == nil {
		return "", "", "", errors.New("database lease: no secret")
	}
	username, roleName, dbName = s.InternalData[dataUsername], s.InternalData[dataRole], s.InternalData[dataDBName]
	if username == "" || dbName == "" {
		return "", "", "", errors.New("database lease: internal data lacks username or db_name")
	}
	if checkUsername(username, 128) != nil {
		return "", "", "", errors.New("database lease: bad username in internal data")
	}
	return username, roleName, dbName, nil
}

// RenewSecret implements [logical.Leaser]. It runs the role's renew
// statements with the new {{expiration}}, or the dialect's default
// (PostgreSQL: ALTER ROLE ... VALID UNTIL; MySQL: nothing), and returns
// the increment (the role's default TTL when none is asked), cut so that
// the lease does not outlive its max TTL.
func (b *backend) RenewSecret(ctx context.Context, s *logical.LeasedSecret) (time.Duration, error) {
	username, roleName, dbName, err := leaseData(s)
	if err != nil {
		return 0, err
	}
	r, err := b.roles.Get(ctx, roleName)
	if err != nil {
		return 0, err
	}
	p, _, err := b.pool(ctx, dbName)
	if err != nil {
		return 0, err
	}
	ttl, maxTTL := b.ttls(r)
	if s.Increment > 0 {
		ttl = s.Increment
	}
	now := b.clock.Now()
	if !s.IssueTime.IsZero() {
		left := s.IssueTime.Add(maxTTL).Sub(now)
		if left <= 0 {
			return 0, logical.InvalidRequest("lease has reached its max TTL")
		}
		ttl = min(ttl, left)
	}
	expiration := now.Add(ttl).UTC().Format(expirationLayout)
	if r == nil || len(r.RenewStatements) == 0 {
		if err := p.d.renew(ctx, p.db, username, expiration); err != nil {
			return 0, upstream("renew database user", err)
		}
		return ttl, nil
	}
	ok, err := p.d.userExists(ctx, p.db, username)
	if err != nil {
		return 0, upstream("renew database user", err)
	}
	if !ok {
		return 0, upstream("renew database user", errUserGone)
	}
	stmts, err := renderAll(r.RenewStatements, map[string]string{phName: username, phPassword: "", phExpiration: expiration})
	if err != nil {
		return 0, logical.InvalidRequest("renew_statements: %v", err)
	}
	if err := execTx(ctx, p.db, stmts); err != nil {
		return 0, upstream("renew database user", err)
	}
	return ttl, nil
}

// RevokeSecret implements [logical.Leaser]. It runs the role's revocation
// statements, or the dialect's default (PostgreSQL: end the sessions,
// revoke, drop owned objects and the role; MySQL: drop every account of
// the user and end its sessions). A user that is already gone is success,
// so retries are safe.
func (b *backend) RevokeSecret(ctx context.Context, s *logical.LeasedSecret) error {
	username, roleName, dbName, err := leaseData(s)
	if err != nil {
		return err
	}
	r, err := b.roles.Get(ctx, roleName)
	if err != nil {
		return err
	}
	p, _, err := b.pool(ctx, dbName)
	if err != nil {
		return fmt.Errorf("revoke database user: %w", err)
	}
	ctx, cancel := withoutCancel(ctx)
	defer cancel()
	if r == nil || len(r.RevocationStatements) == 0 {
		if err := p.d.revoke(ctx, p.db, username); err != nil {
			return upstream("revoke database user", err)
		}
		return nil
	}
	ok, err := p.d.userExists(ctx, p.db, username)
	if err != nil {
		return upstream("revoke database user", err)
	}
	if !ok {
		return nil
	}
	stmts, err := renderAll(r.RevocationStatements, map[string]string{phName: username, phPassword: "", phExpiration: ""})
	if err != nil {
		return logical.InvalidRequest("revocation_statements: %v", err)
	}
	if err := execTx(ctx, p.db, stmts); err != nil {
		return upstream("revoke database user", err)
	}
	return nil
}
