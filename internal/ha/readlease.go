package ha

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Read leases. A standby serves requests itself only while it holds a
// read lease from the active node, so that what it answers is never more
// than [Options.MaxStandbyLag] (L) behind:
//
//   - every L/4 it sends ping{node, nonce, applied} on [LeaseChannel];
//   - the active node, while it is active (and its leadership valid, when
//     the leadership says until when: [ValidUntiler]), records the time it
//     granted this standby a lease and answers pong{node, nonce, index}
//     with its current notice index;
//   - the standby's lease then runs until the local time the ping was
//     sent plus L, and is usable only once its applied index has reached
//     the pong's index.
//
// Standbys also send ack{node, applied} after applying notices
// (coalesced). [Node.WaitApplied] uses the acks and the grant times to
// wait until no standby can serve state older than a given index.

// LeaseChannel carries pings, pongs and acks between the nodes.
const LeaseChannel = "readlease"

// DefaultMaxStandbyLag is [Options.MaxStandbyLag] when it is zero.
const DefaultMaxStandbyLag = 2 * time.Second

// ValidUntiler is what a [Leadership] may also implement: the time until
// which its term is certainly valid. The active node grants read leases
// only before it.
type ValidUntiler interface {
	ValidUntil() time.Time
}

// leaseMsg is a ping, pong or ack.
type leaseMsg struct {
	Type    string `json:"t"` // "ping", "pong" or "ack"
	Node    string `json:"node"`
	Nonce   uint64 `json:"nonce,omitempty"`
	Index   uint64 `json:"index,omitempty"`   // pong: the active node's index
	Applied uint64 `json:"applied,omitempty"` // ping, ack: the standby's applied index
}

// readLease is a lease a standby holds.
type readLease struct {
	sent    time.Time // when the ping was sent (local clock)
	expires time.Time // sent + L
	index   uint64    // usable once applied reaches it
}

// peer is what the active node knows of a standby.
type peer struct {
	acked    uint64    // the highest index the standby acknowledged
	lastPong time.Time // when this node last granted it a lease
}

// consistency is the part of a [Node] that numbers notices, tracks them
// and runs read leases.
type consistency struct {
	maxLag time.Duration // L

	// The active node's numbering: noticeMu serializes numbering and
	// sending, so that notices go out in index order.
	noticeMu   sync.Mutex
	seq        uint32 // guarded by noticeMu
	term       atomic.Uint32
	lastIndex  atomic.Uint64
	termStart  atomic.Pointer[time.Time]
	leadership atomic.Pointer[leaderRef] // this node's leadership while active

	// A standby's tracker.
	idxMu     sync.Mutex
	trk       tracker       // guarded by idxMu
	idxMoved  chan struct{} // closed when applied moves; guarded by idxMu
	ackNow    chan struct{} // buffered; applied moved: send an ack
	reloadNow chan struct{} // buffered; check for a due full reload

	// A standby's leases.
	leaseMu sync.Mutex
	pings   map[uint64]time.Time // nonce -> send time; guarded by leaseMu
	leases  []readLease          // guarded by leaseMu

	// The active node's view of the standbys.
	peersMu    sync.Mutex
	peers      map[string]*peer // by node ID; guarded by peersMu
	overflow   time.Time        // a lease granted to a standby past maxPeers expires by then; guarded by peersMu
	peersMoved chan struct{}    // closed when an ack arrives; guarded by peersMu

	// The state header key.
	stateKey atomic.Pointer[stateKey]

	// commits counts committed writes (see [Node.Commits]).
	commits atomic.Uint64

	// cut isolates a standby from the others (see [Node.Isolate]).
	cut atomic.Bool
}

// leaderRef holds a Leadership for an atomic pointer.
type leaderRef struct{ l Leadership }

func newConsistency(maxLag time.Duration) consistency {
	return consistency{
		maxLag:     maxLag,
		idxMoved:   make(chan struct{}),
		ackNow:     make(chan struct{}, 1),
		reloadNow:  make(chan struct{}, 1),
		pings:      make(map[uint64]time.Time),
		peers:      make(map[string]*peer),
		peersMoved: make(chan struct{}),
	}
}

// beginTerm starts numbering notices for a new term, before the node
// loads its active state (which may write).
func (n *Node) beginTerm(l Leadership) {
	n.noticeMu.Lock()
	defer n.noticeMu.Unlock()
	var term uint32
	if t, ok := l.(Termed); ok {
		term = t.Term()
	}
	// Terms only grow, also against what this node heard as a standby.
	known := max(n.term.Load(), IndexTerm(n.lastIndex.Load()), IndexTerm(n.Index()))
	if term <= known {
		term = known + 1
	}
	n.term.Store(term)
	n.seq = 0
	n.lastIndex.Store(MakeIndex(term, 0))
	now := time.Now()
	n.termStart.Store(&now)
	n.leadership.Store(&leaderRef{l: l})
	n.peersMu.Lock()
	clear(n.peers)
	n.overflow = time.Time{}
	n.peersMu.Unlock()
}

