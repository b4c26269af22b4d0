package logicaltest

import (
	"context"
	"crypto/rand"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Storage is an in-memory [logical.Storage] for backend tests. It validates
// keys as the real storages do, copies values in and out, applies a Txn
// under one lock, and counts calls so that tests can check how much
// storage work a request costs. It is safe for concurrent use.
type Storage struct {
	mu   sync.RWMutex
	data map[string][]byte // guarded by mu

	gets, puts, deletes, lists, txns atomic.Int64
}

// NewStorage returns an empty Storage.
func NewStorage() *Storage {
	return &Storage{data: make(map[string][]byte)}
}

// Get returns a copy of the value at key, or (nil, nil) when there is none.
func (s *Storage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.gets.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	v, ok := s.data[key]
	s.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	return &logical.StorageEntry{Key: key, Value: slices.Clone(v)}, nil
}

// Put stores a copy of e.
func (s *Storage) Put(ctx context.Context, e *logical.StorageEntry) error {
	s.puts.Add(1)
	return s.apply(ctx, []logical.TxnOp{{Key: e.Key, Value: e.Value}})
}

// Delete removes key; a missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	s.deletes.Add(1)
	return s.apply(ctx, []logical.TxnOp{{Key: key, Delete: true}})
}

// List returns the sorted direct children of prefix, folders ending in
// "/".
func (s *Storage) List(ctx context.Context, prefix string) ([]string, error) {
	s.lists.Add(1)
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
	return slices.Sorted(maps.Keys(seen)), nil
}

// Txn applies all of ops or, when any key is invalid, none of them.
func (s *Storage) Txn(ctx context.Context, ops []logical.TxnOp) error {
	s.txns.Add(1)
	return s.apply(ctx, ops)
}

func (s *Storage) apply(ctx context.Context, ops []logical.TxnOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, op := range ops {
		if err := storage.ValidateKey(op.Key); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		if op.Delete {
			delete(s.data, op.Key)
		} else {
			s.data[op.Key] = slices.Clone(op.Value)
		}
	}
	return nil
}

// Snapshot returns a deep copy of everything stored, for comparing the
// state before and after a request.
func (s *Storage) Snapshot() map[string][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string][]byte, len(s.data))
	for k, v := range s.data {
		out[k] = slices.Clone(v)
	}
	return out
}

// Counts is how many calls of each kind a [Storage] has served.
type Counts struct {
	Gets, Puts, Deletes, Lists, Txns int64
}

// Counts returns the calls served so far.
func (s *Storage) Counts() Counts {
	return Counts{
		Gets: s.gets.Load(), Puts: s.puts.Load(), Deletes: s.deletes.Load(),
		Lists: s.lists.Load(), Txns: s.txns.Load(),
	}
}

// Clock is a [logical.Clock] that only moves when told to. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time // guarded by mu
}

// NewClock returns a Clock stopped at now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// System is a [logical.SystemView] with fixed TTLs.
type System struct {
	DefaultTTL, MaxTTL time.Duration
	// Passwords, when set, answers GeneratePassword; by default it makes
	// a random password (crypto/rand.Text) and knows no named policies.
	Passwords func(ctx context.Context, policy string) (string, error)
}

// GeneratePassword calls s.Passwords, or makes a random password.
func (s System) GeneratePassword(ctx context.Context, policy string) (string, error) {
	if s.Passwords != nil {
		return s.Passwords(ctx, policy)
	}
	if policy != "" {
		return "", logical.InvalidRequest("unknown password policy %q", policy)
	}
	return rand.Text(), nil
}

// DefaultLeaseTTL returns s.DefaultTTL.
func (s System) DefaultLeaseTTL() time.Duration { return s.DefaultTTL }

// MaxLeaseTTL returns s.MaxTTL.
func (s System) MaxLeaseTTL() time.Duration { return s.MaxTTL }
