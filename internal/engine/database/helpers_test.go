package database

import (
	"context"
	"database/sql"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/testdb"
)

// testDB is one test's own database on a real server (see
// internal/testdb), with what the engine's tests need beyond it. Every
// name the test makes should contain Suffix: cleanup drops the database
// and every user whose name contains it.
type testDB struct{ *testdb.DB }

// newPostgres creates a database on the local PostgreSQL for this test.
func newPostgres(tb testing.TB) *testDB {
	tb.Helper()
	return &testDB{testdb.New(tb, testdb.Postgres)}
}

// newMySQL creates a database on the local MariaDB for this test.
func newMySQL(tb testing.TB) *testDB {
	tb.Helper()
	return &testDB{testdb.New(tb, testdb.MySQL)}
}

// createUser makes a plain login user named name with password pw that
// may read things (for static roles and as an admin).
func (d *testDB) createUser(tb testing.TB, name, pw string, superuser bool) {
	tb.Helper()
	if d.Kind == testdb.Postgres {
		extra := ""
		if superuser {
			extra = " SUPERUSER"
		}
		mustExec(tb, d.Admin, `CREATE ROLE `+pgx.Identifier{name}.Sanitize()+` WITH LOGIN`+extra+` PASSWORD `+pgLiteral(pw))
		mustExec(tb, d.Admin, `GRANT SELECT ON things TO `+pgx.Identifier{name}.Sanitize())
		return
	}
	mustExec(tb, d.Admin, `CREATE USER `+mysqlAccount(name, "%")+` IDENTIFIED BY `+mysqlLiteral(pw))
	if superuser {
		mustExec(tb, d.Admin, `GRANT ALL PRIVILEGES ON *.* TO `+mysqlAccount(name, "%")+` WITH GRANT OPTION`)
	} else {
		mustExec(tb, d.Admin, "GRANT SELECT ON `"+d.Name+"`.* TO "+mysqlAccount(name, "%"))
	}
}

// passwordHash returns pg_authid's stored hash for a PostgreSQL role.
func (d *testDB) passwordHash(tb testing.TB, name string) string {
	tb.Helper()
	var h sql.NullString
	if err := d.Admin.QueryRowContext(tb.Context(), `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, name).Scan(&h); err != nil {
		tb.Fatalf("read pg_authid for %s: %v", name, err)
	}
	return h.String
}

// userExists asks the server directly.
func (d *testDB) userExists(tb testing.TB, name string) bool {
	tb.Helper()
	var ok bool
	var err error
	if d.Kind == testdb.Postgres {
		ok, err = postgres{}.userExists(tb.Context(), d.Admin, name)
	} else {
		ok, err = mysqlDialect{}.userExists(tb.Context(), d.Admin, name)
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

// harness drives one engine; b is its backend.
type harness struct {
	*logicaltest.Harness
	b *backend
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	env := logicaltest.NewEnv(nil)
	env.Clock = logicaltest.NewClock(time.Now())
	return newHarnessEnv(tb, env)
}

func newHarnessEnv(tb testing.TB, env logical.Env) *harness {
	tb.Helper()
	h := logicaltest.NewHarness(tb, Factory, env)
	return &harness{Harness: h, b: h.Backend.(*backend)}
}

// restart builds a new engine on the same storage and clock, as after a
// server restart.
func (h *harness) restart() *harness {
	h.T.Helper()
	h.b.Cleanup(context.Background())
	return newHarnessEnv(h.T, h.Env)
}

func (h *harness) write(path string, body any) error {
	h.T.Helper()
	_, err := h.Do(logical.UpdateOperation, path, body)
	return err
}

func (h *harness) mustWrite(path string, body any) {
	h.T.Helper()
	if err := h.write(path, body); err != nil {
		h.T.Fatalf("write %s: %v", path, err)
	}
}

// data returns a response's data as a generic JSON object.
func data(tb testing.TB, resp *logical.Response) map[string]any {
	tb.Helper()
	if resp == nil {
		tb.Fatal("nil response")
	}
	m, _ := logicaltest.Data(tb, resp).(map[string]any)
	return m
}

// configure writes connection "db" for tdb allowing every role.
func (h *harness) configure(tdb *testDB, extra map[string]any) {
	h.T.Helper()
	body := map[string]any{
		"plugin_name":    tdb.Plugin,
		"connection_url": tdb.URL,
		"username":       tdb.User,
		"password":       tdb.Password,
		"allowed_roles":  "*",
	}
	for k, v := range extra {
		body[k] = v
	}
	h.mustWrite("config/db", body)
}

// creds asks for credentials of role and returns them with the lease.
func (h *harness) creds(role string) (user, pw string, lease *logical.LeasedSecret) {
	h.T.Helper()
	resp, err := h.Do(logical.ReadOperation, "creds/"+role, nil)
	if err != nil {
		h.T.Fatalf("read creds/%s: %v", role, err)
	}
	c := resp.Data.(*credsResponse)
	if resp.Secret == nil || !resp.Secret.Renewable {
		h.T.Fatalf("creds/%s: secret = %+v, want a renewable lease", role, resp.Secret)
	}
	return c.Username, c.Password, &logical.LeasedSecret{
		LeaseID: "database/creds/" + role + "/x", Path: "creds/" + role,
		InternalData: resp.Secret.InternalData, IssueTime: h.Clock.Now(),
	}
}
