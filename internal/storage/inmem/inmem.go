// Package inmem is an in-memory [storage.Storage] for tests and dev mode.
// Nothing survives the process. It is safe for concurrent use.
package inmem

import (
	"context"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// Storage keeps entries in a map guarded by a read-write mutex.
type Storage struct {
	mu   sync.RWMutex
	data map[string][]byte // guarded by mu
}

// New returns an empty in-memory storage.
func New() *Storage {
	return &Storage{data: make(map[string][]byte)}
}

// Get returns a copy of the value at key, or nil when there is none.
func (s *Storage) Get(ctx context.Context, key string) (*storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	v, ok := s.data[key]
	s.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return &storage.Entry{Key: key, Value: slices.Clone(v)}, nil
}

// Put stores a copy of e.
func (s *Storage) Put(ctx context.Context, e *storage.Entry) error {
	return s.Txn(ctx, []storage.Op{{Kind: storage.OpPut, Entry: *e}})
}

// Delete removes key.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.Txn(ctx, []storage.Op{{Kind: storage.OpDelete, Entry: storage.Entry{Key: key}}})
}

// List returns the sorted children of prefix.
func (s *Storage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seen := make(map[string]struct{})
	s.mu.RLock()
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			seen[storage.ChildName(prefix, k)] = struct{}{}
		}
	}
	s.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// Txn validates every operation, then applies them all under one lock.
func (s *Storage) Txn(ctx context.Context, ops []storage.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, op := range ops {
		if err := storage.ValidateKey(op.Entry.Key); err != nil {
			return err
		}
		if op.Kind != storage.OpPut && op.Kind != storage.OpDelete {
			return storage.ErrInvalidKey
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		switch op.Kind {
		case storage.OpPut:
			s.data[op.Entry.Key] = slices.Clone(op.Entry.Value)
		case storage.OpDelete:
			delete(s.data, op.Entry.Key)
		}
	}
	return nil
}

var (
	_ storage.Snapshotter = (*Storage)(nil)
	_ storage.Restorer    = (*Storage)(nil)
)

// Snapshot copies the map under the read lock (values are never modified
// in place, so the copy shares them) and calls fn with a view of the copy.
func (s *Storage) Snapshot(ctx context.Context, fn func(v storage.View) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	data := maps.Clone(s.data)
	s.mu.RUnlock()
	return fn(view(data))
}

// view is a frozen copy of the map.
type view map[string][]byte

func (v view) Len(context.Context) (int64, error) { return int64(len(v)), nil }

func (v view) Range(ctx context.Context, fn func(key string, value []byte) error) error {
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, v[k]); err != nil {
			return err
		}
	}
	return nil
}

// Restore builds the new contents aside, checking every key, and swaps
// them in under the write lock.
func (s *Storage) Restore(ctx context.Context, entries iter.Seq2[storage.Entry, error]) error {
	data := make(map[string][]byte)
	for e, err := range entries {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := storage.ValidateKey(e.Key); err != nil {
			return err
		}
		data[e.Key] = slices.Clone(e.Value)
	}
	s.mu.Lock()
	s.data = data
	s.mu.Unlock()
	return nil
}
