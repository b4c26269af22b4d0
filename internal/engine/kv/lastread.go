package kv

import (
	"context"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// lastReadPrefix is where KV version 2 keeps, per key, when its data was
// last read: "lastread/<path>" holds Unix nanoseconds in decimal.
const lastReadPrefix = "lastread/"

// lastReadBatch is the most keys one flush transaction writes.
const lastReadBatch = 256

// lastReads records when each key's data was last read. A read only
// updates a map in memory; flush writes the keys read since the last
// flush, in batches, from Periodic (about once a minute) and Cleanup (when
// the mount is disabled or the server seals). A crash loses at most the
// reads since the last flush. The map holds one entry per key read since
// then, so it is bounded by the number of keys. A standby records nothing
// (it cannot write); the reads it serves itself are not tracked.
type lastReads struct {
	mu      sync.Mutex
	pending map[string]int64 // guarded by mu: key -> last read, Unix ns
}

// mark records a read of p at now.
func (l *lastReads) mark(p string, now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		l.pending = make(map[string]int64)
	}
	if now > l.pending[p] {
		l.pending[p] = now
	}
}

// forget drops what is pending for p (its metadata is being deleted).
func (l *lastReads) forget(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, p)
}

// load returns p's last read: the later of the pending and the stored
// one, 0 for none.
func (l *lastReads) load(ctx context.Context, s logical.Storage, p string) (int64, error) {
	l.mu.Lock()
	pending := l.pending[p]
	l.mu.Unlock()
	stored, err := storedLastRead(ctx, s, p)
	if err != nil {
		return 0, err
	}
	return max(pending, stored), nil
}

// storedLastRead returns the last read of p stored in s, or 0.
func storedLastRead(ctx context.Context, s logical.Storage, p string) (int64, error) {
	e, err := s.Get(ctx, lastReadPrefix+p)
	if err != nil || e == nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(e.Value), 10, 64)
	if err != nil {
		return 0, nil // a damaged entry reads as "not read"; the next flush replaces it
	}
	return n, nil
}

// flushGuard keeps a flush from writing the last read of a key whose
// metadata is deleted meanwhile (an orphan entry that nothing would ever
// delete): lock takes the writer locks of keys and returns their unlock,
// and exists reports, under them, whether a key's metadata is stored.
// Deleting a key's metadata holds its lock, so a flush writes a key's
// entry either before the delete (which then deletes it) or not at all.
type flushGuard struct {
	lock   func(keys []string) (unlock func())
	exists func(ctx context.Context, p string) (bool, error)
}

// flush writes what is pending to s in transactions of lastReadBatch
// keys, leaving a stored time that is later (two reads racing across a
// flush) as it is. With a guard it writes only the keys whose metadata
// still exists, under their locks (a nil guard, for tests of the
// batching alone, checks nothing). What a failed read or transaction
// held goes back to pending, keeping the later time if the key was read
// again meanwhile.
func (l *lastReads) flush(ctx context.Context, s logical.Storage, g *flushGuard) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	keys := make([]string, 0, min(len(batch), lastReadBatch))
	var failed error
	write := func() {
		if len(keys) == 0 {
			return
		}
		if err := writeLastReads(ctx, s, g, keys, batch); err != nil {
			failed = err
			for _, p := range keys {
				l.mark(p, batch[p])
			}
		}
		keys = keys[:0]
	}
	for p, t := range batch {
		stored, err := storedLastRead(ctx, s, p)
		if err != nil {
			failed = err
			l.mark(p, t)
			continue
		}
		if stored >= t {
			continue
		}
		keys = append(keys, p)
		if len(keys) == lastReadBatch {
			write()
		}
	}
	write()
	return failed
}

// writeLastReads writes batch's time of each of keys in one transaction,
// leaving out, with a guard, the keys whose metadata is gone.
func writeLastReads(ctx context.Context, s logical.Storage, g *flushGuard, keys []string, batch map[string]int64) error {
	if g != nil {
		defer g.lock(keys)()
	}
	ops := make([]logical.TxnOp, 0, len(keys))
	for _, p := range keys {
		if g != nil {
			ok, err := g.exists(ctx, p)
			if err != nil {
				return err
			}
			if !ok {
				continue // deleted since it was read: so is its entry
			}
		}
		ops = append(ops, logical.TxnOp{Key: lastReadPrefix + p, Value: strconv.AppendInt(nil, batch[p], 10)})
	}
	if len(ops) == 0 {
		return nil
	}
	return s.Txn(ctx, ops)
}

// flushLastReads writes the recorded last reads of the mount's keys (see
// [lastReads.flush]), each under its writer lock. A standby records none.
func (b *backendV2) flushLastReads(ctx context.Context) error {
	return b.lastRead.flush(ctx, b.storage, &flushGuard{
		lock: b.lockKeys,
		exists: func(ctx context.Context, p string) (bool, error) {
			e, err := b.storage.Get(ctx, metaKey(p))
			return e != nil, err
		},
	})
}

// lockKeys takes the writer locks of keys, each stripe once and in
// ascending order, and returns their unlock. Every other holder holds one
// stripe at a time, so the order keeps two callers of lockKeys from
// deadlocking on each other.
func (b *backendV2) lockKeys(keys []string) func() {
	stripes := make([]uint64, 0, len(keys))
	for _, p := range keys {
		stripes = append(stripes, maphash.String(b.seed, p)%lockStripes)
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		b.locks[i].Lock()
	}
	return func() {
		for _, i := range stripes {
			b.locks[i].Unlock()
		}
	}
}

// timeOf turns Unix nanoseconds into a time, zero for 0.
func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
