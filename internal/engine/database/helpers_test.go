package database

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// testdb is one test's own database on a real server, with an admin
// connection to it. Every name the test makes should contain suffix:
// cleanup drops the database and every user whose name contains it.
type testdb struct {
	kind   string // "postgres" or "mysql"
	name   string // database name
	suffix string // random, lowercase, 6 characters
	admin  *sql.DB
	plugin string
	url    string // connection_url template for the engine
	// user and password the engine's connection uses by default.
	user, password string
}

// needServer fails (CI=true) or skips the test when a server is down.
func needServer(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is unreachable (CI=true, so this fails): %v", what, err)
	}
	tb.Skipf("%s is unreachable, skipping: %v (start it as described in /work/shared/SERVICES.md)", what, err)
}

func randomSuffix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

func openPG(tb testing.TB, dbname, user, password string) *sql.DB {
	tb.Helper()
	cfg, err := pgx.ParseConfig("host=127.0.0.1 port=5432 sslmode=disable connect_timeout=5")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Database, cfg.User, cfg.Password = dbname, user, password
	return stdlib.OpenDB(*cfg)
}

func openMySQL(tb testing.TB, dbname, user, password string) *sql.DB {
	tb.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.DBName, cfg.User, cfg.Passwd = "tcp", "127.0.0.1:3306", dbname, user, password
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return sql.OpenDB(conn)
}

// newPostgres creates a database on the local PostgreSQL for this test.
func newPostgres(tb testing.TB) *testdb {
	tb.Helper()
	ctx := context.Background()
	root := openPG(tb, "postgres", "postgres", "")
	if err := root.PingContext(ctx); err != nil {
		root.Close()
		needServer(tb, "PostgreSQL on 127.0.0.1:5432", err)
	}
	suffix := randomSuffix()
	tdb := &testdb{
		kind: "postgres", name: "coffer_t_" + suffix, suffix: suffix, plugin: PluginPostgres,
		user: "postgres", password: "unused-with-trust",
	}
	tdb.url = "postgres://{{username}}:{{password}}@127.0.0.1:5432/" + tdb.name + "?sslmode=disable"
	mustExec(tb, root, `CREATE DATABASE `+tdb.name)
	tdb.admin = openPG(tb, tdb.name, "postgres", "")
	tb.Cleanup(func() {
		tdb.admin.Close()
		_, _ = root.ExecContext(ctx, `DROP DATABASE IF EXISTS `+tdb.name+` WITH (FORCE)`)
		rows, err := root.QueryContext(ctx, `SELECT rolname FROM pg_roles WHERE rolname LIKE '%' || $1 || '%'`, suffix)
		if err == nil {
			var names []string
			for rows.Next() {
				var n string
				if rows.Scan(&n) == nil {
					names = append(names, n)
				}
			}
			rows.Close()
			for _, n := range names {
				_, _ = root.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, n)
				if _, err := root.ExecContext(ctx, `DROP ROLE IF EXISTS `+pgx.Identifier{n}.Sanitize()); err != nil {
					tb.Errorf("cleanup: drop role %s: %v", n, err)
				}
			}
		}
		root.Close()
	})
	mustExec(tb, tdb.admin, `CREATE TABLE things (id int primary key, label text)`)
	mustExec(tb, tdb.admin, `INSERT INTO things VALUES (1, 'one'), (2, 'two')`)
	return tdb
}

// newMySQL creates a database on the local MariaDB for this test.
func newMySQL(tb testing.TB) *testdb {
	tb.Helper()
	ctx := context.Background()
	root := openMySQL(tb, "", "root", "")
	if err := root.PingContext(ctx); err != nil {
		root.Close()
		needServer(tb, "MariaDB on 127.0.0.1:3306", err)
	}
	suffix := randomSuffix()
	tdb := &testdb{
		kind: "mysql", name: "coffer_t_" + suffix, suffix: suffix, plugin: PluginMySQL,
		user: "root", password: "",
	}
	tdb.url = "{{username}}:{{password}}@tcp(127.0.0.1:3306)/" + tdb.name
	mustExec(tb, root, "CREATE DATABASE `"+tdb.name+"`")
	tdb.admin = openMySQL(tb, tdb.name, "root", "")
	tb.Cleanup(func() {
		tdb.admin.Close()
		_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+tdb.name+"`")
		rows, err := root.QueryContext(ctx, `SELECT User, Host FROM mysql.user WHERE User LIKE CONCAT('%', ?, '%')`, suffix)
		if err == nil {
			var accounts []string
			for rows.Next() {
				var u, h string
				if rows.Scan(&u, &h) == nil {
					accounts = append(accounts, mysqlAccount(u, h))
				}
			}
			rows.Close()
			for _, a := range accounts {
				if _, err := root.ExecContext(ctx, `DROP USER IF EXISTS `+a); err != nil {
					tb.Errorf("cleanup: drop user %s: %v", a, err)
				}
			}
		}
		root.Close()
	})
	mustExec(tb, tdb.admin, `CREATE TABLE things (id int primary key, label text)`)
	mustExec(tb, tdb.admin, `INSERT INTO things VALUES (1, 'one'), (2, 'two')`)
	return tdb
}

// login opens a connection to the test database as user.
func (d *testdb) login(tb testing.TB, user, password string) *sql.DB {
	tb.Helper()
	if d.kind == "postgres" {
		return openPG(tb, d.name, user, password)
	}
	return openMySQL(tb, d.name, user, password)
}

// canLogin reports whether user can connect and read the things table;
// err says why not.
func (d *testdb) canLogin(tb testing.TB, user, password string) error {
	tb.Helper()
	db := d.login(tb, user, password)
	defer db.Close()
	var n int
	return db.QueryRowContext(tb.Context(), `SELECT count(*) FROM things`).Scan(&n)
}

