package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
	"github.com/coffer-secrets/coffer/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		url, _ := newSchema(t)
		return open(t, url)
	})
}

// TestOpenIdempotent opens the same schema several times at once and then
// again: the schema is created once, and data survives reopening.
func TestOpenIdempotent(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), postgres.Options{ConnURL: url, MaxParallel: 2})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open = %v, want nil", err)
	}
	s := open(t, url)
	if err := s.Put(t.Context(), &storage.Entry{Key: "core/keyring", Value: []byte("ring")}); err != nil {
		t.Fatalf("Put = %v", err)
	}
	_ = s.Close()
	s = open(t, url)
	e, err := s.Get(t.Context(), "core/keyring")
	if err != nil || e == nil || string(e.Value) != "ring" {
		t.Fatalf("Get after reopen = %v, %v; want value %q", e, err, "ring")
	}
}

// TestSchemaTooNew checks that a schema from a newer Coffer stops Open and
// is left as it was.
func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	s := open(t, url)
	if err := s.Put(t.Context(), &storage.Entry{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Put = %v", err)
	}
	_ = s.Close()
	conn := admin(t)
	newer := postgres.SchemaVersion + 1
	exec(t, conn, schema, "UPDATE coffer_kv_schema_version SET version = $1", newer)

	_, err := postgres.Open(t.Context(), postgres.Options{ConnURL: url})
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("Open on a version %d schema = %v, want ErrSchemaTooNew", newer, err)
	}
	var version, rows int
	if err := conn.QueryRow(t.Context(), "SELECT version FROM coffer_kv_schema_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM coffer_kv").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if version != newer || rows != 1 {
		t.Errorf("after refused Open: version %d with %d rows, want %d with 1", version, rows, newer)
	}
}

// TestOpenErrors checks that failures say what failed and never show the
// password.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	admin(t) // skip or fail early without a server, like the other tests
	const password = "pw-s3cr3t-4711"
	tests := []struct {
		name    string
		opts    postgres.Options
		mention []string
	}{
		{
			name:    "unreachable URL",
			opts:    postgres.Options{ConnURL: "postgres://coffer:" + password + "@127.0.0.1:1/coffer?connect_timeout=2"},
			mention: []string{"connect to postgres", "127.0.0.1", "port=1", "database=coffer", "user=coffer"},
		},
		{
			name:    "unreachable keyword form",
			opts:    postgres.Options{ConnURL: "host=127.0.0.1 port=1 user=coffer password=" + password + " dbname=coffer connect_timeout=2"},
			mention: []string{"connect to postgres", "port=1"},
		},
		{
			name:    "malformed URL",
			opts:    postgres.Options{ConnURL: "postgres://coffer:" + password + "@127.0.0.1:notaport/coffer"},
			mention: []string{"malformed"},
		},
		{
			name:    "malformed keyword form",
			opts:    postgres.Options{ConnURL: "host=127.0.0.1 password='" + password},
			mention: []string{"malformed"},
		},
		{
			name:    "bad table name",
			opts:    postgres.Options{ConnURL: baseURL(), Table: "Robert'); DROP TABLE students;--"},
			mention: []string{"table name"},
		},
		{
			name:    "missing schema",
			opts:    postgres.Options{ConnURL: baseURL() + "&search_path=coffer_no_such_schema_" + password},
			mention: []string{"no current schema"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := postgres.Open(t.Context(), tt.opts)
			if err == nil {
				_ = s.Close()
				t.Fatalf("Open = nil error, want one")
			}
			msg := err.Error()
			if strings.Contains(msg, password) {
				t.Errorf("Open error shows the password: %q", msg)
			}
			for _, m := range tt.mention {
				if !strings.Contains(msg, m) {
					t.Errorf("Open error %q does not mention %q", msg, m)
				}
			}
		})
	}
}

