package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// revokeWorkers bounds the backend revocations RevokeByTokens runs at
// once (each may be a round trip to a database).
const revokeWorkers = 16

// revokeChunk is how many leases one deletion transaction removes (three
// keys each).
const revokeChunk = 300

// leaseRef is a lease found through a token's index entry, with the
// entry and its stored bytes once read.
type leaseRef struct {
	id, indexKey string
	entry        *Entry
	raw          []byte
}

// RevokeByTokens revokes every lease the tokens with tokenHashes created,
// as [Manager.RevokeByToken] does for one token, but with few storage
// transactions: the backends are called concurrently (at most
// revokeWorkers at once), then the revoked leases' records are deleted
// together, a few hundred leases a transaction. A lease whose backend
// fails is kept and scheduled for retry, so the tokens can go; an error
// reading or writing storage is returned and leaves the records of the
// leases not yet deleted in place (their backends may have revoked them
// already: revoking again is harmless), to be completed by a new call or
// by the sweeper.
func (m *Manager) RevokeByTokens(ctx context.Context, tokenHashes []string) error {
	var refs []leaseRef
	for _, h := range tokenHashes {
		prefix := tokenPrefix + h + "/"
		names, err := m.st.List(ctx, prefix)
		if err != nil {
			return fmt.Errorf("list leases of token: %w", err)
		}
		for _, n := range names {
			se, err := m.st.Get(ctx, prefix+n)
			if err != nil {
				return fmt.Errorf("read lease of token: %w", err)
			}
			if se != nil {
				refs = append(refs, leaseRef{id: string(se.Value), indexKey: prefix + n})
			}
		}
	}
	if len(refs) == 0 {
		return nil
	}
	// The backends first, concurrently; each lease under its own lock so
	// that the sweeper or a renewal does not act on it meanwhile.
	revoked := make([]bool, len(refs))
	stale := make([]bool, len(refs))
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, revokeWorkers)
	for i := range refs {
		r := refs[i]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			l := m.lock(r.id)
			l.Lock()
			defer l.Unlock()
			e, raw, err := m.lookupRaw(ctx, r.id)
			switch {
			case errors.Is(err, ErrNotFound):
				stale[i] = true
				return
			case err != nil:
				errs[i] = err
				return
			}
			refs[i].entry, refs[i].raw = e, raw
			if err := m.revoker.RevokeLease(ctx, e); err != nil {
				if m.onFail != nil {
					m.onFail(e.MountPath)
				}
				if serr := m.scheduleRetry(ctx, e, err); serr != nil {
					errs[i] = serr
				}
				return
			}
			revoked[i] = true
		})
	}
	wg.Wait()
	// Then the records, under the locks of all the leases of a chunk,
	// read again: a lease renewed in between has moved in the index.
	for start := 0; start < len(refs); start += revokeChunk {
		end := min(start+revokeChunk, len(refs))
		if err := m.deleteRevoked(ctx, refs[start:end], revoked[start:end], stale[start:end]); err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// deleteRevoked deletes, in one transaction, the records of the leases
// of refs marked revoked and the token index entries marked stale.
func (m *Manager) deleteRevoked(ctx context.Context, refs []leaseRef, revoked, stale []bool) error {
	var ids []string
	var ops []storage.Op
	for i, r := range refs {
		switch {
		case stale[i]:
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: r.indexKey}})
		case revoked[i]:
			ids = append(ids, r.id)
		}
	}
	unlock := m.lockAll(ids)
	defer unlock()
	n := 0
	for i, r := range refs {
		if !revoked[i] {
			continue
		}
		se, err := m.st.Get(ctx, idPrefix+r.id)
		if err != nil {
			return fmt.Errorf("read lease: %w", err)
		}
		if se == nil {
			continue
		}
		e := r.entry
		if !bytes.Equal(se.Value, r.raw) {
			// Changed since it was revoked (a renewal): delete what is
			// stored now.
			e = new(Entry)
			if err := json.Unmarshal(se.Value, e); err != nil {
				return fmt.Errorf("decode lease: %w", err)
			}
		}
		ops = append(ops, deleteOps(e)...)
		n++
	}
	if len(ops) == 0 {
		return nil
	}
	if err := m.st.Txn(ctx, ops); err != nil {
		return fmt.Errorf("delete leases: %w", err)
	}
	m.count.Add(-int64(n))
	return nil
}

// lookupRaw is Lookup that also returns the stored bytes.
func (m *Manager) lookupRaw(ctx context.Context, id string) (*Entry, []byte, error) {
	if err := validID(id); err != nil {
		return nil, nil, err
	}
	se, err := m.st.Get(ctx, idPrefix+id)
	if err != nil {
		return nil, nil, fmt.Errorf("read lease: %w", err)
	}
	if se == nil {
		return nil, nil, ErrNotFound
	}
	e := new(Entry)
	if err := json.Unmarshal(se.Value, e); err != nil {
		return nil, nil, fmt.Errorf("decode lease: %w", err)
	}
	return e, se.Value, nil
}

// lockAll takes the locks of every lease in ids in a fixed order, so
// that two batches cannot deadlock (other callers take one lock at a
// time), and returns the function that releases them.
func (m *Manager) lockAll(ids []string) func() {
	idx := make([]int, 0, len(m.locks))
	for _, id := range ids {
		i := int(maphash.String(m.seed, id) % uint64(len(m.locks)))
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		m.locks[i].Lock()
	}
	return func() {
		for _, i := range slices.Backward(idx) {
			m.locks[i].Unlock()
		}
	}
}
