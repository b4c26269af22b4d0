package database

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Connection defaults, as Vault's.
const (
	defaultMaxOpen = 4
	verifyTimeout  = 10 * time.Second
)

// connConfig is a stored connection (config/<name>).
type connConfig struct {
	PluginName    string `json:"plugin_name"`
	ConnectionURL string `json:"connection_url"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	// PendingPassword is a root password being rotated to: stored before
	// the ALTER runs, moved to Password after it succeeds. See the package
	// comment.
	PendingPassword        string        `json:"pending_password,omitempty"`
	AllowedRoles           []string      `json:"allowed_roles"`
	VerifyConnection       bool          `json:"verify_connection"`
	MaxOpen                int           `json:"max_open_connections"`
	MaxIdle                int           `json:"max_idle_connections"`
	MaxLifetime            time.Duration `json:"max_connection_lifetime"`
	PasswordPolicy         string        `json:"password_policy"`
	UsernameTemplate       string        `json:"username_template"`
	RootRotationStatements []string      `json:"root_rotation_statements"`
}

// dialect returns the connection's dialect; stored configs always have a
// known plugin.
func (c *connConfig) dialect() dialect {
	d, ok := dialectFor(c.PluginName)
	if !ok {
		return postgres{}
	}
	return d
}

// allows reports whether the connection may serve role: allowed_roles
// holds "*", the name, or a glob with "*" matching it.
func (c *connConfig) allows(role string) bool {
	for _, pat := range c.AllowedRoles {
		if framework.GlobMatch(pat, role) {
			return true
		}
	}
	return false
}

// configInput is the body of a write to config/:name. Absent fields keep
// their stored values on update.
type configInput struct {
	PluginName             *string                 `json:"plugin_name"`
	PluginVersion          *string                 `json:"plugin_version"`
	ConnectionURL          *string                 `json:"connection_url"`
	Username               *string                 `json:"username"`
	Password               *string                 `json:"password"`
	AllowedRoles           *framework.CommaStrings `json:"allowed_roles"`
	VerifyConnection       *framework.Bool         `json:"verify_connection"`
	MaxOpen                *framework.Int          `json:"max_open_connections"`
	MaxIdle                *framework.Int          `json:"max_idle_connections"`
	MaxLifetime            *framework.Duration     `json:"max_connection_lifetime"`
	PasswordPolicy         *string                 `json:"password_policy"`
	UsernameTemplate       *string                 `json:"username_template"`
	RootRotationStatements *Statements             `json:"root_rotation_statements"`
}

// configResponse is the answer to a read of config/:name. It never holds
// the password.
type configResponse struct {
	PluginName             string            `json:"plugin_name"`
	PluginVersion          string            `json:"plugin_version"`
	ConnectionDetails      connectionDetails `json:"connection_details"`
	AllowedRoles           []string          `json:"allowed_roles"`
	RootRotationStatements []string          `json:"root_credentials_rotate_statements"`
	PasswordPolicy         string            `json:"password_policy"`
	VerifyConnection       bool              `json:"verify_connection"`
}

type connectionDetails struct {
	ConnectionURL    string `json:"connection_url"`
	Username         string `json:"username"`
	MaxOpen          int    `json:"max_open_connections"`
	MaxIdle          int    `json:"max_idle_connections"`
	MaxLifetime      string `json:"max_connection_lifetime"`
	UsernameTemplate string `json:"username_template,omitempty"`
}

// response is the data of a read of c; the password is never shown.
func (c *connConfig) response() any {
	return &configResponse{
		PluginName: c.PluginName,
		ConnectionDetails: connectionDetails{
			ConnectionURL:    c.dialect().maskURL(c.ConnectionURL),
			Username:         c.Username,
			MaxOpen:          c.MaxOpen,
			MaxIdle:          c.MaxIdle,
			MaxLifetime:      c.MaxLifetime.String(),
			UsernameTemplate: c.UsernameTemplate,
		},
		AllowedRoles:           nonNil(c.AllowedRoles),
		RootRotationStatements: nonNil(c.RootRotationStatements),
		PasswordPolicy:         c.PasswordPolicy,
		VerifyConnection:       c.VerifyConnection,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (b *backend) writeConfig(ctx context.Context, _ *logical.Request, m *framework.Match, in *configInput) (*logical.Response, error) {
	name := m.Get("name")
	defer b.configs.Hold(name)()

	old, err := b.configs.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	c := &connConfig{VerifyConnection: true, MaxOpen: defaultMaxOpen}
	if old != nil {
		cp := *old
		c = &cp
		// Verification is asked for per write, as in Vault.
		c.VerifyConnection = true
	}
	if err := in.apply(c); err != nil {
		return nil, err
	}
	if err := b.validateConfig(ctx, c); err != nil {
		return nil, err
	}
	if in.Password != nil {
		// An operator-given password replaces any rotation in progress.
		c.PendingPassword = ""
	}
	if c.VerifyConnection {
		if err := verify(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := b.configs.Put(ctx, name, c); err != nil {
		return nil, err
	}
	b.closePool(name)
	return nil, nil
}

// apply copies the fields present in the input onto c.
func (in *configInput) apply(c *connConfig) error {
	if in.PluginVersion != nil && *in.PluginVersion != "" {
		return logical.InvalidRequest("plugin_version is not supported: Coffer's database plugins are built in")
	}
	set(&c.PluginName, in.PluginName)
	set(&c.ConnectionURL, in.ConnectionURL)
	set(&c.Username, in.Username)
	set(&c.Password, in.Password)
	set(&c.PasswordPolicy, in.PasswordPolicy)
	set(&c.UsernameTemplate, in.UsernameTemplate)
	if in.AllowedRoles != nil {
		c.AllowedRoles = []string(*in.AllowedRoles)
	}
	if in.VerifyConnection != nil {
		c.VerifyConnection = bool(*in.VerifyConnection)
	}
	if in.MaxOpen != nil {
		if *in.MaxOpen < 0 || *in.MaxOpen > 1000 {
			return logical.InvalidRequest("max_open_connections must be between 0 and 1000")
		}
		c.MaxOpen = int(*in.MaxOpen)
	}
	if in.MaxIdle != nil {
		if *in.MaxIdle < 0 || *in.MaxIdle > 1000 {
			return logical.InvalidRequest("max_idle_connections must be between 0 and 1000")
		}
		c.MaxIdle = int(*in.MaxIdle)
	}
	if in.MaxLifetime != nil {
		c.MaxLifetime = time.Duration(*in.MaxLifetime)
	}
	if in.RootRotationStatements != nil {
		c.RootRotationStatements = []string(*in.RootRotationStatements)
	}
	if c.MaxOpen == 0 {
		c.MaxOpen = defaultMaxOpen
	}
	if c.MaxIdle == 0 || c.MaxIdle > c.MaxOpen {
		c.MaxIdle = c.MaxOpen
	}
	return nil
}

func set(dst *string, src *string) {
	if src != nil {
		*dst = *src
	}
}

// validateConfig checks everything about c that needs no connection.
func (b *backend) validateConfig(ctx context.Context, c *connConfig) error {
	d, ok := dialectFor(c.PluginName)
	switch {
	case c.PluginName == "":
		return logical.InvalidRequest("missing plugin_name")
	case !ok:
		return logical.InvalidRequest("unknown plugin_name %q; want %s", c.PluginName, strings.Join([]string{
			PluginPostgres, PluginMySQL, PluginMySQLAurora, PluginMySQLRDS, PluginMySQLLegacy}, ", "))
	case c.ConnectionURL == "":
		return logical.InvalidRequest("missing connection_url")
	}
	if names, err := placeholders(c.ConnectionURL); err != nil {
		return logical.InvalidRequest("connection_url: %v", err)
	} else {
		for _, n := range names {
			if n != "username" && n != "password" {
				return logical.InvalidRequest("connection_url: unknown placeholder {{%s}}; use {{username}} and {{password}}", n)
			}
		}
	}
	if !sqlSafe(c.Password) {
		return logical.InvalidRequest("password must not contain quotes, backslashes or NUL, which could not be placed in SQL statements safely")
	}
	if slices.Contains(c.AllowedRoles, "") {
		return logical.InvalidRequest("allowed_roles must not hold an empty name")
	}
	if err := checkStatements(c.RootRotationStatements); err != nil {
		return logical.InvalidRequest("root_rotation_statements: %v", err)
	}
	if statementsSize(c.RootRotationStatements) > maxStatementBytes {
		return logical.InvalidRequest("root_rotation_statements are longer than %d bytes", maxStatementBytes)
	}
	tmpl := c.UsernameTemplate
	if tmpl == "" {
		tmpl = d.defaultTemplate()
	}
	t, err := parseUsernameTemplate(tmpl, b.clock.Now)
	if err != nil {
		return logical.InvalidRequest("username_template: %v", err)
	}
	if _, err := t.generate("token", "role", d.maxUsername()); err != nil {
		return logical.InvalidRequest("username_template: %v", err)
	}
	db, err := d.open(c.ConnectionURL, c.Username, c.Password)
	if err != nil {
		return invalid("connection_url", err, c.Password)
	}
	db.Close()
	if c.PasswordPolicy != "" {
		// Asking for a password is how we learn that the policy exists.
		if _, err := b.system.GeneratePassword(ctx, c.PasswordPolicy); err != nil {
			return fmt.Errorf("password_policy: %w", err)
		}
	}
	return nil
}

// verify connects with c and pings the database. A failure is an
// ErrInvalidRequest error naming the problem (without the password).
func verify(ctx context.Context, c *connConfig) error {
	db, err := c.dialect().open(c.ConnectionURL, c.Username, c.Password)
	if err != nil {
		return invalid("connection_url", err, c.Password)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return invalid("verify connection", err, c.Password, c.PendingPassword)
	}
	return nil
}

func (b *backend) deleteConfig(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	defer b.configs.Hold(name)()
	if err := b.configs.Delete(ctx, name); err != nil {
		return nil, err
	}
	b.closePool(name)
	return nil, nil
}

// reset closes a connection's pool and opens a new one, pinging it.
func (b *backend) reset(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	defer b.configs.Hold(name)()
	b.closePool(name)
	p, c, err := b.poolLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := p.db.PingContext(ctx); err != nil {
		return nil, upstream("connect", err, c.Password, c.PendingPassword)
	}
	return nil, nil
}

// pool returns the open pool of connection name, opening it when needed.
// A missing connection is an ErrInvalidRequest error.
func (b *backend) pool(ctx context.Context, name string) (*pool, *connConfig, error) {
	c, err := b.configs.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, logical.InvalidRequest("unknown connection %q", name)
	}
	if c.PendingPassword == "" {
		b.poolsMu.Lock()
		p := b.pools[name]
		b.poolsMu.Unlock()
		if p != nil {
			return p, c, nil
		}
	}
	defer b.configs.Hold(name)()
	return b.poolLocked(ctx, name)
}

// poolLocked is pool for a caller holding the connection's lock. A
// pending root rotation is completed first when possible.
func (b *backend) poolLocked(ctx context.Context, name string) (*pool, *connConfig, error) {
	c, err := b.configs.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, logical.InvalidRequest("unknown connection %q", name)
	}
	if c.PendingPassword != "" {
		if err := b.finishRootLocked(ctx, name, c); err != nil {
			// Go on with the stored password; Periodic tries again.
			b.logger.Warn("pending root rotation not completed", "connection", name, "error", err)
		}
	}
	b.poolsMu.Lock()
	defer b.poolsMu.Unlock()
	if p := b.pools[name]; p != nil {
		return p, c, nil
	}
	d := c.dialect()
	db, err := d.open(c.ConnectionURL, c.Username, c.Password)
	if err != nil {
		return nil, nil, invalid("connection_url", err, c.Password)
	}
	configurePool(db, c)
	p := &pool{db: db, d: d}
	b.pools[name] = p
	return p, c, nil
}

func configurePool(db *sql.DB, c *connConfig) {
	db.SetMaxOpenConns(c.MaxOpen)
	db.SetMaxIdleConns(c.MaxIdle)
	db.SetConnMaxLifetime(c.MaxLifetime)
}
