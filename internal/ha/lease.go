package ha

import "time"

// A leader's lease.
//
// A [Leadership] may carry a lease ([Leadership.ValidUntil]): a process
// that was paused (SIGSTOP, a long GC pause, a frozen VM) keeps its
// database session, and so its leadership in the eyes of the database,
// until another node finds its lease expired and ends that session. When
// it resumes it must not act as active for even a moment, although Lost
// has not closed yet: its caches may be older than what the new active
// node wrote. So every question "is this node active?" (Status, Standby,
// the write gate of [Physical]) also asks whether the lease still runs,
// by the monotonic clock at the moment of asking, and the election loop
// steps down as soon as the lease lapses.

// heldTerm is the leadership of the active node, kept for its lease.
type heldTerm struct{ Leadership }

// leading reports whether this node is active and its lease, if its
// backend keeps one, has not lapsed.
func (n *Node) leading() bool {
	return n.active.Load() && n.leaseRuns(time.Now())
}

// lapsedActive reports whether this node holds the active state while
// its lease has lapsed: it answers as a standby, but its caches are the
// active state's, which the new active node's writes may have outdated.
func (n *Node) lapsedActive() bool {
	return n.active.Load() && !n.leaseRuns(time.Now())
}

// leaseRuns reports whether the lease of the term the node holds runs at
// now (a time.Now reading: leases are on the monotonic clock, never on
// Env.Clock). A node with no recorded term, or whose backend keeps no
// lease (a zero ValidUntil), is bounded by Lost alone.
func (n *Node) leaseRuns(now time.Time) bool {
	t := n.held.Load()
	if t == nil {
		return true
	}
	until := t.ValidUntil()
	return until.IsZero() || now.Before(until)
}

// lapsed returns a channel that is closed when l's lease lapses without
// having been renewed. Its goroutine ends then, or when stop closes.
func lapsed(l Leadership, stop <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		for {
			until := l.ValidUntil()
			if until.IsZero() {
				return // no lease: Lost alone ends the term
			}
			d := time.Until(until)
			if d <= 0 {
				close(out)
				return
			}
			t := time.NewTimer(d)
			select {
			case <-stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return out
}
