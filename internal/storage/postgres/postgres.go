package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/postgres/pgtable"
)

// DefaultTable is the key/value table's name when [Options].Table is empty.
const DefaultTable = "coffer_kv"

// DefaultMaxParallel is the pool size when [Options].MaxParallel is zero.
const DefaultMaxParallel = 32

// ErrSchemaTooNew is returned by Open when the database holds a schema
// written by a newer Coffer. Open changes nothing in that case.
var ErrSchemaTooNew = errors.New("postgres storage schema is newer than this Coffer supports")

// Options configures Open.
type Options struct {
	// ConnURL is a PostgreSQL connection string, as a URL
	// ("postgres://user:pass@host:5432/db?sslmode=verify-full") or in
	// keyword/value form. It is a secret: it is never logged, and errors
	// never include its password.
	ConnURL string
	// Table is the key/value table; the companion tables are named after it
	// (see the package documentation). It must match [a-z_][a-z0-9_]* and be
	// at most 48 bytes long. Empty means [DefaultTable].
	Table string
	// MaxParallel is the most pooled connections open at once; zero means
	// [DefaultMaxParallel].
	MaxParallel int
	// Logger receives lifecycle events; nil discards them.
	Logger *slog.Logger
	// Exclusive claims the tables for this Storage alone: Open fails with
	// an error matching [ErrInUse] while any other Storage (in any
	// process) has them open, and every other Open fails the same way
	// until this one is closed. `coffer operator migrate` opens its
	// source and destination so. Without it the claim is shared: servers
	// open the tables side by side but never while an exclusive holder
	// has them.
	Exclusive bool
}

// Storage is a [storage.Storage] in PostgreSQL. Create it with Open and
// release its connections with Close.
type Storage struct {
	pool       *pgxpool.Pool
	connConfig *pgx.ConnConfig // template for dedicated connections; never modified
	password   string          // for scrubbing error texts only
	logger     *slog.Logger
	q          queries
	leaderKey  int64     // advisory lock key of the election
	claimConn  *pgx.Conn // holds the open claim (see claim.go); closed by Close
	fence      atomic.Pointer[Fence]
}

var (
	_ storage.Storage = (*Storage)(nil)
	_ storage.Closer  = (*Storage)(nil)
)

// Open connects to PostgreSQL, creates or checks the schema, and returns a
// ready Storage. It fails with an error that says what failed and where
// (host, port, database, user; never the password) when the server is
// unreachable, and with an error matching [ErrSchemaTooNew] when the schema
// is newer than this code.
func Open(ctx context.Context, opts Options) (*Storage, error) {
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if err := pgtable.Check(opts.Table); err != nil {
		return nil, fmt.Errorf("open postgres storage: %w", err)
	}
	if opts.MaxParallel < 0 {
		return nil, fmt.Errorf("open postgres storage: max parallel %d is negative", opts.MaxParallel)
	}
	if opts.MaxParallel == 0 {
		opts.MaxParallel = DefaultMaxParallel
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "storage.postgres")

	cfg, err := pgxpool.ParseConfig(opts.ConnURL)
	if err != nil {
		// pgx redacts passwords only on a best-effort basis for malformed
		// strings, and net/url echoes the URL: say nothing of its text.
		return nil, errors.New("open postgres storage: connection URL is malformed (not shown: it may contain a password)")
	}
	cfg.MaxConns = int32(min(opts.MaxParallel, 1<<30))
	cfg.AfterConnect = ensureSyncCommit
	password := cfg.ConnConfig.Password
	where := describe(cfg.ConnConfig)

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, scrub(fmt.Errorf("open postgres storage (%s): %w", where, err), password)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, scrub(fmt.Errorf("connect to postgres (%s): %w", where, err), password)
	}
	s := &Storage{
		pool:       pool,
		connConfig: cfg.ConnConfig.Copy(),
		password:   password,
		logger:     logger,
	}
	if err := s.setUp(ctx, opts.Table, opts.Exclusive); err != nil {
		pool.Close()
		return nil, scrub(fmt.Errorf("open postgres storage (%s): %w", where, err), password)
	}
	return s, nil
}

// setUp resolves the schema the tables live in, derives the advisory lock
// keys from it, claims the tables and migrates.
func (s *Storage) setUp(ctx context.Context, table string, exclusive bool) error {
	var schema *string
	if err := s.pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("read current schema: %w", err)
	}
	if schema == nil {
		return errors.New("no current schema: search_path names no existing schema")
	}
	s.q = newQueries(table)
	s.leaderKey = lockKey(*schema, table, "leader")
	if err := s.claim(ctx, lockKey(*schema, table, "open"), exclusive); err != nil {
		return err
	}
	if err := migrate(ctx, s.pool, s.q, lockKey(*schema, table, "migrate"), s.logger); err != nil {
		closeQuietly(s.claimConn)
		return err
	}
	return nil
}

// Close closes the pool and releases the claim on the tables. Leaderships
// and listeners hold their own connections and end on their own terms.
func (s *Storage) Close() error {
	s.pool.Close()
	if s.claimConn != nil {
		closeQuietly(s.claimConn)
	}
	return nil
}

// ensureSyncCommit turns synchronous_commit on for a connection whose
// server default is off, so that a commit that returned is on disk. Other
// values (on, local, remote_write, remote_apply) are left as configured.
func ensureSyncCommit(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, "SELECT CASE WHEN current_setting('synchronous_commit') = 'off' THEN set_config('synchronous_commit', 'on', false) END")
	if err != nil {
		return fmt.Errorf("check synchronous_commit: %w", err)
	}
	return nil
}

// lockKey derives an advisory lock key unique to one Coffer table set in
// one schema; advisory locks are already scoped to the database.
func lockKey(schema, table, purpose string) int64 {
	h := fnv.New64a()
	h.Write([]byte("coffer\x00" + schema + "\x00" + table + "\x00" + purpose))
	return int64(h.Sum64())
}

// describe names a server for error messages: host, port, database and
// user, never the password.
func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("host=%s port=%d database=%s user=%s", c.Host, c.Port, c.Database, c.User)
}

// scrub returns err with every occurrence of password in its text masked.
// pgx does not put passwords in its errors; this guards against a server
// or dialer message echoing one.
func scrub(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), password, "xxxxx"), err: err}
}

// scrubbed is an error whose text has the password masked; errors.Is and
// errors.As still see the original chain.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// sqlState returns the SQLSTATE of a PostgreSQL error, or "".
func sqlState(err error) string {
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code
	}
	return ""
}
