package rotation

import (
	"context"
	"errors"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Database is the database rotator: it sets a database user's password
// (the value of one key) through a connection of a database engine mount.
type Database struct {
	Setter logical.DatabasePasswordSetter
	Config RotatorConfig
}

// Apply implements [Rotator]. Setting the same password again is
// harmless, so it is idempotent.
func (d Database) Apply(ctx context.Context, c Change) error {
	if d.Setter == nil {
		return errors.New("database rotator: no database access on this server")
	}
	pw, ok := c.Values[d.Config.PasswordKey]
	if !ok {
		return logical.InvalidRequest("database rotator: the key named by \"password_key\" got no new value")
	}
	return d.Setter.SetDatabasePassword(ctx, d.Config.Mount, d.Config.Connection, d.Config.Username, pw)
}

// New returns the rotator of cfg; nil cfg is no rotator (nil, nil). db
// is what a database rotator sets passwords through (nil when the server
// gives none).
func New(cfg *RotatorConfig, db logical.DatabasePasswordSetter) (Rotator, error) {
	if cfg == nil {
		return nil, nil
	}
	switch cfg.Type {
	case RotatorWebhook:
		return NewWebhook(*cfg)
	case RotatorDatabase:
		return Database{Setter: db, Config: *cfg}, nil
	}
	return nil, logical.InvalidRequest("unknown rotator type %q", cfg.Type)
}
