package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// MaxKeySize is the longest key, in bytes, that Put, Delete and Txn accept.
// It keeps (dir, name) well inside PostgreSQL's limit on the size of a
// B-tree index entry (about 2.7 kB).
const MaxKeySize = 2048

// split cuts key after its last "/": dir is "" or ends in "/".
func split(key string) (dir, name []byte) {
	i := strings.LastIndexByte(key, '/') + 1
	return []byte(key[:i]), []byte(key[i:])
}

// upperBound returns the smallest byte string greater than every string
// that starts with prefix, or false when there is none (prefix is empty or
// all 0xff).
func upperBound(prefix string) ([]byte, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0xff {
			b[i]++
			return b[:i+1], true
		}
	}
	return nil, false
}

// Get returns the value at key, or (nil, nil) when there is none.
func (s *Storage) Get(ctx context.Context, key string) (*storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, name := split(key)
	var value []byte
	err := s.pool.QueryRow(ctx, s.q.get, dir, name).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("postgres get", err)
	}
	return &storage.Entry{Key: key, Value: value}, nil
}

// List returns the sorted names directly under prefix, matching prefix as a
// plain string prefix (see [storage.ChildName]). Its cost grows with the
// number of names returned, not with the number of keys beneath prefix.
func (s *Storage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Leaves: keys starting with prefix and without "/" after it; their
	// dir is the prefix's own dir.
	pdir, rest := split(prefix)
	var rows pgx.Rows
	var err error
	if ub, ok := upperBound(string(rest)); ok {
		rows, err = s.pool.Query(ctx, s.q.listLeavesBounded, pdir, rest, ub)
	} else {
		rows, err = s.pool.Query(ctx, s.q.listLeaves, pdir, rest)
	}
	if err != nil {
		return nil, s.wrap("postgres list", err)
	}
	leaves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var name []byte
		if err := r.Scan(&name); err != nil {
			return "", err
		}
		if !strings.HasPrefix(string(name), string(rest)) {
			return "", errors.New("leaf scan returned a name outside the prefix")
		}
		return string(name[len(rest):]), nil
	})
	if err != nil {
		return nil, s.wrap("postgres list", err)
	}

	// Folders: keys with a "/" after prefix; their dir starts with prefix
	// and is longer.
	if ub, ok := upperBound(prefix); ok {
		rows, err = s.pool.Query(ctx, s.q.listFoldersBounded, []byte(prefix), len(prefix), ub)
	} else {
		rows, err = s.pool.Query(ctx, s.q.listFolders, []byte(prefix), len(prefix))
	}
	if err != nil {
		return nil, s.wrap("postgres list", err)
	}
	folders, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var dir []byte
		if err := r.Scan(&dir); err != nil {
			return "", err
		}
		if !strings.HasPrefix(string(dir), prefix) || len(dir) <= len(prefix) {
			return "", errors.New("folder scan returned a dir outside the prefix")
		}
		return storage.ChildName(prefix, string(dir)), nil
	})
	if err != nil {
		return nil, s.wrap("postgres list", err)
	}
	return merge(leaves, folders), nil
}

// merge merges two sorted lists of distinct names (leaves have no "/",
// folders end in one) into one sorted list.
func merge(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Put stores e durably. The storage does not keep e.Value after Put returns.
func (s *Storage) Put(ctx context.Context, e *storage.Entry) error {
	return s.Txn(ctx, []storage.Op{{Kind: storage.OpPut, Entry: *e}})
}

// Delete removes key durably; a missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.Txn(ctx, []storage.Op{{Kind: storage.OpDelete, Entry: storage.Entry{Key: key}}})
}

// Txn applies ops in order, all of them or none, in one PostgreSQL
// transaction, and returns after it committed. It checks every operation
// before sending anything: an invalid key, or one longer than
// [MaxKeySize], fails with an error matching [storage.ErrInvalidKey], and
// an unknown [storage.OpKind] fails too. When a [Fence] is set, the
// transaction first checks it and fails with an error matching
// [ErrFenced], changing nothing, when the epoch has moved on.
func (s *Storage) Txn(ctx context.Context, ops []storage.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := check(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	f := s.fence.Load()
	if f != nil {
		b.Queue(s.q.fence, f.Epoch)
	}
	for _, op := range ops {
		dir, name := split(op.Entry.Key)
		switch op.Kind {
		case storage.OpPut:
			// A nil slice would be NULL; the column holds empty values as ''.
			value := op.Entry.Value
			if value == nil {
				value = []byte{}
			}
			b.Queue(s.q.put, dir, name, value)
		case storage.OpDelete:
			b.Queue(s.q.del, dir, name)
		}
	}
	// Without BEGIN, a batch is one pipeline ending in one Sync: PostgreSQL
	// runs it as one implicit transaction, all or nothing, and commits at
	// the Sync. Close reports the first error.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		if sqlState(err) == fencedState {
			return fmt.Errorf("postgres txn: %w (fence epoch %d)", ErrFenced, f.Epoch)
		}
		return s.wrap("postgres txn", err)
	}
	return nil
}

// check validates ops without touching the database.
func check(ops []storage.Op) error {
	return storage.CheckOps(ops, MaxKeySize, 0)
}

// wrap adds the operation to err and masks the password in its text.
func (s *Storage) wrap(op string, err error) error {
	return scrub(fmt.Errorf("%s: %w", op, err), s.password)
}
