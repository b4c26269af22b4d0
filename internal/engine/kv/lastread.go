package kv

import (
	"context"
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
// then, so it is bounded by the number of keys.
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

// flush writes what is pending to s in transactions of lastReadBatch
// keys, leaving a stored time that is later (two reads racing across a
// flush) as it is. What a failed read or transaction held goes back to
// pending, keeping the later time if the key was read again meanwhile.
func (l *lastReads) flush(ctx context.Context, s logical.Storage) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	ops := make([]logical.TxnOp, 0, min(len(batch), lastReadBatch))
	var failed error
	write := func() {
		if len(ops) == 0 {
			return
		}
		if err := s.Txn(ctx, ops); err != nil {
			failed = err
			for _, op := range ops {
				p := op.Key[len(lastReadPrefix):]
				l.mark(p, batch[p])
			}
		}
		ops = ops[:0]
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
		ops = append(ops, logical.TxnOp{Key: lastReadPrefix + p, Value: strconv.AppendInt(nil, t, 10)})
		if len(ops) == lastReadBatch {
			write()
		}
	}
	write()
	return failed
}

// timeOf turns Unix nanoseconds into a time, zero for 0.
func timeOf(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
