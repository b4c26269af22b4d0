package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-secrets/coffer/internal/storage/postgres"
)

// baseURL is the test server: COFFER_TEST_POSTGRES_URL, or the local
// PostgreSQL of /work/shared/SERVICES.md.
func baseURL() string {
	if u := os.Getenv("COFFER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// admin connects to the test server for set-up and inspection. Without a
// server it fails the test when CI=true and skips it otherwise.
func admin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL())
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL unreachable (%v); start it (see SERVICES.md) or set COFFER_TEST_POSTGRES_URL", err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx) // the session ends with the test either way
	})
	return conn
}

func randomSuffix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// newSchema creates a schema with a random name, drops it when tb ends, and
// returns a connection URL whose search_path is that schema.
func newSchema(tb testing.TB) (url, schema string) {
	tb.Helper()
	conn := admin(tb)
	schema = "coffer_test_" + randomSuffix(tb)
	if _, err := conn.Exec(tb.Context(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("CREATE SCHEMA: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("DROP SCHEMA %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(baseURL(), "?") {
		sep = "&"
	}
	return baseURL() + sep + "search_path=" + schema, schema
}

// open opens a Storage on url and closes it when tb ends.
func open(tb testing.TB, url string) *postgres.Storage {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), postgres.Options{ConnURL: url, MaxParallel: 8})
	if err != nil {
		tb.Fatalf("Open = %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// exec runs SQL on the admin connection within schema.
func exec(tb testing.TB, conn *pgx.Conn, schema, sql string, args ...any) {
	tb.Helper()
	if _, err := conn.Exec(tb.Context(), "SET search_path TO "+schema); err != nil {
		tb.Fatalf("SET search_path: %v", err)
	}
	if _, err := conn.Exec(tb.Context(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// terminate ends the server sessions whose application_name is name, as a
// crash or a partition ending in a reset would, and returns how many.
func terminate(tb testing.TB, conn *pgx.Conn, name string) int {
	tb.Helper()
	var n int
	err := conn.QueryRow(tb.Context(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
		name).Scan(&n)
	if err != nil {
		tb.Fatalf("pg_terminate_backend: %v", err)
	}
	return n
}
