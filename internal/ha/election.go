package ha

import (
	"context"
	"time"
)

// runElection competes for leadership while the node is unsealed.
func (n *Node) runElection(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		l, err := n.opts.Backend.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.logger.Warn("compete for leadership", "err", err)
			sleep(ctx, wait)
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		// The term is recorded before the node turns active, so that
		// its lease bounds the node's activity from the first moment.
		n.held.Store(&heldTerm{l})
		n.beginTerm(l)
		if !n.becomeActive(ctx) {
			n.held.Store(nil)
			n.endTerm()
			l.Release()
			sleep(ctx, time.Second)
			continue
		}
		voluntary := false
		stop := make(chan struct{})
		select {
		case <-l.Lost():
		case <-lapsed(l, stop):
			n.logger.Warn("leadership lease lapsed before it was renewed", "node_id", n.opts.NodeID)
		case <-n.stepDown:
			voluntary = true
		case <-ctx.Done():
			voluntary = true
		}
		close(stop)
		n.becomeStandby(ctx, l, voluntary)
		if voluntary && ctx.Err() == nil {
			n.logger.Info("stepped down; waiting before competing again", "wait", n.opts.StepDownWait)
			sleep(ctx, n.opts.StepDownWait)
		}
	}
}

// becomeActive turns a standby into the active node, after it acquired
// the leadership. It reports false (and stays standby) when the node is
// sealed or the active state could not be loaded.
func (n *Node) becomeActive(ctx context.Context) bool {
	n.state.Lock()
	defer n.state.Unlock()
	if n.host.Sealed() || ctx.Err() != nil {
		return false
	}
	// Drain a step-down asked of an earlier term.
	select {
	case <-n.stepDown:
	default:
	}
	n.active.Store(true)
	n.host.UnloadLocked(ctx)
	err := n.host.LoadActiveLocked(ctx)
	if err == nil {
		err = n.LoadClusterTLS(ctx, true)
	}
	if err == nil {
		err = n.LoadStateKey(ctx, true, n.clusterID())
	}
	if err != nil {
		n.logger.Error("become active: load state; staying standby", "err", err)
		n.host.UnloadLocked(ctx)
		n.LoadStandbyLocked(ctx)
		return false
	}
	now := n.now()
	n.activeSince.Store(&now)
	n.stale.Store(false)
	n.logger.Info("this node is now the active node", "node_id", n.opts.NodeID)
	n.observe(true)
	n.announceSoon()
	return true
}

// becomeStandby ends this node's term as active. When the term was lost
// the node stops acting as active before anything else; when it gives the
// term up (step-down, seal) it first saves what it must (audit chain
// state) and then releases the leadership.
func (n *Node) becomeStandby(ctx context.Context, l Leadership, voluntary bool) {
	n.leadership.Store(nil) // no more read leases from this term
	if !voluntary {
		n.active.Store(false)
		n.activeSince.Store(nil)
		n.logger.Warn("leadership lost; this node is now a standby", "node_id", n.opts.NodeID)
		n.observe(false)
	}
	n.state.Lock()
	n.host.UnloadLocked(context.WithoutCancel(ctx))
	if voluntary {
		n.active.Store(false)
		n.activeSince.Store(nil)
		n.logger.Info("gave up leadership; this node is now a standby", "node_id", n.opts.NodeID)
		n.observe(false)
	}
	// Until the standby state is loaded, everything is forwarded.
	n.stale.Store(true)
	n.held.Store(nil) // after active is false: a nil term bounds nothing
	n.endTerm()
	n.state.Unlock()
	// Release may take seconds on a dead connection; requests meanwhile
	// are forwarded or refused, never served as active.
	l.Release()
	if ctx.Err() == nil {
		n.reloadStandby(ctx)
	}
}

// LoadStandbyLocked makes the node a standby and loads what a standby
// serves reads from, writing nothing. A failure leaves the node stale: it
// forwards every request until a later reload works. The server calls it
// when it unseals; the caller holds the state lock for writing.
func (n *Node) LoadStandbyLocked(ctx context.Context) {
	n.active.Store(false)
	if err := n.loadStandby(ctx); err != nil {
		n.stale.Store(true)
		n.logger.Warn("load standby state; forwarding every request until it loads", "err", err)
		return
	}
	n.stale.Store(false)
}

// loadStandby is the server's unseal for a standby: no writes, no leases,
// no background work; its own audit devices.
func (n *Node) loadStandby(ctx context.Context) error {
	n.host.UnloadLocked(ctx)
	if err := n.host.LoadStandbyLocked(ctx); err != nil {
		return err
	}
	if err := n.LoadClusterTLS(ctx, false); err != nil {
		return err
	}
	return n.LoadStateKey(ctx, false, "")
}

// Bounds of a standby's reloads: the storage may be out of reach (the
// node was partitioned), and requests wait while the state is rebuilt.
const (
	probeTimeout  = 2 * time.Second
	reloadTimeout = 10 * time.Second
)

// reloadStandby reloads the keyring and the whole standby state. It first
// reloads the keyring without holding the state lock, so that an
// unreachable storage fails it within probeTimeout without holding
// requests up; the node then stays stale (forwarding) until a later try
// works.
func (n *Node) reloadStandby(ctx context.Context) {
	if n.host.Sealed() || n.active.Load() {
		return
	}
	// The reload covers every change whose notice was heard before it
	// began (see tracker.beginReload).
	at := n.beginFullReload()
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	err := n.host.ReloadKeyring(pctx)
	cancel()
	if err != nil {
		n.stale.Store(true)
		n.logger.Warn("reload keyring; forwarding every request until it works", "err", err)
		return
	}
	n.state.Lock()
	defer n.state.Unlock()
	if n.host.Sealed() || n.active.Load() || ctx.Err() != nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	n.LoadStandbyLocked(lctx)
	if !n.stale.Load() {
		n.endFullReload(at)
	}
}

// reloadStandbyMounts rebuilds the routes from the stored mount table.
func (n *Node) reloadStandbyMounts(ctx context.Context) {
	n.state.Lock()
	defer n.state.Unlock()
	if n.host.Sealed() || n.active.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	if err := n.host.ReloadMountsLocked(ctx); err != nil {
		n.stale.Store(true)
		n.logger.Warn("reload mount table after a change", "err", err)
	}
}
