package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// minRotationPeriod is the shortest rotation_period a static role may have.
const minRotationPeriod = 5 * time.Second

// staticRole is a stored static role (static-role/<name>).
type staticRole struct {
	DBName             string        `json:"db_name"`
	Username           string        `json:"username"`
	RotationPeriod     time.Duration `json:"rotation_period"`
	RotationStatements []string      `json:"rotation_statements"`
	CredentialType     string        `json:"credential_type"`
	// Password is the user's password as of the last completed rotation.
	Password string `json:"password,omitempty"`
	// PendingPassword is the password a rotation is setting: stored before
	// the statements run, moved to Password once they succeed. While it is
	// set, Periodic retries the rotation with the same password.
	PendingPassword   string    `json:"pending_password,omitempty"`
	LastVaultRotation time.Time `json:"last_vault_rotation"`
	// NextRotation is when Periodic rotates next; stored so that a
	// restart keeps the schedule.
	NextRotation time.Time `json:"next_rotation"`
}

// staticRoleInput is the body of a write to static-roles/:name.
type staticRoleInput struct {
	DBName             *string             `json:"db_name"`
	Username           *string             `json:"username"`
	RotationPeriod     *framework.Duration `json:"rotation_period"`
	RotationStatements *Statements         `json:"rotation_statements"`
	CredentialType     *string             `json:"credential_type"`
	CredentialConfig   map[string]string   `json:"credential_config"`
}

// staticRoleResponse is the answer to a read of static-roles/:name.
type staticRoleResponse struct {
	DBName             string   `json:"db_name"`
	Username           string   `json:"username"`
	RotationPeriod     int64    `json:"rotation_period"`
	RotationStatements []string `json:"rotation_statements"`
	CredentialType     string   `json:"credential_type"`
	LastVaultRotation  string   `json:"last_vault_rotation,omitempty"`
}

// staticCredsResponse is the answer to a read of static-creds/:name.
type staticCredsResponse struct {
	Username          string `json:"username"`
	Password          string `json:"password"`
	LastVaultRotation string `json:"last_vault_rotation"`
	RotationPeriod    int64  `json:"rotation_period"`
	TTL               int64  `json:"ttl"`
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// response is the data of a read of r; the password is never shown.
func (r *staticRole) response() any {
	return &staticRoleResponse{
		DBName:             r.DBName,
		Username:           r.Username,
		RotationPeriod:     framework.Seconds(r.RotationPeriod),
		RotationStatements: nonNil(r.RotationStatements),
		CredentialType:     r.CredentialType,
		LastVaultRotation:  formatTime(r.LastVaultRotation),
	}
}

func (b *backend) staticCreds(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	r, err := b.statics.Get(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	c, err := b.configs.Get(ctx, r.DBName)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, logical.InvalidRequest("unknown connection %q", r.DBName)
	}
	if !c.allows(name) {
		return nil, errNotAllowed(r.DBName, name)
	}
	if r.Password == "" {
		return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "the static role's first rotation has not completed yet; it is retried periodically"}
	}
	ttl := max(r.NextRotation.Sub(b.clock.Now()), 0)
	return &logical.Response{Data: &staticCredsResponse{
		Username:          r.Username,
		Password:          r.Password,
		LastVaultRotation: formatTime(r.LastVaultRotation),
		RotationPeriod:    framework.Seconds(r.RotationPeriod),
		TTL:               framework.Seconds(ttl),
	}}, nil
}

// writeStaticRole creates or updates a static role. A new role's password
// is rotated at once; the username and db_name of a role cannot change.
func (b *backend) writeStaticRole(ctx context.Context, _ *logical.Request, m *framework.Match, in *staticRoleInput) (*logical.Response, error) {
	name := m.Get("name")
	defer b.statics.Hold(name)()
	r, err := b.statics.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	isNew := r == nil
	if isNew {
		r = &staticRole{CredentialType: credentialTypePassword}
		set(&r.DBName, in.DBName)
		set(&r.Username, in.Username)
	} else {
		if in.Username != nil && *in.Username != r.Username {
			return nil, logical.InvalidRequest("username of a static role cannot be changed")
		}
		if in.DBName != nil && *in.DBName != r.DBName {
			return nil, logical.InvalidRequest("db_name of a static role cannot be changed")
		}
	}
	set(&r.CredentialType, in.CredentialType)
	setStatements(&r.RotationStatements, in.RotationStatements)
	if in.RotationPeriod != nil {
		r.RotationPeriod = time.Duration(*in.RotationPeriod)
	}
	if len(in.CredentialConfig) > 0 {
		return nil, logical.InvalidRequest("credential_config is not supported for credential_type %q", credentialTypePassword)
	}
	if err := b.validateStaticRole(ctx, name, r); err != nil {
		return nil, err
	}
	warn, err := b.allowedWarning(ctx, r.DBName, name)
	if err != nil {
		return nil, err
	}
	if !isNew || warn != nil {
		// A role the connection does not allow is stored without its
		// first rotation, which Periodic does once allowed_roles
		// includes it (NextRotation is zero until then).
		if !r.LastVaultRotation.IsZero() {
			r.NextRotation = r.LastVaultRotation.Add(r.RotationPeriod)
		}
		if err := b.statics.Put(ctx, name, r); err != nil {
			return nil, err
		}
		return warn, nil
	}
	p, _, err := b.pool(ctx, r.DBName)
	if err != nil {
		return nil, err
	}
	ok, err := p.d.userExists(ctx, p.db, r.Username)
	if err != nil {
		return nil, upstream("look up database user", err)
	}
	if !ok {
		return nil, logical.InvalidRequest("database user %q does not exist", r.Username)
	}
	if err := b.rotateLocked(ctx, name, r); err != nil {
		return nil, err
	}
	return nil, nil
}

