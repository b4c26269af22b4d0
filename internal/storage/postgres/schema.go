package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaVersion is the schema version this code writes and understands.
const SchemaVersion = 2

// fencedState is the SQLSTATE that T_check_fence raises.
const fencedState = "CF001"

// queries holds every SQL statement, with the table names filled in once.
type queries struct {
	table                              string // the key/value table, unquoted
	kv, ha, lease, version, checkFence string // quoted identifiers

	get, put, del, fence            string
	listLeaves, listLeavesBounded   string
	listFolders, listFoldersBounded string
	bumpEpoch, renewLease           string
	releaseLeader, currentLeader    string
	terminateStale                  string
}

func newQueries(table string) queries {
	id := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	q := queries{
		table:      table,
		kv:         id(table),
		ha:         id(table + "_ha"),
		lease:      id(table + "_lease"),
		version:    id(table + "_schema_version"),
		checkFence: id(table + "_check_fence"),
	}
	q.get = "SELECT value FROM " + q.kv + " WHERE dir = $1 AND name = $2"
	q.put = "INSERT INTO " + q.kv + " (dir, name, value) VALUES ($1, $2, $3) ON CONFLICT (dir, name) DO UPDATE SET value = EXCLUDED.value"
	q.del = "DELETE FROM " + q.kv + " WHERE dir = $1 AND name = $2"
	q.fence = "SELECT " + q.checkFence + "($1)"

	// Keys directly under a prefix share its dir: one range scan of the
	// primary key. $2 is the rest of the prefix after dir, $3 its upper
	// bound when it has one.
	leaves := "SELECT name FROM " + q.kv + " WHERE dir = $1 AND name >= $2"
	q.listLeaves = leaves + " ORDER BY name"
	q.listLeavesBounded = leaves + " AND name < $3 ORDER BY name"

	// Sub-folders: the smallest dir after the prefix ($1), then the
	// smallest dir after that folder's last possible dir, and so on, one
	// index probe per folder. A folder prefix+seg+"/" is skipped by
	// seeking to prefix+seg+"0" ("0" is the byte after "/"). $2 is the
	// prefix length, $3 the prefix's upper bound when it has one.
	folders := func(bound string) string {
		return "WITH RECURSIVE f(d) AS (" +
			"(SELECT dir FROM " + q.kv + " WHERE dir > $1" + bound + " ORDER BY dir LIMIT 1)" +
			" UNION ALL " +
			"SELECT (SELECT dir FROM " + q.kv +
			" WHERE dir >= substring(f.d FROM 1 FOR $2::int + position('\\x2f'::bytea IN substring(f.d FROM $2::int + 1)) - 1) || '\\x30'::bytea" +
			bound + " ORDER BY dir LIMIT 1) FROM f WHERE f.d IS NOT NULL" +
			") SELECT d FROM f WHERE d IS NOT NULL"
	}
	q.listFolders = folders("")
	q.listFoldersBounded = folders(" AND dir < $3")

	// The epoch bump and the first heartbeat of the term are one
	// statement.
	q.bumpEpoch = "WITH b AS (UPDATE " + q.ha + " SET epoch = epoch + 1, leader_id = $1, leader_addr = $2, elected_at = now() WHERE id = 1 RETURNING epoch)" +
		" UPDATE " + q.lease + " l SET epoch = b.epoch, leader_pid = pg_backend_pid(), renewed_at = now() FROM b WHERE l.id = 1 RETURNING b.epoch"
	// A bigint advisory lock shows in pg_locks as classid (high 32 bits),
	// objid (low 32 bits) and objsubid 1.
	heldBy := "FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1" +
		" AND database = (SELECT oid FROM pg_database WHERE datname = current_database())" +
		" AND classid::bigint = $1 AND objid::bigint = $2"
	// A renewal succeeds only in the session that holds the lock, and
	// only while its term's epoch is current.
	q.renewLease = "UPDATE " + q.lease + " SET renewed_at = now() WHERE id = 1 AND epoch = $3 AND leader_pid = pg_backend_pid()" +
		" AND EXISTS (SELECT 1 " + heldBy + " AND pid = pg_backend_pid())" +
		" AND (SELECT epoch FROM " + q.ha + " WHERE id = 1) = $3 RETURNING true"
	// The session holding the lock is stale when the term it recorded
	// has not been renewed for longer than the TTL ($3, microseconds) by
	// the database's clock. A holder that recorded no term (it took the
	// lock and stopped before its bump, or runs a Coffer that keeps no
	// lease) is judged by its last activity instead, which a live leader
	// refreshes at every check. Only that one session is ended.
	q.terminateStale = "SELECT h.pid, extract(epoch FROM h.age)::float8, pg_terminate_backend(h.pid) FROM (" +
		"SELECT k.pid, now() - CASE WHEN k.pid = l.leader_pid THEN l.renewed_at ELSE a.state_change END AS age" +
		" FROM (SELECT pid " + heldBy + ") k" +
		" CROSS JOIN " + q.lease + " l LEFT JOIN pg_stat_activity a ON a.pid = k.pid WHERE l.id = 1" +
		") h WHERE h.age > $3::bigint * interval '1 microsecond'"
	q.releaseLeader = "UPDATE " + q.ha + " SET leader_id = '', leader_addr = '' WHERE id = 1 AND epoch = $1"
	q.currentLeader = "SELECT leader_id, leader_addr, epoch, EXISTS (SELECT 1 " + heldBy + ") FROM " + q.ha + " WHERE id = 1"
	return q
}