// TestTxnAtomicInDatabase makes PostgreSQL itself reject the last operation
// of a transaction (a trigger raises on one key) and checks that the
// earlier operations, already executed in the same pipeline, are gone.
func TestTxnAtomicInDatabase(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	s := open(t, url)
	ctx := t.Context()
	if err := s.Put(ctx, &storage.Entry{Key: "x/old", Value: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	conn := admin(t)
	exec(t, conn, schema, `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name = 'boom' THEN RAISE EXCEPTION 'boom'; END IF;
  RETURN NEW;
END $$`)
	exec(t, conn, schema, "CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON coffer_kv FOR EACH ROW EXECUTE FUNCTION boom()")

	err := s.Txn(ctx, []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "x/new", Value: []byte("n")}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: "x/old"}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: "x/boom", Value: []byte("b")}},
	})
	if err == nil {
		t.Fatal("Txn with a failing operation = nil, want an error")
	}
	got, err := s.List(ctx, "x/")
	if err != nil || len(got) != 1 || got[0] != "old" {
		t.Errorf("List(x/) after failed Txn = %q, %v; want [old]", got, err)
	}
	// A failed Put alone changes nothing either, and the pool stays usable.
	if err := s.Put(ctx, &storage.Entry{Key: "boom", Value: nil}); err == nil {
		t.Error("Put(boom) = nil, want the trigger's error")
	}
	if err := s.Put(ctx, &storage.Entry{Key: "fine", Value: nil}); err != nil {
		t.Errorf("Put(fine) after a failure = %v", err)
	}
}

// TestKeyTooLong checks the key size limit that keeps index entries small.
func TestKeyTooLong(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	s := open(t, url)
	for _, tt := range []struct {
		n       int
		wantErr bool
	}{{postgres.MaxKeySize, false}, {postgres.MaxKeySize + 1, true}} {
		key := strings.Repeat("k", tt.n)
		err := s.Put(t.Context(), &storage.Entry{Key: key, Value: []byte("v")})
		if gotErr := errors.Is(err, storage.ErrInvalidKey); gotErr != tt.wantErr || (!tt.wantErr && err != nil) {
			t.Errorf("Put(key of %d bytes) = %v, want ErrInvalidKey: %v", tt.n, err, tt.wantErr)
		}
	}
}

// TestCanceledWhileWaiting checks that a write blocked on a row lock
// returns when its context ends.
func TestCanceledWhileWaiting(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	s := open(t, url)
	if err := s.Put(t.Context(), &storage.Entry{Key: "locked", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	conn := admin(t)
	exec(t, conn, schema, "BEGIN")
	exec(t, conn, schema, "SELECT * FROM coffer_kv FOR UPDATE")
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "ROLLBACK") })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, &storage.Entry{Key: "locked", Value: []byte("w")}) }()
	// Cancel only once the Put waits for the lock in the server.
	for {
		var waiting bool
		err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%coffer_kv%')").Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Put returned %v while the row was locked", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Put blocked by a row lock, then canceled = nil, want an error")
	}
}

// TestSyncCommitForced opens a storage whose sessions start with
// synchronous_commit off and checks, from inside the server, that its
// writes and its election run with it on: an acknowledged write must
// survive a crash of the database server.
func TestSyncCommitForced(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	url += "&synchronous_commit=off"
	s := open(t, url)
	conn := admin(t)
	exec(t, conn, schema, "CREATE TABLE seen (setting text NOT NULL)")
	exec(t, conn, schema, `CREATE FUNCTION record_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO seen VALUES (current_setting('synchronous_commit'));
  RETURN NEW;
END $$`)
	exec(t, conn, schema, "CREATE TRIGGER record_sync BEFORE INSERT OR UPDATE ON coffer_kv FOR EACH ROW EXECUTE FUNCTION record_sync()")
	exec(t, conn, schema, "CREATE TRIGGER record_sync BEFORE UPDATE ON coffer_kv_ha FOR EACH ROW EXECUTE FUNCTION record_sync()")

	if err := s.Put(t.Context(), &storage.Entry{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	e, err := postgres.NewElector(s, postgres.ElectorOptions{NodeID: "sync-" + randomSuffix(t)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	rows, err := conn.Query(t.Context(), "SELECT setting FROM seen")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The Put, the epoch bump and the step-down each fire a trigger.
	if len(got) != 3 {
		t.Fatalf("triggers fired %d times (%q), want 3", len(got), got)
	}
	for _, v := range got {
		if v != "on" {
			t.Errorf("synchronous_commit during a write = %q, want on", v)
		}
	}
}
