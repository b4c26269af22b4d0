package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// ErrInUse is returned by Open when the tables are claimed in a way that
// excludes this Open: an exclusive Open (such as `coffer operator
// migrate`) finds another process with the tables open, or a shared Open
// (a server) finds them held by an exclusive one.
var ErrInUse = errors.New("postgres storage is in use by another process")

// claim holds a session-level advisory lock on a dedicated connection for
// as long as the Storage is open: shared for an ordinary Open, exclusive
// for [Options].Exclusive. PostgreSQL frees it when the session ends, so
// a process that dies leaves no stale claim behind.
func (s *Storage) claim(ctx context.Context, key int64, exclusive bool) error {
	cfg := s.connConfig.Copy()
	cfg.RuntimeParams["application_name"] = "coffer-claim"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return s.wrap(fmt.Sprintf("claim storage: connect (%s)", describe(cfg)), err)
	}
	fn, why := "pg_try_advisory_lock_shared", "an exclusive user (a storage migration) holds it"
	if exclusive {
		fn, why = "pg_try_advisory_lock", "another Coffer process (a server or a migration) has it open"
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT "+fn+"($1)", key).Scan(&ok); err != nil {
		closeQuietly(conn)
		return s.wrap("claim storage", err)
	}
	if !ok {
		closeQuietly(conn)
		return fmt.Errorf("%w: %s", ErrInUse, why)
	}
	s.claimConn = conn
	return nil
}

// GetMany returns the entries at keys, in the order of keys, with nil for
// each key that holds nothing, in one query. It is for bulk readers such
// as the storage migration; an invalid key fails the call.
func (s *Storage) GetMany(ctx context.Context, keys []string) ([]*storage.Entry, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	dirs := make([][]byte, len(keys))
	names := make([][]byte, len(keys))
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		dirs[i], names[i] = split(k)
		index[k] = i
	}
	rows, err := s.pool.Query(ctx, "SELECT t.dir, t.name, t.value FROM "+s.q.kv+
		" t JOIN unnest($1::bytea[], $2::bytea[]) AS k(dir, name) ON t.dir = k.dir AND t.name = k.name", dirs, names)
	if err != nil {
		return nil, s.wrap("postgres get many", err)
	}
	defer rows.Close()
	out := make([]*storage.Entry, len(keys))
	for rows.Next() {
		var dir, name, value []byte
		if err := rows.Scan(&dir, &name, &value); err != nil {
			return nil, s.wrap("postgres get many", err)
		}
		var b strings.Builder
		b.Write(dir)
		b.Write(name)
		k := b.String()
		if i, ok := index[k]; ok {
			out[i] = &storage.Entry{Key: k, Value: value}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("postgres get many", err)
	}
	return out, nil
}
