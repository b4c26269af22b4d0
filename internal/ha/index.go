package ha

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Change notices are numbered. The active node gives each notice an index,
// term<<32 | seq: term is its leadership term (the storage's election
// epoch, see [Termed]) and seq counts the term's notices from 1. Indexes
// only grow: a later term's are greater than an earlier term's.
//
// A standby keeps an index tracker: applied is the highest index such
// that every change up to it is reflected in what the standby serves.
// Notices of applied's term fill it up in order; a notice from a newer
// term, or a gap that is not filled within [gapWait], makes the standby
// reload everything, after which applied is the highest index it had
// heard of before the reload began (the reload read storage after every
// write up to that index had committed).

// gapWait is how long a standby waits for a missing notice before it
// reloads everything.
const gapWait = time.Second

// maxPending bounds the notices a standby keeps above a gap; past it the
// standby reloads everything.
const maxPending = 4096

// Termed is what a [Leadership] may also implement: its term (the
// storage's election epoch), which numbers the term's change notices. A
// leadership without it gets a term one above the highest this node has
// seen.
type Termed interface {
	Term() uint32
}

// MakeIndex builds a notice index from a term and a sequence number.
func MakeIndex(term, seq uint32) uint64 { return uint64(term)<<32 | uint64(seq) }

// IndexTerm returns the term part of a notice index.
func IndexTerm(idx uint64) uint32 { return uint32(idx >> 32) }

// tracker is a standby's bookkeeping of notice indexes. It is not safe for
// concurrent use; [Node] guards it with idxMu.
type tracker struct {
	applied  uint64              // everything up to it is applied
	heard    uint64              // the highest index heard of (notice or pong)
	pending  map[uint64]struct{} // notices received above applied
	gapSince time.Time           // when heard first exceeded applied; zero when it does not
	reload   bool                // a full reload is needed now
}

// notice records that the notice idx was received and its keys applied.
// It reports whether applied moved.
func (t *tracker) notice(idx uint64, now time.Time) bool {
	if idx <= t.applied {
		return false
	}
	if IndexTerm(idx) < IndexTerm(t.applied) {
		return false // an earlier term's notice, late: its changes are in the reload that moved the term
	}
	if t.pending == nil {
		t.pending = make(map[uint64]struct{})
	}
	t.pending[idx] = struct{}{}
	if len(t.pending) > maxPending {
		clear(t.pending)
		t.reload = true
	}
	t.hear(idx, now)
	return t.advance(now)
}

// hear records that the active node's index is at least idx (from a
// notice or a pong).
func (t *tracker) hear(idx uint64, now time.Time) {
	if idx <= t.applied {
		return
	}
	t.heard = max(t.heard, idx)
	if IndexTerm(idx) > IndexTerm(t.applied) {
		// A new term: the old leader may have committed writes whose
		// notices were never sent.
		t.reload = true
	}
	if t.gapSince.IsZero() {
		t.gapSince = now
	}
}

// advance moves applied over the contiguous notices received; it reports
// whether applied moved.
func (t *tracker) advance(now time.Time) bool {
	moved := false
	for {
		next := t.applied + 1
		if _, ok := t.pending[next]; !ok || IndexTerm(next) != IndexTerm(t.applied) {
			break
		}
		delete(t.pending, next)
		t.applied = next
		moved = true
	}
	if t.heard <= t.applied {
		t.gapSince = time.Time{}
	} else if moved {
		t.gapSince = now // progress: the gap clock starts again
	}
	return moved
}

// needReload reports whether a full reload is due: a new term was heard,
// too many notices wait above a gap, or a gap has stayed open for
// [gapWait].
func (t *tracker) needReload(now time.Time) bool {
	return t.reload || (!t.gapSince.IsZero() && now.Sub(t.gapSince) >= gapWait)
}

// beginReload is called as a full reload begins; it returns what the
// reload will cover.
func (t *tracker) beginReload() uint64 {
	t.reload = false
	return t.heard
}

