// Package bolt is Coffer's default physical storage: a [storage.Storage] in
// one local file, over the embedded database go.etcd.io/bbolt.
//
// # Durability
//
// Put, Delete and Txn return nil only after their data is fsynced. Writers
// that arrive together share one commit and its fsyncs (group commit): a
// write that finds no commit in progress commits at once, and writes that
// arrive while a commit is in progress queue up and go together in the
// next one, at most [MaxBatchSize] calls per commit. The batch size so
// follows the load and the disk's fsync time, with no fixed delay. Every
// call in a batch is applied in the same bbolt transaction; when that
// transaction fails, each call is retried alone, so one bad call never
// undoes another's write, and a Txn is always all or nothing.
//
// # Concurrency
//
// A [Storage] is safe for concurrent use. Reads run in parallel with each
// other and with the single writer. The database file is locked while open:
// a second Open of the same file, in this process or another, waits
// [Options].Timeout and then fails with an error matching [ErrLocked].
//
// This package imports only storage, the standard library and bbolt.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// MaxBatchSize is the most Txn, Put and Delete calls one commit carries. It
// bounds the size of one bbolt transaction when many writers queue at once.
//
// Measured on a 2-core VM with an ext4 disk, through the whole HTTP stack
// with 64 writers: bbolt's own DB.Batch with a fixed 200µs gathering delay
// made many small commits (writers arrive spread out behind HTTP parsing)
// and reached about 7,000 writes/s at 130µs of CPU per write; queueing
// behind the commit in progress instead reaches about twice that at half
// the CPU, and a lone writer no longer waits for a timer.
const MaxBatchSize = 256

// DefaultTimeout is how long Open waits for the file lock when
// [Options].Timeout is zero.
const DefaultTimeout = time.Second

// bucketName is the one bbolt bucket that holds every key.
const bucketName = "coffer"

// ErrLocked is returned by Open when another process, or another open
// Storage in this one, holds the database file.
var ErrLocked = errors.New("database file is locked by another process")

// Options configures Open.
type Options struct {
	// Path is the database file. Its parent directory is created with mode
	// 0700 and the file with mode 0600 when they do not exist.
	Path string
	// Timeout is how long Open waits for the file lock; zero means
	// [DefaultTimeout].
	Timeout time.Duration
	// NoSync skips fsync on commit, so a crash of the machine (not only of
	// the process) may lose acknowledged writes. For tests only.
	NoSync bool
	// NoFreelistSync leaves bbolt's list of free pages out of each commit
	// (one page write less per commit), so that every Open rebuilds it by
	// reading every page of the file: start-up then grows with the data
	// (1.3 s at a million secrets). For measurements only; the default
	// keeps the free list on disk.
	NoFreelistSync bool
}

// Storage is a [storage.Storage] in a bbolt file. Create it with Open and
// release the file with Close.
type Storage struct {
	db *bbolt.DB

	mu      sync.Mutex
	pending []*call // guarded by mu; calls waiting for a commit, oldest first
	leading bool    // guarded by mu; a writer is committing on the queue's behalf
}

// call is one queued Txn. done receives errLead when the caller must commit
// the next batch itself, and then (or instead) the call's result.
type call struct {
	ops  []storage.Op
	done chan error
}

// errLead hands the commit duty to a queued writer; it never leaves Txn.
var errLead = errors.New("lead the next commit")

var (
	_ storage.Storage = (*Storage)(nil)
	_ storage.Closer  = (*Storage)(nil)
)

// Open opens or creates the database at opts.Path. It fails with an error
// matching [ErrLocked] when the file stays locked for opts.Timeout.
func Open(opts Options) (*Storage, error) {
	if opts.Path == "" {
		return nil, errors.New("open bolt storage: path is empty")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("open bolt storage: create directory: %w", err)
	}
	// The hashmap freelist keeps commits fast in large files with many
	// freed pages (the array freelist is linear in their number). The free
	// list is written with each commit, so that Open reads it from its
	// pages instead of scanning the whole file to rebuild it: start-up
	// stays flat as the data grows, for one more page written per commit
	// (see docs/performance.md). A file last written without it is
	// scanned once, and has it from the next commit on.
	db, err := bbolt.Open(opts.Path, 0o600, &bbolt.Options{
		Timeout:        timeout,
		NoSync:         opts.NoSync,
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: opts.NoFreelistSync,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open bolt storage %s: %w (waited %s)", opts.Path, ErrLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open bolt storage %s: %w", opts.Path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists([]byte(bucketName))
		return err
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open bolt storage %s: create bucket: %w", opts.Path, err), db.Close())
	}
	return &Storage{db: db}, nil
}

// Close releases the file. Calls after Close fail.
func (s *Storage) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close bolt storage: %w", err)
	}
	return nil
}

