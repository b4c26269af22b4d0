package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Plugin names Coffer accepts for plugin_name.
const (
	PluginPostgres    = "postgresql-database-plugin"
	PluginMySQL       = "mysql-database-plugin"
	PluginMySQLAurora = "mysql-aurora-database-plugin"
	PluginMySQLRDS    = "mysql-rds-database-plugin"
	PluginMySQLLegacy = "mysql-legacy-database-plugin"
)

// connectTimeout bounds one connection attempt when the URL sets none.
const connectTimeout = 10 * time.Second

// expirationLayout is how {{expiration}} is written, a form PostgreSQL's
// VALID UNTIL accepts.
const expirationLayout = "2006-01-02 15:04:05-0700"

// Stand-ins for {{username}} and {{password}} while a connection URL is
// parsed; the parsed user and password fields then get the real values, so
// that no escaping of the URL is needed.
const (
	userSentinel = "COFFERUSERNAMEPLACEHOLDER"
	passSentinel = "COFFERPASSWORDPLACEHOLDER"
)

// withSentinels returns url with {{username}} and {{password}} replaced by
// the sentinels, for the driver's parser.
func withSentinels(url string) string {
	s := strings.ReplaceAll(url, "{{username}}", userSentinel)
	return strings.ReplaceAll(s, "{{password}}", passSentinel)
}

// fillSentinels puts username and password in place of the sentinels in
// the parsed user and pass fields.
func fillSentinels(user, pass *string, username, password string) {
	*user = strings.ReplaceAll(*user, userSentinel, username)
	*pass = strings.ReplaceAll(*pass, passSentinel, password)
}

// dialect is what differs between database families.
type dialect interface {
	// open returns a pool for the connection URL with the templates
	// filled in. It does not connect.
	open(url, username, password string) (*sql.DB, error)
	// maskURL hides a literal password in url.
	maskURL(url string) string
	// maxUsername is the longest user name the database takes.
	maxUsername() int
	// defaultTemplate is the default username template.
	defaultTemplate() string
	// userExists reports whether the database has the user.
	userExists(ctx context.Context, db *sql.DB, name string) (bool, error)
	// revoke ends the user's sessions and drops it (the default
	// revocation). A missing user is not an error.
	revoke(ctx context.Context, db *sql.DB, name string) error
	// rollback undoes a failed creation when the role has no rollback
	// statements.
	rollback(ctx context.Context, db *sql.DB, name string) error
	// renew extends the user's validity to expiration (the default renewal
	// when a role has no renew statements).
	renew(ctx context.Context, db *sql.DB, name, expiration string) error
	// setPassword is the default rotation for a static role.
	setPassword(ctx context.Context, db *sql.DB, name, password string) error
	// setOwnPassword changes the password of the connected user (the
	// default root rotation).
	setOwnPassword(ctx context.Context, db *sql.DB, password string) error
}

// dialectFor returns the dialect of plugin, or false for an unknown one.
func dialectFor(plugin string) (dialect, bool) {
	switch plugin {
	case PluginPostgres:
		return postgres{}, true
	case PluginMySQL:
		return mysqlDialect{maxUser: 32, template: defaultMySQLUsernameTemplate}, true
	case PluginMySQLAurora, PluginMySQLRDS, PluginMySQLLegacy:
		return mysqlDialect{maxUser: 16, template: defaultMySQLLegacyTemplate}, true
	}
	return nil, false
}

// ---- PostgreSQL ----

type postgres struct{}

func (postgres) open(url, username, password string) (*sql.DB, error) {
	pc, err := pgx.ParseConfig(withSentinels(url))
	if err != nil {
		return nil, errors.New("parse connection_url: not a valid PostgreSQL connection string")
	}
	fillSentinels(&pc.User, &pc.Password, username, password)
	if pc.ConnectTimeout == 0 {
		pc.ConnectTimeout = connectTimeout
	}
	return stdlib.OpenDB(*pc), nil
}

func (postgres) maskURL(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		return maskUserinfo(url, i+3)
	}
	// key=value form: hide the value of password=.
	var out []string
	for f := range strings.FieldsSeq(url) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") && v != "{{password}}" {
			f = k + "=*****"
		}
		out = append(out, f)
	}
	return strings.Join(out, " ")
}

func (postgres) maxUsername() int        { return 63 }
func (postgres) defaultTemplate() string { return defaultPostgresUsernameTemplate }

