package ha

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// Physical is the physical storage of a cluster node. It refuses writes
// with [ErrStandby] unless the node is active (or initializing the
// cluster), and after each committed write of the active node it tells the
// other nodes which keys changed. Storage is the storage it wraps; writes
// made to it directly are neither refused nor announced.
type Physical struct {
	storage.Storage
	n *Node
}

// Physical wraps s, the physical storage the nodes share, for this node.
func (n *Node) Physical(s storage.Storage) Physical {
	return Physical{Storage: s, n: n}
}

func (p Physical) writable() error {
	if p.n.leading() || p.n.initWrites.Load() {
		return nil
	}
	return ErrStandby
}

// Put implements [storage.Storage].
func (p Physical) Put(ctx context.Context, e *storage.Entry) error {
	if err := p.writable(); err != nil {
		return err
	}
	key := e.Key // e belongs to the storage once Put is called
	if err := p.Storage.Put(ctx, e); err != nil {
		return err
	}
	p.n.commits.Add(1)
	p.n.NotifyChanged(ctx, []string{key})
	return nil
}

// Delete implements [storage.Storage].
func (p Physical) Delete(ctx context.Context, key string) error {
	if err := p.writable(); err != nil {
		return err
	}
	if err := p.Storage.Delete(ctx, key); err != nil {
		return err
	}
	p.n.commits.Add(1)
	p.n.NotifyChanged(ctx, []string{key})
	return nil
}

// Txn implements [storage.Storage]: one notification for the whole
// transaction.
func (p Physical) Txn(ctx context.Context, ops []storage.Op) error {
	if err := p.writable(); err != nil {
		return err
	}
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Entry.Key
	}
	if err := p.Storage.Txn(ctx, ops); err != nil {
		return err
	}
	p.n.commits.Add(1)
	p.n.NotifyChanged(ctx, keys)
	return nil
}

// changePayload encodes the keys a write touched as one notification:
// the distinct keys separated by newlines, or "*" (everything) when a key
// cannot be sent as is or the list is too long.
func changePayload(keys []string) string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	n := 0
	for _, k := range keys {
		if k == "" || !utf8.ValidString(k) || strings.ContainsAny(k, "\n\x00") || k == "*" {
			return "*"
		}
		n += len(k) + 1
		if n > MaxNotifyPayload {
			return "*"
		}
	}
	return strings.Join(keys, "\n")
}

// NotifyChanged tells the standbys about a committed write to the physical
// keys ("*": everything changed); it does nothing unless this node is
// active. A failure is logged: the write happened, and standbys that miss
// notices reload everything when their listener reconnects.
func (n *Node) NotifyChanged(ctx context.Context, keys []string) {
	if !n.active.Load() || len(keys) == 0 {
		return
	}
	// The notice must go out even when the request's context ends right
	// after the commit.
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	payload := changePayload(keys)
	// Numbering and sending are serialized, so that notices leave in
	// index order. A notice that fails to go out still used its number:
	// standbys see the gap and reload everything.
	n.noticeMu.Lock()
	defer n.noticeMu.Unlock()
	n.seq++
	idx := MakeIndex(n.term.Load(), n.seq)
	err := n.opts.Backend.Notify(nctx, InvalidateChannel, encodeNotice(idx, payload))
	n.lastIndex.Store(idx)
	if err != nil {
		n.logger.Warn("notify standbys of a change", "keys", len(keys), "index", idx, "err", err)
	}
}