// Get returns a copy of the value at key, or (nil, nil) when there is none.
func (s *Storage) Get(ctx context.Context, key string) (*storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var e *storage.Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		// bbolt's value lives in the memory map only for the transaction.
		if v := tx.Bucket([]byte(bucketName)).Get([]byte(key)); v != nil {
			e = &storage.Entry{Key: key, Value: bytes.Clone(v)}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt get: %w", err)
	}
	return e, nil
}

// List returns the sorted names directly under prefix, matching prefix as a
// plain string prefix (see [storage.ChildName]). It seeks past each folder
// it reports instead of reading the keys inside, so its cost grows with the
// number of names returned, not with the number of keys beneath prefix.
func (s *Storage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var names []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketName)).Cursor()
		p := []byte(prefix)
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); {
			name := storage.ChildName(prefix, string(k))
			names = append(names, name)
			if len(name) == 0 || name[len(name)-1] != '/' {
				k, _ = c.Next()
				continue
			}
			// Every key in folder prefix+name sorts before the same bytes
			// with the final "/" replaced by "0", the next byte value; that
			// key is also the first one after the folder.
			next := make([]byte, 0, len(prefix)+len(name))
			next = append(append(next, prefix...), name[:len(name)-1]...)
			k, _ = c.Seek(append(next, '/'+1))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt list: %w", err)
	}
	return names, nil
}

// Put stores e durably. The storage does not keep e.Value after Put returns.
func (s *Storage) Put(ctx context.Context, e *storage.Entry) error {
	return s.Txn(ctx, []storage.Op{{Kind: storage.OpPut, Entry: *e}})
}

// Delete removes key durably; a missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	return s.Txn(ctx, []storage.Op{{Kind: storage.OpDelete, Entry: storage.Entry{Key: key}}})
}

// Txn applies ops in order, all of them or none, and returns after they are
// fsynced. It checks every operation before touching the database: an
// invalid key fails with an error matching [storage.ErrInvalidKey], and so
// do keys longer than bbolt allows; an unknown [storage.OpKind] or a value
// larger than bbolt allows fails too.
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
	c := &call{ops: ops, done: make(chan error, 1)}
	s.mu.Lock()
	s.pending = append(s.pending, c)
	lead := !s.leading
	s.leading = true
	s.mu.Unlock()
	if !lead {
		// Another writer is committing; it commits this call with the next
		// batch, or hands this writer the duty of committing it.
		if err := <-c.done; !errors.Is(err, errLead) {
			return err
		}
	}
	s.commitNext()
	return <-c.done
}

// commitNext commits the oldest queued calls (at most MaxBatchSize, always
// including the caller's, which is first in the queue) in one transaction
// and answers each of them. Then it passes the commit duty to the oldest
// call still queued, or gives it up when the queue is empty. Only the
// writer holding the duty calls it.
func (s *Storage) commitNext() {
	s.mu.Lock()
	n := min(len(s.pending), MaxBatchSize)
	batch := s.pending[:n:n]
	s.pending = s.pending[n:]
	s.mu.Unlock()

	defer func() {
		s.mu.Lock()
		if len(s.pending) > 0 {
			s.pending[0].done <- errLead
		} else {
			s.leading = false
			s.pending = nil
		}
		s.mu.Unlock()
	}()
	err := s.update(func(tx *bbolt.Tx) error {
		for _, c := range batch {
			if err := apply(tx, c.ops); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, c := range batch {
			c.done <- wrapCommit(err)
		}
		return
	}
	// Something in the batch failed, and bbolt rolled all of it back: find
	// out whose call it was by committing each alone.
	for _, c := range batch {
		c.done <- wrapCommit(s.update(func(tx *bbolt.Tx) error { return apply(tx, c.ops) }))
	}
}

// update runs fn in a write transaction. A panic becomes an error, so that
// the writers queued behind the commit are always answered.
func (s *Storage) update(fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic during commit: %v", p)
		}
	}()
	return s.db.Update(fn)
}

func wrapCommit(err error) error {
	if err != nil {
		return fmt.Errorf("bolt commit: %w", err)
	}
	return nil
}

// apply writes ops to tx. It has no other effects, so a failed batch can be
// replayed call by call.
func apply(tx *bbolt.Tx, ops []storage.Op) error {
	b := tx.Bucket([]byte(bucketName))
	for i, op := range ops {
		var err error
		switch op.Kind {
		case storage.OpPut:
			err = b.Put([]byte(op.Entry.Key), op.Entry.Value)
		case storage.OpDelete:
			err = b.Delete([]byte(op.Entry.Key))
		}
		if err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return nil
}

// check validates ops without touching the database.
func check(ops []storage.Op) error {
	return storage.CheckOps(ops, bbolt.MaxKeySize, bbolt.MaxValueSize)
}