func (postgres) userExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1`, name).Scan(&n)
	return n > 0, err
}

func (p postgres) revoke(ctx context.Context, db *sql.DB, name string) error {
	ok, err := p.userExists(ctx, db, name)
	if err != nil || !ok {
		return err
	}
	id := pgx.Identifier{name}.Sanitize()
	// Stop new logins first, then end the sessions it has.
	if _, err := db.ExecContext(ctx, `ALTER ROLE `+id+` NOLOGIN`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx,
		`SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()`,
		name); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var dbName string
	if err := tx.QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
		return err
	}
	for _, q := range []string{
		`REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM ` + id,
		`REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM ` + id,
		`REVOKE ALL PRIVILEGES ON ALL FUNCTIONS IN SCHEMA public FROM ` + id,
		`REVOKE USAGE ON SCHEMA public FROM ` + id,
		`REVOKE CONNECT ON DATABASE ` + pgx.Identifier{dbName}.Sanitize() + ` FROM ` + id,
		`DROP OWNED BY ` + id,
		`DROP ROLE IF EXISTS ` + id,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (postgres) rollback(context.Context, *sql.DB, string) error {
	// PostgreSQL DDL is transactional: rolling back the creation
	// transaction has undone it.
	return nil
}

func (p postgres) renew(ctx context.Context, db *sql.DB, name, expiration string) error {
	ok, err := p.userExists(ctx, db, name)
	if err != nil {
		return err
	}
	if !ok {
		return errUserGone
	}
	_, err = db.ExecContext(ctx, `ALTER ROLE `+pgx.Identifier{name}.Sanitize()+` VALID UNTIL `+pgLiteral(expiration))
	return err
}

func (postgres) setPassword(ctx context.Context, db *sql.DB, name, password string) error {
	_, err := db.ExecContext(ctx, `ALTER ROLE `+pgx.Identifier{name}.Sanitize()+` WITH PASSWORD `+pgLiteral(password))
	return err
}

func (postgres) setOwnPassword(ctx context.Context, db *sql.DB, password string) error {
	_, err := db.ExecContext(ctx, `ALTER ROLE CURRENT_USER WITH PASSWORD `+pgLiteral(password))
	return err
}

// pgLiteral quotes s as a standard SQL string literal.
func pgLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ---- MySQL and MariaDB ----

type mysqlDialect struct {
	maxUser  int
	template string
}

func (mysqlDialect) open(url, username, password string) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(withSentinels(url))
	if err != nil {
		return nil, errors.New("parse connection_url: not a valid MySQL data source name (user:password@tcp(host:port)/dbname)")
	}
	fillSentinels(&mc.User, &mc.Passwd, username, password)
	if mc.Timeout == 0 {
		mc.Timeout = connectTimeout
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("parse connection_url: %w", err)
	}
	return sql.OpenDB(conn), nil
}

func (mysqlDialect) maskURL(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		return maskUserinfo(url, i+3)
	}
	return maskUserinfo(url, 0)
}

func (m mysqlDialect) maxUsername() int        { return m.maxUser }
func (m mysqlDialect) defaultTemplate() string { return m.template }

// hosts returns the host parts of every account named name.
func (mysqlDialect) hosts(ctx context.Context, db *sql.DB, name string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT Host FROM mysql.user WHERE User = ?`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hosts []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hosts = append(hosts, h)
	}
	return hosts, rows.Err()
}

func (m mysqlDialect) userExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	hosts, err := m.hosts(ctx, db, name)
	return len(hosts) > 0, err
}

func (m mysqlDialect) revoke(ctx context.Context, db *sql.DB, name string) error {
	hosts, err := m.hosts(ctx, db, name)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if _, err := db.ExecContext(ctx, `DROP USER IF EXISTS `+mysqlAccount(name, h)); err != nil {
			return err
		}
	}
	// Dropping an account leaves its sessions open; end them.
	rows, err := db.QueryContext(ctx, `SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()`, name)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		// The session may have ended meanwhile; that is what we want.
		_, _ = db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
	}
	return nil
}

func (m mysqlDialect) rollback(ctx context.Context, db *sql.DB, name string) error {
	// MySQL commits DDL implicitly, so a half-made user may remain.
	return m.revoke(ctx, db, name)
}

func (m mysqlDialect) renew(ctx context.Context, db *sql.DB, name, _ string) error {
	// MySQL users have no expiry to move; only check the user is there.
	ok, err := m.userExists(ctx, db, name)
	if err == nil && !ok {
		err = errUserGone
	}
	return err
}

func (m mysqlDialect) setPassword(ctx context.Context, db *sql.DB, name, password string) error {
	hosts, err := m.hosts(ctx, db, name)
	if err != nil {
		return err
	}
	if len(hosts) == 0 {
		return errUserGone
	}
	for _, h := range hosts {
		if _, err := db.ExecContext(ctx, `ALTER USER `+mysqlAccount(name, h)+` IDENTIFIED BY `+mysqlLiteral(password)); err != nil {
			return err
		}
	}
	return nil
}

func (m mysqlDialect) setOwnPassword(ctx context.Context, db *sql.DB, password string) error {
	var cur string
	if err := db.QueryRowContext(ctx, `SELECT CURRENT_USER()`).Scan(&cur); err != nil {
		return err
	}
	i := strings.LastIndexByte(cur, '@')
	if i < 0 {
		return errors.New("unexpected CURRENT_USER() form")
	}
	return m.setPassword(ctx, db, cur[:i], password)
}

// mysqlAccount writes 'name'@'host'.
func mysqlAccount(name, host string) string {
	return mysqlLiteral(name) + "@" + mysqlLiteral(host)
}

// mysqlLiteral quotes s as a MySQL string literal, escaping quotes and
// backslashes.
func mysqlLiteral(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// maskUserinfo hides the password in "user:password@rest" starting at
// url[from:], leaving a {{password}} template alone.
func maskUserinfo(url string, from int) string {
	rest := url[from:]
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return url
	}
	if slash := strings.IndexByte(rest, '/'); slash >= 0 && slash < at && from > 0 {
		return url
	}
	user, pass, ok := strings.Cut(rest[:at], ":")
	if !ok || pass == "" || pass == "{{password}}" {
		return url
	}
	return url[:from] + user + ":*****" + rest[at:]
}

// errUserGone is a renewal or rotation of a user that no longer exists.
var errUserGone = errors.New("database user does not exist")

// isAuthFailure reports whether err says the server refused the
// credentials, as opposed to being unreachable.
func isAuthFailure(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1045 // ER_ACCESS_DENIED_ERROR
	}
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		s := pe.SQLState()
		return s == "28P01" || s == "28000"
	}
	return false
}
