package token

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/access"
)

// maxLiveDirty bounds the tokens a live index remembers to read again
// after cluster invalidations; past it the index is dropped and rebuilt
// on next use, which costs less than rereading that many one by one.
const maxLiveDirty = 10_000

// errLiveDropped says the index was dropped (seal, reload) while it was
// being built; LiveTokens then starts again.
var errLiveDropped = errors.New("live token index dropped while it was built")

// The states of a live index.
const (
	liveIdle     = iota // not built: changes are ignored
	liveBuilding        // being built: changes are remembered in dirty
	liveReady           // built: changes are applied as they happen
)

// liveIndex is the store's index of live service tokens for the access
// directory: one [access.Token] per token, without its ID, by token hash.
// It is built on first use from the stored tokens, then kept up to date
// by the store's own writes; changes made by another node of a cluster
// arrive as invalidations and are read again on next use. Records are
// never modified (a change stores a new one) and share interned strings
// and policy lists, so that 100,000 tokens take little memory.
type liveIndex struct {
	// buildMu serialises builds and refreshes; it is taken before mu.
	buildMu sync.Mutex

	mu    sync.Mutex
	state int // guarded by mu
	// recs are the records, in no order, and keys their token hashes;
	// pos maps a hash to its place in both. A slice makes snapshots a
	// sequential copy rather than a walk over a map.
	recs  []*access.Token     // guarded by mu
	keys  [][32]byte          // guarded by mu
	pos   map[[32]byte]int    // guarded by mu
	dirty map[string]struct{} // guarded by mu; hashes to read again
	strs  map[string]string   // guarded by mu; interned strings
	pols  map[string][]string // guarded by mu; interned policy lists
}

// Live is the set of live tokens at one instant; it implements
// [access.TokenSource]. Its records are shared: callers must not modify
// them (nor their Policies).
type Live struct {
	tokens []*access.Token
}

var _ access.TokenSource = (*Live)(nil)

// Each calls fn for every token until fn returns false.
func (l *Live) Each(fn func(*access.Token) bool) {
	for _, t := range l.tokens {
		if !fn(t) {
			return
		}
	}
}

// Len is the number of tokens.
func (l *Live) Len() int { return len(l.tokens) }

// liveKey is the index key of the token stored under hash.
func liveKey(hash string) [32]byte {
	var k [32]byte
	if len(hash) == 2*len(k) {
		if _, err := hex.Decode(k[:], []byte(hash)); err == nil {
			return k
		}
	}
	return sha256.Sum256([]byte(hash)) // not a hash this store made; still unique
}

// LiveTokens returns the service tokens live at now (not expired, uses
// not spent) as [access.Token] records, which hold no token ID. The
// first call builds the index from storage (every stored token); later
// calls reread only the tokens other nodes changed, and
// copy the index's pointers.
func (s *Store) LiveTokens(ctx context.Context, now time.Time) (*Live, error) {
	x := &s.live
	x.buildMu.Lock()
	defer x.buildMu.Unlock()
	for range 4 {
		x.mu.Lock()
		state, dirty := x.state, x.dirty
		if state == liveReady {
			x.dirty = nil
		}
		if state == liveIdle {
			x.state = liveBuilding
			x.recs, x.keys, x.pos = nil, nil, make(map[[32]byte]int)
			x.dirty = make(map[string]struct{})
			x.strs = make(map[string]string)
			x.pols = make(map[string][]string)
		}
		x.mu.Unlock()
		var err error
		switch {
		case state == liveIdle:
			err = s.buildLive(ctx)
		case len(dirty) > 0:
			err = s.refreshLive(ctx, dirty)
		default:
			if l := x.snapshot(now); l != nil {
				return l, nil
			}
			continue // dropped meanwhile
		}
		if errors.Is(err, errLiveDropped) {
			continue // sealed or reloaded meanwhile: start again
		}
		if err != nil {
			x.drop()
			return nil, err
		}
		if state == liveReady {
			// Changes that arrived during the refresh are newer than
			// this answer; the next call reads them.
			if l := x.snapshot(now); l != nil {
				return l, nil
			}
		}
	}
	return nil, errors.New("live token index: dropped again and again while it was built")
}