// migrations[i] brings the schema from version i to i+1.
func migrations(q queries) [][]string {
	return [][]string{{
		"CREATE TABLE " + q.kv + " (dir bytea NOT NULL, name bytea NOT NULL, value bytea NOT NULL, PRIMARY KEY (dir, name))",
		"CREATE TABLE " + q.ha + " (id int PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL," +
			" leader_id text NOT NULL DEFAULT '', leader_addr text NOT NULL DEFAULT '', elected_at timestamptz)",
		"INSERT INTO " + q.ha + " (id, epoch) VALUES (1, 0)",
		// FOR SHARE conflicts with the UPDATE that bumps the epoch: an
		// election waits for fenced writes in flight, and a fenced write
		// that starts after the bump sees the new epoch.
		"CREATE FUNCTION " + q.checkFence + "(want bigint) RETURNS void LANGUAGE plpgsql AS $f$\n" +
			"DECLARE have bigint;\n" +
			"BEGIN\n" +
			"  SELECT epoch INTO have FROM " + q.ha + " WHERE id = 1 FOR SHARE;\n" +
			"  IF have IS DISTINCT FROM want THEN\n" +
			"    RAISE EXCEPTION 'write fenced: epoch % is not the current epoch %', want, have USING ERRCODE = '" + fencedState + "';\n" +
			"  END IF;\n" +
			"END\n$f$",
	}, {
		// The leader's lease: its own row, so that renewals never wait
		// for the share locks fenced writes hold on the epoch row.
		"CREATE TABLE " + q.lease + " (id int PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL DEFAULT 0," +
			" leader_pid int NOT NULL DEFAULT 0, renewed_at timestamptz)",
		"INSERT INTO " + q.lease + " (id) VALUES (1)",
	}}
}

// migrate creates or upgrades the schema in one transaction, holding an
// advisory lock so that nodes starting at once take turns. It refuses a
// schema newer than [SchemaVersion] before changing anything.
func migrate(ctx context.Context, pool *pgxpool.Pool, q queries, key int64, logger *slog.Logger) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin schema transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key); err != nil {
		return fmt.Errorf("lock schema: %w", err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+q.version+" (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)"); err != nil {
		return fmt.Errorf("create schema version table: %w", err)
	}
	var have int
	err = tx.QueryRow(ctx, "SELECT version FROM "+q.version+" WHERE id = 1").Scan(&have)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		have = 0
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	case have > SchemaVersion:
		return fmt.Errorf("%w: database has version %d, this code knows up to %d; upgrade Coffer", ErrSchemaTooNew, have, SchemaVersion)
	case have < 1:
		return fmt.Errorf("schema version %d is invalid", have)
	}
	if have == SchemaVersion {
		return nil
	}
	steps := migrations(q)
	for v := have; v < SchemaVersion; v++ {
		for i, stmt := range steps[v] {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("migrate schema to version %d, step %d: %w", v+1, i+1, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+q.version+" (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version", SchemaVersion); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit schema: %w", err)
	}
	logger.Info("postgres storage schema migrated", "from", have, "to", SchemaVersion)
	return nil
}