// endTerm stops granting leases; the node has applied its own notices.
func (n *Node) endTerm() {
	n.leadership.Store(nil)
	n.resetIndex(n.lastIndex.Load())
}

// leaseValid reports whether this node may grant read leases now.
func (n *Node) leaseValid() bool {
	if !n.active.Load() || n.activeSince.Load() == nil {
		return false
	}
	ref := n.leadership.Load()
	if ref == nil {
		return false
	}
	select {
	case <-ref.l.Lost():
		return false
	default:
	}
	if v, ok := ref.l.(ValidUntiler); ok {
		// The zero time: the backend keeps no lease; Lost alone bounds it.
		if until := v.ValidUntil(); !until.IsZero() && !time.Now().Before(until) {
			return false
		}
	}
	return true
}

// Fresh reports whether this standby holds a usable read lease: one that
// has not expired and whose index it has applied. A standby that is not
// fresh forwards every request.
func (n *Node) Fresh() bool {
	_, ok := n.FreshUntil()
	return ok
}

// FreshUntil is [Node.Fresh] with the time (a time.Now reading) until
// which the standby stays fresh, unless a later lease extends it: the
// latest expiry of its usable leases. A request served on a standby is
// answered only if it ends before then.
func (n *Node) FreshUntil() (time.Time, bool) {
	applied := n.Index()
	now := time.Now()
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	var until time.Time
	for _, l := range n.leases {
		if now.Before(l.expires) && applied >= l.index && l.expires.After(until) {
			until = l.expires
		}
	}
	return until, !until.IsZero()
}

// Lag is how far behind the active node this standby may be: the time
// since the send time of the ping whose lease it uses now; ok is false
// when it has no usable lease. It is zero on the active node.
func (n *Node) Lag() (time.Duration, bool) {
	if n.active.Load() {
		return 0, true
	}
	applied := n.Index()
	now := time.Now()
	n.leaseMu.Lock()
	defer n.leaseMu.Unlock()
	best, ok := time.Duration(0), false
	for _, l := range n.leases {
		if now.Before(l.expires) && applied >= l.index {
			if d := now.Sub(l.sent); !ok || d < best {
				best, ok = d, true
			}
		}
	}
	return best, ok
}

// runLeases runs the read lease protocol: the listener for both roles,
// the standby's pings and acks.
func (n *Node) runLeases(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { n.runLeaseListener(ctx) })
	wg.Go(func() { n.runPinger(ctx) })
	wg.Go(func() { n.runAcker(ctx) })
	wg.Wait()
}

func (n *Node) sendLease(ctx context.Context, m leaseMsg) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.maxLag)
	defer cancel()
	if err := n.opts.Backend.Notify(ctx, LeaseChannel, string(b)); err != nil && ctx.Err() == nil {
		n.logger.Debug("send read lease message", "type", m.Type, "err", err)
	}
}

