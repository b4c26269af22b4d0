package postgres

import (
	"context"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-secrets/coffer/internal/storage"
)

var (
	_ storage.Snapshotter = (*Storage)(nil)
	_ storage.Restorer    = (*Storage)(nil)
)

// Snapshot runs fn inside one read-only REPEATABLE READ transaction: every
// query of the view sees the database as of its first one, whatever
// commits meanwhile, and writers are not blocked.
func (s *Storage) Snapshot(ctx context.Context, fn func(v storage.View) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.wrap("postgres snapshot", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to keep
	// The transaction's snapshot is taken by its first query; take it now,
	// so that the view is as of this call however long fn waits.
	var n int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+s.q.kv).Scan(&n); err != nil {
		return s.wrap("postgres snapshot", err)
	}
	return fn(&pgView{s: s, tx: tx, n: n})
}

// pgView is a REPEATABLE READ transaction's view of the table.
type pgView struct {
	s  *Storage
	tx pgx.Tx
	n  int64
}

func (v *pgView) Len(context.Context) (int64, error) { return v.n, nil }

// Range reads every row in key order. bytea compares bytewise, so
// ordering by dir || name is ordering by key.
func (v *pgView) Range(ctx context.Context, fn func(key string, value []byte) error) error {
	rows, err := v.tx.Query(ctx, "SELECT dir || name AS key, value FROM "+v.s.q.kv+" ORDER BY key")
	if err != nil {
		return v.s.wrap("postgres snapshot", err)
	}
	defer rows.Close()
	var key, value []byte
	for rows.Next() {
		if err := rows.Scan(&key, &value); err != nil {
			return v.s.wrap("postgres snapshot", err)
		}
		if err := fn(string(key), value); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return v.s.wrap("postgres snapshot", err)
	}
	return nil
}

// Restore replaces the table's rows in one transaction: DELETE, then COPY
// of every entry, then COMMIT. Other sessions read the old rows until the
// commit. With a [Fence] set, the transaction first checks it and fails
// with [ErrFenced], changing nothing, when another node has been elected.
func (s *Storage) Restore(ctx context.Context, entries iter.Seq2[storage.Entry, error]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.wrap("postgres restore", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	f := s.fence.Load()
	if f != nil {
		if _, err := tx.Exec(ctx, s.q.fence, f.Epoch); err != nil {
			if sqlState(err) == fencedState {
				return fmt.Errorf("postgres restore: %w (fence epoch %d)", ErrFenced, f.Epoch)
			}
			return s.wrap("postgres restore", err)
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM "+s.q.kv); err != nil {
		return s.wrap("postgres restore", err)
	}
	next, stop := iter.Pull2(entries)
	defer stop()
	var srcErr error
	src := pgx.CopyFromFunc(func() ([]any, error) {
		e, err, ok := next()
		if !ok {
			return nil, nil
		}
		if err == nil {
			err = check([]storage.Op{{Kind: storage.OpPut, Entry: e}})
		}
		if err != nil {
			srcErr = err
			return nil, err
		}
		dir, name := split(e.Key)
		value := e.Value
		if value == nil {
			value = []byte{}
		}
		return []any{dir, name, value}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.q.table}, []string{"dir", "name", "value"}, src); err != nil {
		if srcErr != nil {
			return fmt.Errorf("postgres restore: %w", srcErr)
		}
		return s.wrap("postgres restore", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.wrap("postgres restore", err)
	}
	return nil
}