// createRole is the creation statement for a role that may read things.
func (d *testdb) creation() string {
	if d.kind == "postgres" {
		return `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON things TO "{{name}}";`
	}
	return "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON `" + d.name + "`.* TO '{{name}}'@'%';"
}

// createUser makes a plain login user named name with password pw that
// may read things (for static roles and as an admin).
func (d *testdb) createUser(tb testing.TB, name, pw string, superuser bool) {
	tb.Helper()
	if d.kind == "postgres" {
		extra := ""
		if superuser {
			extra = " SUPERUSER"
		}
		mustExec(tb, d.admin, `CREATE ROLE `+pgx.Identifier{name}.Sanitize()+` WITH LOGIN`+extra+` PASSWORD `+pgLiteral(pw))
		mustExec(tb, d.admin, `GRANT SELECT ON things TO `+pgx.Identifier{name}.Sanitize())
		return
	}
	mustExec(tb, d.admin, `CREATE USER `+mysqlAccount(name, "%")+` IDENTIFIED BY `+mysqlLiteral(pw))
	if superuser {
		mustExec(tb, d.admin, `GRANT ALL PRIVILEGES ON *.* TO `+mysqlAccount(name, "%")+` WITH GRANT OPTION`)
	} else {
		mustExec(tb, d.admin, "GRANT SELECT ON `"+d.name+"`.* TO "+mysqlAccount(name, "%"))
	}
}

// passwordHash returns pg_authid's stored hash for a PostgreSQL role.
func (d *testdb) passwordHash(tb testing.TB, name string) string {
	tb.Helper()
	var h sql.NullString
	if err := d.admin.QueryRowContext(tb.Context(), `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, name).Scan(&h); err != nil {
		tb.Fatalf("read pg_authid for %s: %v", name, err)
	}
	return h.String
}

// userExists asks the server directly.
func (d *testdb) userExists(tb testing.TB, name string) bool {
	tb.Helper()
	var ok bool
	var err error
	if d.kind == "postgres" {
		ok, err = postgres{}.userExists(tb.Context(), d.admin, name)
	} else {
		ok, err = mysqlDialect{}.userExists(tb.Context(), d.admin, name)
	}
	if err != nil {
		tb.Fatalf("look up user %s: %v", name, err)
	}
	return ok
}

func mustExec(tb testing.TB, db *sql.DB, q string, args ...any) {
	tb.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		tb.Fatalf("exec %q: %v", q, err)
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// harness drives one engine.
type harness struct {
	tb    testing.TB
	b     *backend
	env   logical.Env
	st    *logicaltest.Storage
	clock *logicaltest.Clock
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	env := logicaltest.NewEnv(nil)
	env.Clock = logicaltest.NewClock(time.Now())
	return newHarnessEnv(tb, env)
}

func newHarnessEnv(tb testing.TB, env logical.Env) *harness {
	tb.Helper()
	b := logicaltest.New(tb, Factory, env)
	return &harness{tb: tb, b: b.(*backend), env: env, st: env.Storage.(*logicaltest.Storage), clock: env.Clock.(*logicaltest.Clock)}
}

// restart builds a new engine on the same storage and clock, as after a
// server restart.
func (h *harness) restart() *harness {
	h.tb.Helper()
	h.b.Cleanup(context.Background())
	return newHarnessEnv(h.tb, h.env)
}

func (h *harness) do(op logical.Operation, path string, body any) (*logical.Response, error) {
	h.tb.Helper()
	req := &logical.Request{Operation: op, Path: path}
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			h.tb.Fatal(err)
		}
		req.Body = raw
	}
	return h.b.HandleRequest(h.tb.Context(), req)
}

func (h *harness) write(path string, body any) error {
	h.tb.Helper()
	_, err := h.do(logical.UpdateOperation, path, body)
	return err
}

func (h *harness) mustWrite(path string, body any) {
	h.tb.Helper()
	if err := h.write(path, body); err != nil {
		h.tb.Fatalf("write %s: %v", path, err)
	}
}

// data returns a response's data as a generic JSON object.
func data(tb testing.TB, resp *logical.Response) map[string]any {
	tb.Helper()
	if resp == nil {
		tb.Fatal("nil response")
	}
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// configure writes connection "db" for tdb allowing every role.
func (h *harness) configure(tdb *testdb, extra map[string]any) {
	h.tb.Helper()
	body := map[string]any{
		"plugin_name":    tdb.plugin,
		"connection_url": tdb.url,
		"username":       tdb.user,
		"password":       tdb.password,
		"allowed_roles":  "*",
	}
	for k, v := range extra {
		body[k] = v
	}
	h.mustWrite("config/db", body)
}

// creds asks for credentials of role and returns them with the lease.
func (h *harness) creds(role string) (user, pw string, lease *logical.LeasedSecret) {
	h.tb.Helper()
	resp, err := h.do(logical.ReadOperation, "creds/"+role, nil)
	if err != nil {
		h.tb.Fatalf("read creds/%s: %v", role, err)
	}
	c := resp.Data.(*credsResponse)
	if resp.Secret == nil || !resp.Secret.Renewable {
		h.tb.Fatalf("creds/%s: secret = %+v, want a renewable lease", role, resp.Secret)
	}
	return c.Username, c.Password, &logical.LeasedSecret{
		LeaseID: "database/creds/" + role + "/x", Path: "creds/" + role,
		InternalData: resp.Secret.InternalData, IssueTime: h.clock.Now(),
	}
}

func wantKind(tb testing.TB, what string, err, kind error) {
	tb.Helper()
	if !errors.Is(err, kind) {
		tb.Fatalf("%s: error = %v, want %v", what, err, kind)
	}
}