func (n *Node) runLeaseListener(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := n.opts.Backend.Listen(ctx, LeaseChannel)
		if err != nil {
			if ctx.Err() == nil {
				n.logger.Warn("listen for read lease messages", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for p := range ch {
			var m leaseMsg
			if p == "" || json.Unmarshal([]byte(p), &m) != nil || m.Node == "" {
				continue
			}
			n.leaseMessage(ctx, m)
		}
	}
}

// leaseMessage handles one message of the read lease protocol.
func (n *Node) leaseMessage(ctx context.Context, m leaseMsg) {
	switch m.Type {
	case "ping":
		if m.Node == n.opts.NodeID || !n.leaseValid() {
			return
		}
		// The grant is recorded before the index is read: a change
		// numbered after that read is waited for by WaitApplied, which
		// sees this grant.
		n.peersMu.Lock()
		p := n.peerLocked(m.Node)
		p.lastPong = time.Now()
		n.ackedLocked(p, m.Applied)
		n.peersMu.Unlock()
		n.sendLease(ctx, leaseMsg{Type: "pong", Node: m.Node, Nonce: m.Nonce, Index: n.lastIndex.Load()})
	case "ack":
		if m.Node == n.opts.NodeID || !n.active.Load() {
			return
		}
		n.peersMu.Lock()
		n.ackedLocked(n.peerLocked(m.Node), m.Applied)
		n.peersMu.Unlock()
	case "pong":
		if m.Node != n.opts.NodeID || n.active.Load() {
			return
		}
		n.leaseMu.Lock()
		sent, ok := n.pings[m.Nonce]
		delete(n.pings, m.Nonce)
		if ok {
			now := time.Now()
			kept := n.leases[:0]
			for _, l := range n.leases {
				if now.Before(l.expires) {
					kept = append(kept, l)
				}
			}
			n.leases = append(kept, readLease{sent: sent, expires: sent.Add(n.maxLag), index: m.Index})
			if len(n.leases) > 8 {
				n.leases = n.leases[len(n.leases)-8:]
			}
		}
		n.leaseMu.Unlock()
		if ok {
			n.heardIndex(m.Index)
		}
	}
}

// peerLocked returns the record of a standby; the caller holds peersMu.
func (n *Node) peerLocked(id string) *peer {
	p := n.peers[id]
	if p == nil {
		if len(n.peers) >= maxPeers {
			// Not kept: WaitApplied waits for its lease to expire.
			n.overflow = time.Now().Add(n.maxLag)
			return &peer{}
		}
		p = &peer{}
		n.peers[id] = p
	}
	return p
}

// maxPeers bounds the standbys the active node keeps track of.
const maxPeers = 1024

// ackedLocked records an acknowledged index; the caller holds peersMu.
func (n *Node) ackedLocked(p *peer, applied uint64) {
	if applied > p.acked {
		p.acked = applied
		close(n.peersMoved)
		n.peersMoved = make(chan struct{})
	}
}

// runPinger sends a ping every L/4 while this node is a standby.
func (n *Node) runPinger(ctx context.Context) {
	t := time.NewTicker(max(n.maxLag/4, 10*time.Millisecond))
	defer t.Stop()
	var buf [8]byte
	for {
		if !n.active.Load() && !n.host.Sealed() && !n.pingsCut() {
			rand.Read(buf[:])
			nonce := binary.LittleEndian.Uint64(buf[:])
			now := time.Now()
			n.leaseMu.Lock()
			for k, at := range n.pings {
				if now.Sub(at) > n.maxLag {
					delete(n.pings, k)
				}
			}
			n.pings[nonce] = now
			n.leaseMu.Unlock()
			n.sendLease(ctx, leaseMsg{Type: "ping", Node: n.opts.NodeID, Nonce: nonce, Applied: n.Index()})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runAcker sends the applied index to the active node each time it moves,
// coalescing moves that happen while a send is under way.
func (n *Node) runAcker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.ackNow:
		}
		if n.active.Load() || n.pingsCut() {
			continue
		}
		n.sendLease(ctx, leaseMsg{Type: "ack", Node: n.opts.NodeID, Applied: n.Index()})
	}
}

// WaitApplied returns once no standby can serve state older than idx: for
// every standby this node may have granted a lease this term, either the
// standby acknowledged idx or the last lease granted to it has expired. In
// the first L of a term it also waits for leases the previous active node
// may have granted to expire. It waits at most L plus a little, or until
// ctx ends (then it returns ctx's error).
//
// It keys on the term this node began, not on its role: the barrier runs
// after the request released the state lock, and a node that stepped
// down, was sealed or lost its term in between still has the grants of
// that term (kept until its next term begins; acks are no longer
// recorded, so it waits for the leases of the standbys that had not
// acknowledged idx to expire). [Unnumbered] as idx waits for every lease
// this node granted: a change committed while no notice could go out.
// It does nothing on a node that never began a term.
func (n *Node) WaitApplied(ctx context.Context, idx uint64) error {
	if n.termStart.Load() == nil {
		return nil
	}
	for {
		now := time.Now()
		var until time.Time // the latest expiry still to wait for
		if ts := n.termStart.Load(); ts != nil {
			if end := ts.Add(n.maxLag); now.Before(end) {
				until = end
			}
		}
		n.peersMu.Lock()
		wake := n.peersMoved
		if now.Before(n.overflow) && n.overflow.After(until) {
			until = n.overflow
		}
		for _, p := range n.peers {
			if p.acked >= idx {
				continue
			}
			if end := p.lastPong.Add(n.maxLag); now.Before(end) && end.After(until) {
				until = end
			}
		}
		n.peersMu.Unlock()
		if until.IsZero() {
			return nil
		}
		t := time.NewTimer(until.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-wake:
			t.Stop()
		}
	}
}

// Unnumbered is the index [Node.WaitApplied] takes for a change that went
// out under no notice (the node stopped being active between its commit
// and the notice): no standby acknowledged it.
const Unnumbered = ^uint64(0)

// Commits counts the writes this node's [Physical] committed. A request
// that moved it but not [Node.Index] committed a change no notice
// announced.
func (n *Node) Commits() uint64 { return n.commits.Load() }

// Isolate cuts this node off from the change notices and the read lease
// messages (on true) or reconnects it (on false), as a network partition
// between it and the other nodes would, while it keeps its storage
// connection: it ignores notices and sends no pings or acks. It is a
// fault-injection switch for drills and tests of the consistency
// guarantees; a node is never isolated otherwise.
func (n *Node) Isolate(on bool) { n.cut.Store(on) }

// pingsCut reports whether the node is isolated.
func (n *Node) pingsCut() bool { return n.cut.Load() }

// lagMS is [Node.Lag] in milliseconds, -1 without a usable lease.
func (n *Node) lagMS() int64 {
	d, ok := n.Lag()
	if !ok {
		return -1
	}
	return d.Milliseconds()
}
