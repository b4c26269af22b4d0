package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/backoff"
	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
	"github.com/coffer-secrets/coffer/internal/storage/postgres/pgtable"
)

// Backoff of the first connection to PostgreSQL.
const (
	pgFirstRetry = 500 * time.Millisecond
	pgMaxRetry   = 30 * time.Second
)

// openPostgres opens the PostgreSQL storage, retrying with backoff while
// the server is unreachable (each failure is logged, without the password)
// until ctx ends. A schema written by a newer Coffer, tables claimed by a
// storage migration, or a configuration the storage refuses, fail at once.
func openPostgres(ctx context.Context, pc *config.PostgresStorage, logger *slog.Logger) (*postgres.Storage, error) {
	connURL, table := postgresTarget(string(pc.ConnectionURL), pc.Table)
	// Checked before connecting, so that a bad name fails at once
	// instead of being retried.
	if err := pgtable.Check(table); err != nil {
		return nil, fmt.Errorf("postgresql storage: %w", err)
	}
	opts := postgres.Options{ConnURL: connURL, Table: table, MaxParallel: pc.MaxParallel, Logger: logger}
	retry := backoff.Backoff{Min: pgFirstRetry, Max: pgMaxRetry}
	for attempt := 1; ; attempt++ {
		st, err := postgres.Open(ctx, opts)
		if err == nil {
			if attempt > 1 {
				logger.Info("connected to PostgreSQL", "attempts", attempt)
			}
			return st, nil
		}
		if errors.Is(err, postgres.ErrSchemaTooNew) || errors.Is(err, postgres.ErrInUse) {
			return nil, fmt.Errorf("refusing to start: %w", err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("give up connecting to PostgreSQL after %d attempts: %w", attempt, err)
		}
		wait := retry.Next()
		logger.Warn("PostgreSQL storage is unreachable; retrying", "attempt", attempt, "retry_in", wait, "err", err)
		if !backoff.Sleep(ctx.Done(), wait) {
			return nil, fmt.Errorf("give up connecting to PostgreSQL after %d attempts: %w", attempt, err)
		}
	}
}

// postgresTarget turns the configuration's table, which may be
// schema-qualified ("coffer.kv"), into the storage's plain table name and
// a connection string whose search_path is that schema. PostgreSQL folds
// unquoted names to lower case, and so does this.
func postgresTarget(connURL, table string) (string, string) {
	table = strings.ToLower(table)
	schema, name, ok := strings.Cut(table, ".")
	if !ok {
		return connURL, table
	}
	if strings.Contains(connURL, "://") {
		if u, err := url.Parse(connURL); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String(), name
		}
		return connURL, name // Open reports the malformed URL
	}
	return connURL + " search_path=" + schema, name
}

// pgHA adapts the PostgreSQL storage to ha.Backend: election with fencing,
// the leader record, and notifications on channels scoped to the table.
type pgHA struct {
	st     *postgres.Storage
	el     *postgres.Elector
	prefix string // channel name prefix, unique per table
}

var (
	_ ha.Backend    = (*pgHA)(nil)
	_ ha.Leadership = (*postgres.Leadership)(nil)
)

// newPGHA builds the adapter; leaseTTL zero means the elector's default.
// The elector's Leadership is the ha.Leadership as is: its ValidUntil is
// the lease the node checks before acting as active.
func newPGHA(st *postgres.Storage, table, nodeID, apiAddr string, leaseTTL time.Duration, logger *slog.Logger) (*pgHA, error) {
	el, err := postgres.NewElector(st, postgres.ElectorOptions{NodeID: nodeID, Addr: apiAddr, LeaseTTL: leaseTTL, Logger: logger})
	if err != nil {
		return nil, err
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(table)))
	return &pgHA{st: st, el: el, prefix: fmt.Sprintf("coffer_%08x_", h.Sum32())}, nil
}

// Acquire implements ha.Backend: it waits for the leadership and binds every
// later write to the new term.
func (p *pgHA) Acquire(ctx context.Context) (ha.Leadership, error) {
	l, err := p.el.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	p.st.SetFence(l.Fence())
	return pgLeadership{l}, nil
}

// pgLeadership is a PostgreSQL leadership as an ha.Leadership that also
// tells its term (ha.Termed): the election epoch numbers the term's
// change notices.
type pgLeadership struct {
	*postgres.Leadership
}

// Term implements ha.Termed: the epoch's low 32 bits (epochs count
// elections and stay far below that).
func (l pgLeadership) Term() uint32 { return uint32(l.Epoch) }

// Leader implements ha.Backend.
func (p *pgHA) Leader(ctx context.Context) (string, string, error) {
	id, addr, _, err := p.st.CurrentLeader(ctx)
	if errors.Is(err, postgres.ErrNoLeader) {
		return "", "", nil
	}
	return id, addr, err
}

// Notify implements ha.Backend.
func (p *pgHA) Notify(ctx context.Context, channel, payload string) error {
	return p.st.Notify(ctx, p.prefix+channel, payload)
}

// Listen implements ha.Backend.
func (p *pgHA) Listen(ctx context.Context, channel string) (<-chan string, error) {
	return p.st.Listen(ctx, p.prefix+channel)
}

// fencedStorage reports a write refused by the fence as ha.ErrStandby,
// so that the request is forwarded to the node that leads now.
type fencedStorage struct {
	storage.Storage
}

func fenced(err error) error {
	if errors.Is(err, postgres.ErrFenced) {
		return fmt.Errorf("%w: %w", ha.ErrStandby, err)
	}
	return err
}

// Put implements storage.Storage.
func (f fencedStorage) Put(ctx context.Context, e *storage.Entry) error {
	return fenced(f.Storage.Put(ctx, e))
}

// Delete implements storage.Storage.
func (f fencedStorage) Delete(ctx context.Context, key string) error {
	return fenced(f.Storage.Delete(ctx, key))
}

// Txn implements storage.Storage.
func (f fencedStorage) Txn(ctx context.Context, ops []storage.Op) error {
	return fenced(f.Storage.Txn(ctx, ops))
}

// defaultNodeID names a node that was given no ID: its host name and a
// random suffix, so two processes on one host differ.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "coffer"
	}
	b := make([]byte, 4)
	rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}