// buildLive reads every stored token into the index, which is being
// built, and then marks it ready. It lists the tokens themselves rather
// than the accessor index: one read a token instead of two, and the
// entry carries its accessor.
func (s *Store) buildLive(ctx context.Context) error {
	hashes, err := s.st.List(ctx, idPrefix)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	x := &s.live
	for _, h := range hashes {
		if strings.HasSuffix(h, "/") {
			continue
		}
		e, err := s.load(ctx, h)
		if err != nil {
			return err
		}
		if e == nil {
			continue // revoked since the list
		}
		x.mu.Lock()
		if x.state != liveBuilding {
			x.mu.Unlock()
			return errLiveDropped
		}
		x.storeLocked(liveKey(h), x.recordLocked(e))
		x.mu.Unlock()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state != liveBuilding {
		return errLiveDropped
	}
	x.state = liveReady
	return nil
}

// refreshLive reads the tokens under the given hashes again, each under
// its token lock so that no write of the store's own slips between the
// read and the update of the index.
func (s *Store) refreshLive(ctx context.Context, hashes map[string]struct{}) error {
	x := &s.live
	for h := range hashes {
		l := s.lock(h)
		l.Lock()
		e, err := s.load(ctx, h)
		if err == nil {
			x.mu.Lock()
			if x.state == liveReady {
				x.setLocked(h, e)
			}
			x.mu.Unlock()
		}
		l.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// put records that the token under hash is now e (nil: gone). The store
// calls it after each durable change of a service token.
func (x *liveIndex) put(hash string, e *Entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch x.state {
	case liveBuilding:
		x.dirty[hash] = struct{}{}
	case liveReady:
		x.setLocked(hash, e)
	}
}

// invalidate records that another node changed the token under hash.
func (x *liveIndex) invalidate(hash string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state == liveIdle {
		return
	}
	if x.dirty == nil {
		x.dirty = make(map[string]struct{})
	}
	x.dirty[hash] = struct{}{}
	if len(x.dirty) > maxLiveDirty {
		x.dropLocked()
	}
}

// drop forgets the index; the next use builds it again.
func (x *liveIndex) drop() {
	x.mu.Lock()
	x.dropLocked()
	x.mu.Unlock()
}

func (x *liveIndex) dropLocked() {
	x.state = liveIdle
	x.recs, x.keys, x.pos, x.dirty, x.strs, x.pols = nil, nil, nil, nil, nil, nil
}

// setLocked stores the record of e under hash, or deletes it for nil.
func (x *liveIndex) setLocked(hash string, e *Entry) {
	k := liveKey(hash)
	if e == nil {
		i, ok := x.pos[k]
		if !ok {
			return
		}
		last := len(x.recs) - 1
		x.recs[i], x.keys[i] = x.recs[last], x.keys[last]
		x.pos[x.keys[i]] = i
		x.recs[last] = nil
		x.recs, x.keys = x.recs[:last], x.keys[:last]
		delete(x.pos, k)
		return
	}
	// The intern tables keep values of tokens long gone; start them
	// afresh when they outgrow the index (records keep their strings).
	if len(x.strs) > 4*len(x.recs)+1024 || len(x.pols) > 2*len(x.recs)+1024 {
		x.strs = make(map[string]string)
		x.pols = make(map[string][]string)
	}
	x.storeLocked(k, x.recordLocked(e))
}

// storeLocked puts rec under key k, replacing the record there.
func (x *liveIndex) storeLocked(k [32]byte, rec *access.Token) {
	if i, ok := x.pos[k]; ok {
		x.recs[i] = rec
		return
	}
	x.pos[k] = len(x.recs)
	x.recs = append(x.recs, rec)
	x.keys = append(x.keys, k)
}

// snapshot copies the pointers of the records live at now; nil when the
// index is not ready (dropped meanwhile).
func (x *liveIndex) snapshot(now time.Time) *Live {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state != liveReady {
		return nil
	}
	out := make([]*access.Token, 0, len(x.recs))
	for _, t := range x.recs {
		if t.NumUses >= 0 && (t.ExpireTime.IsZero() || now.Before(t.ExpireTime)) {
			out = append(out, t)
		}
	}
	return &Live{tokens: out}
}

// recordLocked makes the record of e.
func (x *liveIndex) recordLocked(e *Entry) *access.Token {
	return &access.Token{
		Accessor:      e.Accessor,
		DisplayName:   x.internLocked(e.DisplayName),
		EntityID:      x.internLocked(e.EntityID),
		Policies:      x.policiesLocked(e.Policies),
		Path:          x.internLocked(e.Path),
		MountAccessor: x.internLocked(e.MountAccessor),
		Role:          x.internLocked(e.Role),
		Type:          x.internLocked(e.Type),
		CreationTime:  e.CreationTime,
		ExpireTime:    e.ExpireTime(),
		NumUses:       e.NumUses,
		Orphan:        e.Parent == "",
	}
}

func (x *liveIndex) internLocked(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := x.strs[s]; ok {
		return v
	}
	s = strings.Clone(s)
	x.strs[s] = s
	return s
}

func (x *liveIndex) policiesLocked(p []string) []string {
	key := strings.Join(p, "\x00")
	if v, ok := x.pols[key]; ok {
		return v
	}
	v := make([]string, len(p))
	for i, s := range p {
		v[i] = x.internLocked(s)
	}
	x.pols[key] = v
	return v
}
