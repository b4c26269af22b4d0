// Package storage defines Coffer's physical storage contract: a flat key/value
// store with prefix listing and atomic multi-key transactions.
//
// Everything Coffer persists passes through this interface, and everything
// above the barrier is ciphertext by the time it gets here. Implementations
// live in sub-packages (inmem, bolt, postgres); each must pass the
// storagetest conformance suite. Implementations must be safe for concurrent
// use. This package imports only the standard library.
package storage

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
)

// Entry is one stored value. Key is a slash-separated path such as
// "core/keyring"; Value is owned by the caller after Get returns it and by
// the storage after Put is called (callers must not modify it afterwards).
type Entry struct {
	Key   string
	Value []byte
}

// OpKind says what a transaction operation does.
type OpKind int

const (
	// OpPut stores Entry.
	OpPut OpKind = iota + 1
	// OpDelete removes Entry.Key; deleting a missing key is not an error.
	OpDelete
)

// Op is one step of a transaction.
type Op struct {
	Kind  OpKind
	Entry Entry
}

// Storage is a physical key/value store.
//
// Get returns (nil, nil) for a missing key. List returns the names directly
// under prefix, sorted: a key "a/b/c" listed with prefix "a/" yields "b/" (a
// folder, once) and a key "a/d" yields "d". Put, Delete and Txn are durable
// when they return nil: a crash afterwards never loses them. Txn applies all
// of its operations or none of them.
type Storage interface {
	Get(ctx context.Context, key string) (*Entry, error)
	Put(ctx context.Context, e *Entry) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]string, error)
	Txn(ctx context.Context, ops []Op) error
}

// Closer is implemented by storages that hold files or connections.
type Closer interface {
	Close() error
}

// Snapshotter is implemented by storages that can read every key as of
// one moment while writes go on (bolt: one read transaction; PostgreSQL: a
// read-only REPEATABLE READ transaction; inmem: a copy of the map).
//
// Snapshot calls fn with a [View] of the whole storage: every write that
// returned before Snapshot was called is in it, and no write that commits
// while fn runs is. The view is valid only until fn returns. Snapshot
// returns fn's error, or its own.
type Snapshotter interface {
	Snapshot(ctx context.Context, fn func(v View) error) error
}

// View is a consistent, read-only view of every key of a storage.
type View interface {
	// Len returns the number of keys.
	Len(ctx context.Context) (int64, error)
	// Range calls fn with every key and its value, in ascending byte order
	// of the keys, and stops at fn's first error, which it returns. value
	// is valid only during the call.
	Range(ctx context.Context, fn func(key string, value []byte) error) error
}

// Restorer is implemented by storages that can replace their whole
// contents at once.
//
// Restore deletes every key and stores the entries that entries yields,
// in one transaction: other readers see the old contents or the new, never
// a mix, and when Restore fails (an error from entries, an invalid key, a
// canceled context, a fenced PostgreSQL node) nothing has changed. The
// storage may keep the values entries yields until Restore returns, so
// the iterator must not reuse them. Keys must be distinct.
type Restorer interface {
	Restore(ctx context.Context, entries iter.Seq2[Entry, error]) error
}

// Wrapper is implemented by storages that wrap another one (to count
// operations, or to guard writes); Unwrap returns the wrapped storage.
type Wrapper interface {
	Unwrap() Storage
}

// As returns the first storage in the chain s, s.Unwrap(), ... that
// implements T, such as [Snapshotter] or [Restorer], and whether there is
// one. Calling T's methods bypasses the wrappers above it.
func As[T any](s Storage) (T, bool) {
	for s != nil {
		if t, ok := s.(T); ok {
			return t, true
		}
		w, ok := s.(Wrapper)
		if !ok {
			break
		}
		s = w.Unwrap()
	}
	var zero T
	return zero, false
}

// ErrInvalidKey is returned for an empty key or one that is not a clean
// relative path.
var ErrInvalidKey = errors.New("invalid storage key")

// ValidateKey reports whether key is acceptable for Put and Delete: not
// empty, no leading slash, no "." or ".." segments, no NUL byte.
func ValidateKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsRune(key, 0) {
		return ErrInvalidKey
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return ErrInvalidKey
		}
	}
	return nil
}

// CheckOps validates ops for a [Storage.Txn] before anything is applied:
// every key must pass [ValidateKey] and be at most maxKey bytes long (an
// error matching [ErrInvalidKey] otherwise), every kind must be known and
// every value put at most maxValue bytes long. A limit of 0 means none.
func CheckOps(ops []Op, maxKey int, maxValue int64) error {
	for i, op := range ops {
		if err := ValidateKey(op.Entry.Key); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
		if maxKey > 0 && len(op.Entry.Key) > maxKey {
			return fmt.Errorf("op %d: key of %d bytes is longer than %d: %w", i, len(op.Entry.Key), maxKey, ErrInvalidKey)
		}
		switch op.Kind {
		case OpPut:
			if maxValue > 0 && int64(len(op.Entry.Value)) > maxValue {
				return fmt.Errorf("op %d: value of %d bytes is larger than %d", i, len(op.Entry.Value), maxValue)
			}
		case OpDelete:
		default:
			return fmt.Errorf("op %d: unknown op kind %d", i, op.Kind)
		}
	}
	return nil
}

// ChildName returns the list entry that key contributes under prefix, given
// that key starts with prefix: the next segment, with a trailing slash when
// key goes deeper.
func ChildName(prefix, key string) string {
	rest := key[len(prefix):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i+1]
	}
	return rest
}
