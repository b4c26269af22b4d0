// Package migrate copies Coffer's physical storage from one backend to
// another, as `coffer operator migrate` does: every key with its value
// exactly as stored (barrier ciphertext, the seal configuration and the
// encrypted root key included), so a server started on the destination
// unseals with the same key shares. Nothing is decrypted; no key material
// is needed or seen.
//
// [Copy] walks the source in sorted key order (the order of
// [storage.Storage.List] applied recursively), reads values in batches and
// writes each batch to the destination in one transaction. A key already in
// the destination is overwritten, so running the copy again after an
// interruption is safe, and [Options].Start resumes from a key. Keys the
// destination holds and the source lacks are counted and, only with
// [Options].DeleteExtra, deleted.
//
// The caller makes sure nothing else writes either storage meanwhile: the
// command opens both exclusively (bolt's file lock; PostgreSQL's claim, see
// package postgres), so that no server runs on either during the copy.
//
// This package imports storage, config and the standard library; opening
// storage is left to the caller ([Command].Open), which the server
// package provides.
package migrate

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// DefaultBatchSize is how many keys one destination transaction carries
// when [Options].BatchSize is zero.
const DefaultBatchSize = 500

// Options configures [Copy].
type Options struct {
	// Source is read, never written.
	Source storage.Storage
	// Destination receives every key of Source (at or after Start).
	Destination storage.Storage
	// Start, when set, skips the keys that sort before it, to resume an
	// interrupted copy (Vault's -start).
	Start string
	// DeleteExtra deletes the keys at or after Start that Destination
	// holds and Source lacks. Without it they are only counted.
	DeleteExtra bool
	// BatchSize is the number of keys read and written together; zero
	// means [DefaultBatchSize].
	BatchSize int
	// Progress, when set, is called after each batch with the counts so
	// far, from the goroutine that called Copy.
	Progress func(Stats)
}

// Stats counts what a copy did.
type Stats struct {
	// Copied is the number of keys written to the destination.
	Copied int
	// Bytes is the total size of the values written.
	Bytes int64
	// Extra is the number of keys (at or after Start) the destination
	// holds and the source lacks.
	Extra int
	// Deleted is the number of those deleted (with DeleteExtra).
	Deleted int
}

// batchGetter is a storage that reads many keys in one round trip (the
// PostgreSQL storage); Copy uses it when the source has it.
type batchGetter interface {
	GetMany(ctx context.Context, keys []string) ([]*storage.Entry, error)
}

// Copy copies Source to Destination as [Options] say and returns the
// counts. On failure the counts say how far it got; the destination then
// holds every batch counted in Copied, and a new Copy with Start set to
// the last key reported (or none) finishes the job.
func Copy(ctx context.Context, opts Options) (Stats, error) {
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	var st Stats
	batch := make([]string, 0, size)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		entries, err := read(ctx, opts.Source, batch)
		if err != nil {
			return err
		}
		ops := make([]storage.Op, 0, len(entries))
		var bytes int64
		for _, e := range entries {
			if e == nil {
				continue // deleted since it was listed: nothing to copy
			}
			ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: *e})
			bytes += int64(len(e.Value))
		}
		if err := opts.Destination.Txn(ctx, ops); err != nil {
			return fmt.Errorf("write %d keys from %q to the destination: %w", len(ops), batch[0], err)
		}
		st.Copied += len(ops)
		st.Bytes += bytes
		batch = batch[:0]
		if opts.Progress != nil {
			opts.Progress(st)
		}
		return nil
	}
	for key, err := range Keys(ctx, opts.Source, opts.Start) {
		if err != nil {
			return st, fmt.Errorf("list the source: %w", err)
		}
		batch = append(batch, key)
		if len(batch) == size {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	if err := extras(ctx, opts, size, &st); err != nil {
		return st, err
	}
	return st, nil
}

// read returns the entries at keys, in order, nil where a key is gone.
func read(ctx context.Context, s storage.Storage, keys []string) ([]*storage.Entry, error) {
	if bg, ok := s.(batchGetter); ok {
		out, err := bg.GetMany(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("read %d keys from %q: %w", len(keys), keys[0], err)
		}
		return out, nil
	}
	out := make([]*storage.Entry, len(keys))
	for i, k := range keys {
		e, err := s.Get(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("read %q: %w", k, err)
		}
		out[i] = e
	}
	return out, nil
}

// extras walks both storages' keys side by side and counts (and with
// DeleteExtra deletes) the destination's keys the source lacks.
func extras(ctx context.Context, opts Options, size int, st *Stats) error {
	src, stopSrc := iter.Pull2(Keys(ctx, opts.Source, opts.Start))
	defer stopSrc()
	next := func() (string, bool, error) {
		k, err, ok := src()
		return k, ok, err
	}
	sk, sok, err := next()
	if err != nil {
		return fmt.Errorf("list the source: %w", err)
	}
	var doomed []storage.Op
	del := func() error {
		if len(doomed) == 0 {
			return nil
		}
		if err := opts.Destination.Txn(ctx, doomed); err != nil {
			return fmt.Errorf("delete %d keys from %q in the destination: %w", len(doomed), doomed[0].Entry.Key, err)
		}
		st.Deleted += len(doomed)
		doomed = doomed[:0]
		return nil
	}
	for dk, err := range Keys(ctx, opts.Destination, opts.Start) {
		if err != nil {
			return fmt.Errorf("list the destination: %w", err)
		}
		for sok && sk < dk {
			if sk, sok, err = next(); err != nil {
				return fmt.Errorf("list the source: %w", err)
			}
		}
		if sok && sk == dk {
			continue
		}
		st.Extra++
		if !opts.DeleteExtra {
			continue
		}
		doomed = append(doomed, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: dk}})
		if len(doomed) == size {
			if err := del(); err != nil {
				return err
			}
		}
	}
	return del()
}

// Keys yields every key of s at or after start, in sorted (bytewise)
// order, by listing folders recursively; it reads no values. A listing
// error is yielded once and ends the sequence.
func Keys(ctx context.Context, s storage.Storage, start string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		walk(ctx, s, "", start, yield)
	}
}

// walk yields the keys under prefix at or after start; it returns false
// when the consumer stopped or an error was yielded.
func walk(ctx context.Context, s storage.Storage, prefix, start string, yield func(string, error) bool) bool {
	names, err := s.List(ctx, prefix)
	if err != nil {
		yield("", fmt.Errorf("list %q: %w", prefix, err))
		return false
	}
	for _, name := range names {
		full := prefix + name
		if !strings.HasSuffix(name, "/") {
			if full >= start && !yield(full, nil) {
				return false
			}
			continue
		}
		// Every key in the folder starts with full: skip the folder when
		// all of them sort before start.
		if full < start && !strings.HasPrefix(start, full) {
			continue
		}
		if !walk(ctx, s, full, start, yield) {
			return false
		}
	}
	return true
}