// runInvalidations applies the active node's change notices while this
// node is a standby, and retries a failed standby load every few seconds.
func (n *Node) runInvalidations(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := n.opts.Backend.Listen(ctx, InvalidateChannel)
		if err != nil {
			if ctx.Err() == nil {
				n.logger.Warn("listen for changes", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		// Changes made before the listener was up were not seen.
		n.invalidate(ctx, "*")
		tick := time.NewTicker(5 * time.Second)
		gaps := time.NewTicker(gapWait / 4)
	loop:
		for {
			select {
			case payload, ok := <-ch:
				if !ok {
					break loop
				}
				if n.cut.Load() {
					continue
				}
				n.applyNotice(ctx, payload)
			case <-tick.C:
				if n.stale.Load() {
					n.invalidate(ctx, "*")
				}
			case <-gaps.C:
			case <-n.reloadNow:
			}
			if !n.cut.Load() && !n.active.Load() && n.reloadDue() {
				n.reloadStandby(ctx)
			}
		}
		tick.Stop()
		gaps.Stop()
	}
}

// applyNotice applies one change notice on a standby. The active node
// hears its own notices and ignores them, also while its lease has lapsed
// (it then answers as a standby but still holds the active state: only
// becomeStandby may turn it into one).
func (n *Node) applyNotice(ctx context.Context, payload string) {
	if n.active.Load() {
		return
	}
	idx, keys := decodeNotice(payload)
	if idx != 0 {
		n.heardIndex(idx) // a reload this notice starts covers it
	}
	n.invalidate(ctx, keys)
	if idx != 0 {
		n.noticeReceived(idx)
	}
}

// invalidate applies a change notice on a standby (the active node wrote
// the change itself): "" (notices may have been missed) and "*" reload
// everything; otherwise the host maps the keys to its caches, and
// [ClusterTLSKey] reloads the cluster CA and this node's certificate.
func (n *Node) invalidate(ctx context.Context, payload string) {
	if payload == "" || payload == "*" {
		n.reloadStandby(ctx)
		return
	}
	keys := strings.Split(payload, "\n")
	lctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	n.state.RLock()
	if n.host.Sealed() || n.active.Load() {
		n.state.RUnlock()
		return
	}
	ch := n.host.InvalidateLocked(lctx, keys)
	if ch.All {
		n.state.RUnlock()
		n.reloadStandby(ctx)
		return
	}
	if ch.Failed {
		n.stale.Store(true)
	}
	if slices.Contains(keys, ClusterTLSKey) {
		if err := n.LoadClusterTLS(lctx, false); err != nil {
			n.logger.Warn("reload the cluster CA after a change", "err", err)
		}
	}
	n.state.RUnlock()
	if ch.Mounts {
		n.reloadStandbyMounts(lctx)
	}
}

// echo is what a node announces about itself.
type echo struct {
	NodeID         string `json:"node_id"`
	Hostname       string `json:"hostname"`
	APIAddress     string `json:"api_address"`
	ClusterAddress string `json:"cluster_address"`
	ActiveNode     bool   `json:"active_node"`
	Version        string `json:"version"`
	AppliedIndex   uint64 `json:"applied_index,omitempty"`
	LagMS          int64  `json:"lag_ms,omitempty"`
}

func encodeEcho(m Member) (string, error) {
	b, err := json.Marshal(echo{NodeID: m.NodeID, Hostname: m.Hostname, APIAddress: m.APIAddress, ClusterAddress: m.ClusterAddress, ActiveNode: m.ActiveNode, Version: m.Version, AppliedIndex: m.AppliedIndex, LagMS: m.LagMS})
	if err != nil {
		return "", fmt.Errorf("encode echo: %w", err)
	}
	return string(b), nil
}

// decodeEcho parses another node's announcement; ok is false for anything
// malformed.
func decodeEcho(payload string) (Member, bool) {
	var e echo
	if err := json.Unmarshal([]byte(payload), &e); err != nil || e.NodeID == "" {
		return Member{}, false
	}
	return Member{NodeID: e.NodeID, Hostname: e.Hostname, APIAddress: e.APIAddress, ClusterAddress: e.ClusterAddress, ActiveNode: e.ActiveNode, Version: e.Version, AppliedIndex: e.AppliedIndex, LagMS: e.LagMS}, true
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.NodeID, b.NodeID) })
}

// runEchoSender announces this node every EchoInterval, for the others'
// sys/ha-status.
func (n *Node) runEchoSender(ctx context.Context) {
	t := time.NewTicker(n.opts.EchoInterval)
	defer t.Stop()
	for {
		n.sendEcho(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.echoNow:
		}
	}
}

// runEcho records the other nodes' announcements.
func (n *Node) runEcho(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := n.opts.Backend.Listen(ctx, EchoChannel)
		if err != nil {
			if ctx.Err() == nil {
				n.logger.Warn("listen for cluster members", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for payload := range ch {
			m, ok := decodeEcho(payload)
			if !ok || m.NodeID == n.opts.NodeID {
				continue
			}
			m.LastEcho = n.now()
			n.membersMu.Lock()
			old, known := n.members[m.NodeID]
			n.members[m.NodeID] = m
			n.membersMu.Unlock()
			// A node new to this one (or one that just became active)
			// hears from this node at once instead of at the next tick,
			// so that standbys learn the active node's cluster address
			// without waiting.
			if !known || (m.ActiveNode && !old.ActiveNode) {
				n.announceSoon()
			}
		}
	}
}

// announceSoon asks the echo sender to announce this node now.
func (n *Node) announceSoon() {
	select {
	case n.echoNow <- struct{}{}:
	default:
	}
}

func (n *Node) sendEcho(ctx context.Context) {
	payload, err := encodeEcho(n.selfMember())
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := n.opts.Backend.Notify(ctx, EchoChannel, payload); err != nil && ctx.Err() == nil {
		n.logger.Debug("announce this node", "err", err)
	}
}
