package database

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// credentialTypePassword is the only credential type Coffer supports.
const credentialTypePassword = "password"

// role is a stored dynamic role (role/<name>).
type role struct {
	DBName               string        `json:"db_name"`
	CreationStatements   []string      `json:"creation_statements"`
	RevocationStatements []string      `json:"revocation_statements"`
	RollbackStatements   []string      `json:"rollback_statements"`
	RenewStatements      []string      `json:"renew_statements"`
	DefaultTTL           time.Duration `json:"default_ttl"`
	MaxTTL               time.Duration `json:"max_ttl"`
	CredentialType       string        `json:"credential_type"`
}

// roleInput is the body of a write to roles/:name. Absent fields keep
// their stored values on update.
type roleInput struct {
	DBName               *string             `json:"db_name"`
	CreationStatements   *Statements         `json:"creation_statements"`
	RevocationStatements *Statements         `json:"revocation_statements"`
	RollbackStatements   *Statements         `json:"rollback_statements"`
	RenewStatements      *Statements         `json:"renew_statements"`
	DefaultTTL           *framework.Duration `json:"default_ttl"`
	MaxTTL               *framework.Duration `json:"max_ttl"`
	CredentialType       *string             `json:"credential_type"`
	CredentialConfig     map[string]string   `json:"credential_config"`
}

// roleResponse is the answer to a read of roles/:name.
type roleResponse struct {
	DBName               string            `json:"db_name"`
	CreationStatements   []string          `json:"creation_statements"`
	RevocationStatements []string          `json:"revocation_statements"`
	RollbackStatements   []string          `json:"rollback_statements"`
	RenewStatements      []string          `json:"renew_statements"`
	DefaultTTL           int64             `json:"default_ttl"`
	MaxTTL               int64             `json:"max_ttl"`
	CredentialType       string            `json:"credential_type"`
	CredentialConfig     map[string]string `json:"credential_config"`
}

// response is the data of a read of r.
func (r *role) response() any {
	return &roleResponse{
		DBName:               r.DBName,
		CreationStatements:   nonNil(r.CreationStatements),
		RevocationStatements: nonNil(r.RevocationStatements),
		RollbackStatements:   nonNil(r.RollbackStatements),
		RenewStatements:      nonNil(r.RenewStatements),
		DefaultTTL:           framework.Seconds(r.DefaultTTL),
		MaxTTL:               framework.Seconds(r.MaxTTL),
		CredentialType:       r.CredentialType,
		CredentialConfig:     map[string]string{},
	}
}

func (b *backend) writeRole(ctx context.Context, _ *logical.Request, m *framework.Match, in *roleInput) (*logical.Response, error) {
	name := m.Get("name")
	defer b.roles.Hold(name)()
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &role{CredentialType: credentialTypePassword}
	}
	set(&r.DBName, in.DBName)
	set(&r.CredentialType, in.CredentialType)
	setStatements(&r.CreationStatements, in.CreationStatements)
	setStatements(&r.RevocationStatements, in.RevocationStatements)
	setStatements(&r.RollbackStatements, in.RollbackStatements)
	setStatements(&r.RenewStatements, in.RenewStatements)
	if in.DefaultTTL != nil {
		r.DefaultTTL = time.Duration(*in.DefaultTTL)
	}
	if in.MaxTTL != nil {
		r.MaxTTL = time.Duration(*in.MaxTTL)
	}
	if len(in.CredentialConfig) > 0 {
		return nil, logical.InvalidRequest("credential_config is not supported for credential_type %q", credentialTypePassword)
	}
	if err := b.validateRole(ctx, name, r); err != nil {
		return nil, err
	}
	warn, err := b.allowedWarning(ctx, r.DBName, name)
	if err != nil {
		return nil, err
	}
	if err := b.roles.Put(ctx, name, r); err != nil {
		return nil, err
	}
	return warn, nil
}

func setStatements(dst *[]string, src *Statements) {
	if src != nil {
		*dst = []string(*src)
	}
}

func (b *backend) validateRole(ctx context.Context, name string, r *role) error {
	if r.CredentialType != credentialTypePassword {
		return logical.InvalidRequest("credential_type must be %q", credentialTypePassword)
	}
	if len(r.CreationStatements) == 0 {
		return logical.InvalidRequest("missing creation_statements")
	}
	lists := []struct {
		field string
		stmts []string
	}{
		{"creation_statements", r.CreationStatements},
		{"revocation_statements", r.RevocationStatements},
		{"rollback_statements", r.RollbackStatements},
		{"renew_statements", r.RenewStatements},
	}
	for _, l := range lists {
		if err := checkStatements(l.stmts); err != nil {
			return logical.InvalidRequest("%s: %v", l.field, err)
		}
	}
	if statementsSize(r.CreationStatements, r.RevocationStatements, r.RollbackStatements, r.RenewStatements) > maxStatementBytes {
		return logical.InvalidRequest("statements are longer than %d bytes in all", maxStatementBytes)
	}
	if r.MaxTTL > 0 && r.DefaultTTL > r.MaxTTL {
		return logical.InvalidRequest("default_ttl must not be greater than max_ttl")
	}
	return b.checkConnection(ctx, r.DBName)
}

// checkConnection requires that connection dbName exists. Whether it
// allows the role is checked when credentials are issued, as in Vault:
// allowed_roles may change after the role is written.
func (b *backend) checkConnection(ctx context.Context, dbName string) error {
	if dbName == "" {
		return logical.InvalidRequest("missing db_name")
	}
	c, err := b.configs.Get(ctx, dbName)
	if err != nil {
		return err
	}
	if c == nil {
		return logical.InvalidRequest("db_name %q names no connection", dbName)
	}
	return nil
}

// allowedWarning returns a response warning that connection dbName does
// not allow the role roleName (yet), or nil when it does. The connection
// exists (checkConnection).
func (b *backend) allowedWarning(ctx context.Context, dbName, roleName string) (*logical.Response, error) {
	c, err := b.configs.Get(ctx, dbName)
	if err != nil || c == nil || c.allows(roleName) {
		return nil, err
	}
	return &logical.Response{Warnings: []string{fmt.Sprintf(
		"connection %q does not allow role %q in its allowed_roles: credentials cannot be issued for the role until allowed_roles includes it",
		dbName, roleName)}}, nil
}

// errNotAllowed is the refusal to serve a role that the connection's
// allowed_roles excludes; its first words are Vault's.
func errNotAllowed(dbName, roleName string) error {
	return logical.InvalidRequest("%q is not an allowed role: connection %q does not list it in allowed_roles", roleName, dbName)
}
