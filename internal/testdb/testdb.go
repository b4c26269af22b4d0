// Package testdb gives a test its own database on the real PostgreSQL or
// MariaDB server of this machine (see ../shared/SERVICES.md), and drops it,
// with every user whose name holds the test's random suffix, when the
// test ends. With CI=true a server that cannot be reached fails the test;
// elsewhere the test is skipped with a message saying how to start it.
//
// It is for tests only; production code must not import it.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Kinds of server.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
)

// DB is one test's database.
type DB struct {
	// Kind is Postgres or MySQL.
	Kind string
	// Name is the database name; Suffix is in every name the test makes.
	Name, Suffix string
	// Admin is a superuser connection to the database.
	Admin *sql.DB
	// Plugin is the database engine's plugin_name for this server.
	Plugin string
	// URL is a connection_url template for the engine, with {{username}}
	// and {{password}}.
	URL string
	// User and Password are the admin credentials for the engine's
	// connection config.
	User, Password string
}

func need(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is unreachable (CI=true, so this fails): %v", what, err)
	}
	tb.Skipf("%s is unreachable, skipping: %v (start it as ../shared/SERVICES.md says)", what, err)
}

func suffix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 8)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// OpenPostgres connects to the local PostgreSQL.
func OpenPostgres(tb testing.TB, dbname, user, password string) *sql.DB {
	tb.Helper()
	cfg, err := pgx.ParseConfig("host=127.0.0.1 port=5432 sslmode=disable connect_timeout=5")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Database, cfg.User, cfg.Password = dbname, user, password
	return stdlib.OpenDB(*cfg)
}

// OpenMySQL connects to the local MariaDB.
func OpenMySQL(tb testing.TB, addr, dbname, user, password string) *sql.DB {
	tb.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.DBName, cfg.User, cfg.Passwd = "tcp", addr, dbname, user, password
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return sql.OpenDB(conn)
}

func exec(tb testing.TB, db *sql.DB, q string) {
	tb.Helper()
	if _, err := db.ExecContext(context.Background(), q); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// New makes a database of kind with a table "things" of two rows.
func New(tb testing.TB, kind string) *DB {
	tb.Helper()
	ctx := context.Background()
	s := suffix()
	d := &DB{Kind: kind, Name: "coffer_e2e_" + s, Suffix: s}
	var root *sql.DB
	switch kind {
	case Postgres:
		root = OpenPostgres(tb, "postgres", "postgres", "")
		if err := root.PingContext(ctx); err != nil {
			root.Close()
			need(tb, "PostgreSQL on 127.0.0.1:5432", err)
		}
		d.Plugin, d.User, d.Password = "postgresql-database-plugin", "postgres", "trust-auth-ignores-this"
		d.URL = "postgres://{{username}}:{{password}}@127.0.0.1:5432/" + d.Name + "?sslmode=disable"
		exec(tb, root, "CREATE DATABASE "+d.Name)
		d.Admin = OpenPostgres(tb, d.Name, "postgres", "")
	case MySQL:
		root = OpenMySQL(tb, "127.0.0.1:3306", "", "root", "")
		if err := root.PingContext(ctx); err != nil {
			root.Close()
			need(tb, "MariaDB on 127.0.0.1:3306", err)
		}
		d.Plugin, d.User, d.Password = "mysql-database-plugin", "root", ""
		d.URL = "{{username}}:{{password}}@tcp(127.0.0.1:3306)/" + d.Name
		exec(tb, root, "CREATE DATABASE `"+d.Name+"`")
		d.Admin = OpenMySQL(tb, "127.0.0.1:3306", d.Name, "root", "")
	default:
		tb.Fatalf("testdb: unknown kind %q", kind)
	}
	tb.Cleanup(func() { d.drop(tb, root) })
	exec(tb, d.Admin, "CREATE TABLE things (id int primary key, label text)")
	exec(tb, d.Admin, "INSERT INTO things VALUES (1, 'one'), (2, 'two')")
	return d
}

// drop removes the database and the users the test made.
func (d *DB) drop(tb testing.TB, root *sql.DB) {
	ctx := context.Background()
	d.Admin.Close()
	defer root.Close()
	if d.Kind == Postgres {
		root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+d.Name+" WITH (FORCE)")
		rows, err := root.QueryContext(ctx, `SELECT rolname FROM pg_roles WHERE rolname LIKE '%' || $1 || '%'`, d.Suffix)
		if err != nil {
			return
		}
		var names []string
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				names = append(names, n)
			}
		}
		rows.Close()
		for _, n := range names {
			root.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, n)
			root.ExecContext(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize())
		}
		return
	}
	root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+d.Name+"`")
	rows, err := root.QueryContext(ctx, `SELECT User, Host FROM mysql.user WHERE User LIKE CONCAT('%', ?, '%')`, d.Suffix)
	if err != nil {
		return
	}
	type acct struct{ u, h string }
	var accts []acct
	for rows.Next() {
		var a acct
		if rows.Scan(&a.u, &a.h) == nil {
			accts = append(accts, a)
		}
	}
	rows.Close()
	for _, a := range accts {
		root.ExecContext(ctx, "DROP USER IF EXISTS "+mysqlQuote(a.u)+"@"+mysqlQuote(a.h))
	}
}

// Creation is a creation statement for a role that may read things.
func (d *DB) Creation() string {
	if d.Kind == Postgres {
		return `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON things TO "{{name}}";`
	}
	return "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON `" + d.Name + "`.* TO '{{name}}'@'%';"
}

// Login returns a connection pool to the database as user; the caller
// closes it. It connects lazily: errors come with the first use.
func (d *DB) Login(tb testing.TB, user, password string) *sql.DB {
	tb.Helper()
	if d.Kind == Postgres {
		return OpenPostgres(tb, d.Name, user, password)
	}
	return OpenMySQL(tb, "127.0.0.1:3306", d.Name, user, password)
}

// Query connects as user and reads the things table; the error says why
// it could not. On PostgreSQL (trust auth) the password is not checked.
func (d *DB) Query(tb testing.TB, user, password string) error {
	tb.Helper()
	db := d.Login(tb, user, password)
	defer db.Close()
	var n int
	return db.QueryRowContext(tb.Context(), "SELECT count(*) FROM things").Scan(&n)
}

// UserExists asks the server whether a login user named name exists (on
// PostgreSQL: a role that can log in).
func (d *DB) UserExists(tb testing.TB, name string) bool {
	tb.Helper()
	var n int
	var err error
	if d.Kind == Postgres {
		err = d.Admin.QueryRowContext(tb.Context(), `SELECT count(*) FROM pg_roles WHERE rolname = $1 AND rolcanlogin`, name).Scan(&n)
	} else {
		err = d.Admin.QueryRowContext(tb.Context(), `SELECT count(*) FROM mysql.user WHERE User = ?`, name).Scan(&n)
	}
	if err != nil {
		tb.Fatalf("look up user %s: %v", name, err)
	}
	return n > 0
}

// mysqlQuote quotes s as a MySQL string literal.
func mysqlQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(s) + "'"
}
