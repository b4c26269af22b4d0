package bolt

import (
	"bytes"
	"context"
	"fmt"
	"iter"

	bbolt "go.etcd.io/bbolt"

	"github.com/coffer-secrets/coffer/internal/storage"
)

var (
	_ storage.Snapshotter = (*Storage)(nil)
	_ storage.Restorer    = (*Storage)(nil)
)

// Snapshot runs fn inside one bbolt read transaction: a consistent view
// that writers do not block (bbolt keeps the pages the view reads until
// it ends, so the file may grow while a long snapshot runs).
func (s *Storage) Snapshot(ctx context.Context, fn func(v storage.View) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		return fn(view{b: tx.Bucket([]byte(bucketName))})
	})
}

// view is a read transaction's bucket.
type view struct{ b *bbolt.Bucket }

func (v view) Len(ctx context.Context) (int64, error) {
	var n int64
	c := v.b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (v view) Range(ctx context.Context, fn func(key string, value []byte) error) error {
	c := v.b.Cursor()
	n := 0
	for k, val := c.First(); k != nil; k, val = c.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(string(k), val); err != nil {
			return err
		}
	}
	return nil
}

// Restore replaces the bucket in one write transaction: the old bucket is
// dropped and a new one filled from entries, committed (and fsynced) as
// one. Readers see the old contents until the commit. The whole new
// contents are held in that transaction's dirty pages until it commits.
func (s *Storage) Restore(ctx context.Context, entries iter.Seq2[storage.Entry, error]) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucketName)); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte(bucketName))
		if err != nil {
			return err
		}
		// Snapshots come in key order: fill pages full instead of half.
		b.FillPercent = 0.95
		var last []byte
		n := 0
		for e, err := range entries {
			if err != nil {
				return err
			}
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := check([]storage.Op{{Kind: storage.OpPut, Entry: e}}); err != nil {
				return err
			}
			k := []byte(e.Key)
			if last != nil && bytes.Compare(k, last) <= 0 {
				b.FillPercent = bbolt.DefaultFillPercent
			}
			last = k
			if err := b.Put(k, e.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt restore: %w", err)
	}
	return nil
}