// endReload records a successful full reload that began when the tracker
// had heard of at. It reports whether applied moved.
func (t *tracker) endReload(at uint64, now time.Time) bool {
	moved := false
	if at > t.applied {
		t.applied = at
		moved = true
	}
	for idx := range t.pending {
		if idx <= t.applied {
			delete(t.pending, idx)
		}
	}
	if t.advance(now) {
		moved = true
	}
	if t.heard > t.applied {
		t.gapSince = now
	}
	// A newer term heard during the reload is covered when the reload
	// reached it; anything else left open is caught by the gap clock.
	t.reload = t.reload && IndexTerm(t.heard) > IndexTerm(t.applied)
	return moved
}

// encodeNotice prefixes a change payload with its index.
func encodeNotice(idx uint64, payload string) string {
	return strconv.FormatUint(idx, 10) + "\n" + payload
}

// decodeNotice splits a change notice into its index (0 when it has none,
// as from an older node) and its payload.
func decodeNotice(s string) (uint64, string) {
	first, rest, ok := strings.Cut(s, "\n")
	if !ok {
		first, rest = s, ""
	}
	if first == "" || len(first) > 20 || strings.Trim(first, "0123456789") != "" {
		return 0, s
	}
	idx, err := strconv.ParseUint(first, 10, 64)
	if err != nil {
		return 0, s
	}
	if rest == "" {
		rest = "*"
	}
	return idx, rest
}

// Index returns the node's index: on the active node the index of the
// last change notice it numbered, on a standby its applied index.
func (n *Node) Index() uint64 {
	if n.active.Load() {
		return n.lastIndex.Load()
	}
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	return n.trk.applied
}

// appliedWake returns a channel that is closed when the applied index
// next moves.
func (n *Node) appliedWake() <-chan struct{} {
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	return n.idxMoved
}

// movedLocked wakes the waiters of [Node.WaitIndex] and the ack sender.
// The caller holds idxMu.
func (n *Node) movedLocked() {
	close(n.idxMoved)
	n.idxMoved = make(chan struct{})
	select {
	case n.ackNow <- struct{}{}:
	default:
	}
}

// WaitIndex waits until this node has applied idx, at most limit or until
// ctx ends, and reports whether it has. The active node has applied every
// index of its own term and earlier ones.
func (n *Node) WaitIndex(ctx context.Context, idx uint64, limit time.Duration) bool {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		if n.active.Load() {
			return IndexTerm(idx) <= n.term.Load()
		}
		wake := n.appliedWake()
		if n.Index() >= idx {
			return true
		}
		select {
		case <-wake:
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// noticeReceived applies the index bookkeeping of a change notice whose
// keys were applied.
func (n *Node) noticeReceived(idx uint64) {
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	if n.trk.notice(idx, n.now()) {
		n.movedLocked()
	}
}

// heardIndex records an index the active node announced in a pong.
func (n *Node) heardIndex(idx uint64) {
	n.idxMu.Lock()
	n.trk.hear(idx, n.now())
	reload := n.trk.reload
	n.idxMu.Unlock()
	if reload {
		n.kickReload()
	}
}

// kickReload asks the notice loop to check for a due reload now.
func (n *Node) kickReload() {
	select {
	case n.reloadNow <- struct{}{}:
	default:
	}
}

// reloadDue reports whether the tracker wants a full reload.
func (n *Node) reloadDue() bool {
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	return n.trk.needReload(n.now())
}

// beginFullReload and endFullReload bracket a full reload of the standby
// state (see [tracker.beginReload]).
func (n *Node) beginFullReload() uint64 {
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	return n.trk.beginReload()
}

func (n *Node) endFullReload(at uint64) {
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	if n.trk.endReload(at, n.now()) {
		n.movedLocked()
	}
}

// resetIndex sets the tracker to idx with nothing pending: a node that
// stops being active has applied its own notices.
func (n *Node) resetIndex(idx uint64) {
	n.idxMu.Lock()
	defer n.idxMu.Unlock()
	n.trk = tracker{applied: idx, heard: idx}
	n.movedLocked()
}
