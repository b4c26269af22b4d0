package token

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// revokeBatchSize is how many tokens one revocation transaction deletes:
// at most five keys each, so a transaction stays near a thousand
// operations.
const revokeBatchSize = 256

// revokeParallel is how many batches of one tree level are revoked at
// once: storage commits concurrent transactions together, and the
// backends of their leases are called meanwhile.
const revokeParallel = 4

// revokeLevel revokes tokens none of which is a parent of another and
// whose children are gone, in batches, revokeParallel at a time. It
// returns the batches' errors joined; a batch that fails leaves its
// tokens in place and does not stop the others.
func (s *Store) revokeLevel(ctx context.Context, hashes []string) error {
	var batches [][]string
	for i := 0; i < len(hashes); i += s.batch {
		batches = append(batches, hashes[i:min(i+s.batch, len(hashes))])
	}
	if len(batches) == 1 {
		return s.revokeBatch(ctx, batches[0])
	}
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	sem := make(chan struct{}, revokeParallel)
	for i, b := range batches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = s.revokeBatch(ctx, b)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tree returns the tokens under root by depth, from storage: root alone,
// its children, their children ... A token met twice (a corrupt parent
// index) is taken once, so a loop cannot make it run forever.
func (s *Store) tree(ctx context.Context, root string) ([][]string, error) {
	seen := map[string]struct{}{root: {}}
	levels := [][]string{{root}}
	for {
		var next []string
		for _, h := range levels[len(levels)-1] {
			children, err := s.Children(ctx, h)
			if err != nil {
				return nil, err
			}
			for _, c := range children {
				c = strings.TrimSuffix(c, "/")
				if _, ok := seen[c]; ok || c == "" {
					continue
				}
				seen[c] = struct{}{}
				next = append(next, c)
			}
		}
		if len(next) == 0 {
			return levels, nil
		}
		levels = append(levels, next)
	}
}

// revokeBatch revokes tokens whose children are already gone: it revokes
// what they hold (OnRevokeBatch, or OnRevoke one by one), then deletes
// all their records in one transaction, under their locks, and only then
// drops them from the cache and the live index. A failure leaves every
// token of the batch stored, as revokeOne does (what they held may be
// gone already), so running Revoke again completes it; tokens of deeper
// levels already deleted took their parent links with them, and Tidy
// revokes any child whose parent is gone.
func (s *Store) revokeBatch(ctx context.Context, hashes []string) error {
	live := make([]string, 0, len(hashes))
	entries := make([]*Entry, 0, len(hashes))
	for _, h := range hashes {
		// The cache is enough to tell whether there is something to
		// revoke: what is deleted is read again under the lock below.
		e, ok := s.cached(h)
		if !ok {
			var err error
			if e, err = s.load(ctx, h); err != nil {
				return err
			}
		}
		if e == nil {
			continue
		}
		live = append(live, h)
		entries = append(entries, e)
	}
	if len(live) == 0 {
		return nil
	}
	switch {
	case s.onBatch != nil:
		if err := s.onBatch(ctx, live, entries); err != nil {
			return fmt.Errorf("revoke what the tokens hold: %w", err)
		}
	case s.onRevoke != nil:
		for i, h := range live {
			if err := s.onRevoke(ctx, h, entries[i]); err != nil {
				return fmt.Errorf("revoke what the token holds: %w", err)
			}
		}
	}
	unlock := s.lockAll(live)
	defer unlock()
	ops := make([]storage.Op, 0, 5*len(live))
	gone := make([]string, 0, len(live))
	for _, h := range live {
		// Read again under the lock: a renewal may have moved its expiry.
		e, err := s.load(ctx, h)
		if err != nil {
			return err
		}
		if e == nil {
			continue
		}
		akey, err := s.accessorKey(e.Accessor)
		if err != nil {
			return err
		}
		ops = append(ops,
			storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: idPrefix + h}},
			storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: akey}},
			storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: legacyAccessorPrefix + e.Accessor}},
		)
		if e.Parent != "" {
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: parentPrefix + e.Parent + "/" + h}})
		}
		if exp := e.ExpireTime(); !exp.IsZero() {
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: expiryKey(exp, h)}})
		}
		gone = append(gone, h)
	}
	if len(ops) > 0 {
		if err := s.st.Txn(ctx, ops); err != nil {
			return fmt.Errorf("delete tokens: %w", err)
		}
	}
	s.mu.Lock()
	if s.cache != nil {
		for _, h := range gone {
			delete(s.cache, h)
		}
	}
	s.mu.Unlock()
	for _, h := range gone {
		s.live.put(h, nil)
	}
	s.count.Add(-int64(len(gone)))
	return nil
}

// lockAll takes the locks of every token in hashes, in a fixed order so
// that two batches cannot deadlock (the other callers take one lock at a
// time), and returns the function that releases them.
func (s *Store) lockAll(hashes []string) func() {
	idx := make([]int, 0, len(s.locks))
	for _, h := range hashes {
		i := int(maphash.String(s.seed, h) % uint64(len(s.locks)))
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		s.locks[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(idx) {
			s.locks[i].Unlock()
		}
	}
}