func (b *backend) validateStaticRole(ctx context.Context, name string, r *staticRole) error {
	if r.CredentialType != credentialTypePassword {
		return logical.InvalidRequest("credential_type must be %q", credentialTypePassword)
	}
	if r.Username == "" {
		return logical.InvalidRequest("missing username")
	}
	if err := checkUsername(r.Username, 128); err != nil {
		return logical.InvalidRequest("username: %v", err)
	}
	if r.RotationPeriod < minRotationPeriod {
		return logical.InvalidRequest("rotation_period must be at least %s", minRotationPeriod)
	}
	if err := checkStatements(r.RotationStatements); err != nil {
		return logical.InvalidRequest("rotation_statements: %v", err)
	}
	if statementsSize(r.RotationStatements) > maxStatementBytes {
		return logical.InvalidRequest("rotation_statements are longer than %d bytes", maxStatementBytes)
	}
	return b.checkConnection(ctx, r.DBName)
}

// rotateRoleNow rotates a static role's password at once.
func (b *backend) rotateRoleNow(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	defer b.statics.Hold(name)()
	r, err := b.statics.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("unknown static role %q", name)
	}
	return nil, b.rotateLocked(ctx, name, r)
}

// rotateIfDue rotates a static role when its time has come or when an
// earlier rotation is still pending.
func (b *backend) rotateIfDue(ctx context.Context, name string) error {
	defer b.statics.Hold(name)()
	r, err := b.statics.Get(ctx, name)
	if err != nil || r == nil {
		return err
	}
	if r.PendingPassword == "" && b.clock.Now().Before(r.NextRotation) {
		return nil
	}
	c, err := b.configs.Get(ctx, r.DBName)
	if err != nil {
		return err
	}
	if c == nil || !c.allows(name) {
		// Not served by its connection (any more): nothing to rotate
		// until allowed_roles includes it again.
		return nil
	}
	if err := b.rotateLocked(ctx, name, r); err != nil {
		return fmt.Errorf("rotate static role %q: %w", name, err)
	}
	return nil
}

// rotateLocked sets a new password for the static role's user. The caller
// holds the role's lock.
//
// Order matters, so that the user never has a password Coffer does not
// know: (1) the new password is stored as pending; (2) the rotation
// statements run; (3) it becomes the password. If (2) fails the pending
// password stays and the next attempt (Periodic, rotate-role, or the
// create being retried) sets that same password again, which is harmless
// whether or not the failed attempt took effect. If (3) fails the same
// holds.
func (b *backend) rotateLocked(ctx context.Context, name string, r *staticRole) error {
	p, c, err := b.pool(ctx, r.DBName)
	if err != nil {
		return err
	}
	if !c.allows(name) {
		return errNotAllowed(r.DBName, name)
	}
	ctx, cancel := withoutCancel(ctx)
	defer cancel()
	if r.PendingPassword == "" {
		pw, err := b.newPassword(ctx, c.PasswordPolicy)
		if err != nil {
			return err
		}
		r.PendingPassword = pw
		if err := b.statics.Put(ctx, name, r); err != nil {
			return err
		}
	}
	pw := r.PendingPassword
	if len(r.RotationStatements) == 0 {
		err = p.d.setPassword(ctx, p.db, r.Username, pw)
	} else {
		var stmts []string
		if stmts, err = renderAll(r.RotationStatements, map[string]string{phName: r.Username, phPassword: pw, phExpiration: ""}); err == nil {
			err = execTx(ctx, p.db, stmts)
		}
	}
	if err != nil {
		if errors.Is(err, errUserGone) {
			return logical.InvalidRequest("database user %q does not exist", r.Username)
		}
		return upstream("rotate static role password (the rotation stays pending and will be retried)", err, pw, r.Password)
	}
	now := b.clock.Now()
	r.Password, r.PendingPassword = pw, ""
	r.LastVaultRotation = now
	r.NextRotation = now.Add(r.RotationPeriod)
	return b.statics.Put(ctx, name, r)
}
