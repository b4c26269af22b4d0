package core

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// haPhysical is the physical storage of a cluster node. It refuses writes
// unless the node is active (or initializing the cluster), and after each
// committed write of the active node it tells the other nodes which keys
// changed.
type haPhysical struct {
	storage.Storage
	h      *haState
	logger *slog.Logger
}

func (p haPhysical) writable() error {
	h := p.h
	if h.active.Load() || h.initWrites.Load() {
		return nil
	}
	return ErrStandby
}

// Put implements [storage.Storage].
func (p haPhysical) Put(ctx context.Context, e *storage.Entry) error {
	if err := p.writable(); err != nil {
		return err
	}
	key := e.Key // e belongs to the storage once Put is called
	if err := p.Storage.Put(ctx, e); err != nil {
		return err
	}
	p.notifyChanged(ctx, []string{key})
	return nil
}

// Delete implements [storage.Storage].
func (p haPhysical) Delete(ctx context.Context, key string) error {
	if err := p.writable(); err != nil {
		return err
	}
	if err := p.Storage.Delete(ctx, key); err != nil {
		return err
	}
	p.notifyChanged(ctx, []string{key})
	return nil
}

// Txn implements [storage.Storage]: one notification for the whole
// transaction.
func (p haPhysical) Txn(ctx context.Context, ops []storage.Op) error {
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
	p.notifyChanged(ctx, keys)
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

// notifyChanged tells the standbys about a committed write. A failure is
// logged: the write happened, and standbys that miss notices reload
// everything when their listener reconnects.
func (p haPhysical) notifyChanged(ctx context.Context, keys []string) {
	if !p.h.active.Load() || len(keys) == 0 {
		return
	}
	// The notice must go out even when the request's context ends right
	// after the commit.
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.h.opts.Backend.Notify(nctx, InvalidateChannel, changePayload(keys)); err != nil {
		p.logger.Warn("notify standbys of a change", "keys", len(keys), "err", err)
	}
}

// runInvalidations applies the active node's change notices while this
// node is a standby, and retries a failed standby load every few seconds.
func (c *Core) runInvalidations(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := c.ha.opts.Backend.Listen(ctx, InvalidateChannel)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("listen for changes", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		// Changes made before the listener was up were not seen.
		c.invalidate(ctx, "*")
		tick := time.NewTicker(5 * time.Second)
	loop:
		for {
			select {
			case payload, ok := <-ch:
				if !ok {
					break loop
				}
				c.invalidate(ctx, payload)
			case <-tick.C:
				if c.ha.stale.Load() {
					c.invalidate(ctx, "*")
				}
			}
		}
		tick.Stop()
	}
}

// invalidate maps a change notice to the caches it affects, on a standby
// (the active node wrote the change itself):
//
//   - "" (notices may have been missed) or "*": everything is reloaded;
//   - core/keyring: the barrier reloads its keyring (first, so that the
//     other reloads can read values under a new term);
//   - core/mounts: the mount table is read again and the routes rebuilt;
//   - core/audit: whether reads may still be served locally;
//   - core/cluster-tls: the cluster CA and this node's certificate;
//   - core/cluster-id: everything (it changes once, on the first unseal);
//   - sys/policy/NAME: that policy is read again;
//   - sys/token/id/HASH: that token's cache entry is dropped;
//   - sys/identity/...: the identity store reloads;
//   - logical/UUID/KEY and auth/UUID/KEY: the mount's backend is told
//     KEY changed, if it implements [logical.Invalidator].
func (c *Core) invalidate(ctx context.Context, payload string) {
	if payload == "" || payload == "*" {
		c.reloadStandby(ctx)
		return
	}
	keys := strings.Split(payload, "\n")
	if slices.Contains(keys, "core/cluster-id") {
		c.reloadStandby(ctx)
		return
	}
	if slices.Contains(keys, barrier.SealConfigPath) {
		// A rekey on the active node changed the shares and threshold.
		c.sealCfg.Store(nil)
	}
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	c.stateMu.RLock()
	if c.Sealed() || !c.standby() {
		c.stateMu.RUnlock()
		return
	}
	reloadMounts, reloadIdentity := false, false
	if slices.Contains(keys, barrier.KeyringPath) {
		if err := c.barrier.Reload(ctx); err != nil {
			c.logger.Warn("reload keyring after a change", "err", err)
			c.ha.stale.Store(true)
		}
	}
	for _, k := range keys {
		switch {
		case k == mountTableKey:
			reloadMounts = true
		case k == auditTableKey:
			if err := c.checkStandbyAudit(ctx); err != nil {
				c.ha.localReads.Store(false)
			}
		case k == ClusterTLSKey:
			if err := c.loadClusterTLS(ctx, false); err != nil {
				c.logger.Warn("reload the cluster CA after a change", "err", err)
			}
		case strings.HasPrefix(k, policyPrefix):
			if err := c.policies.ReloadOne(ctx, strings.TrimPrefix(k, policyPrefix)); err != nil {
				c.logger.Warn("reload a changed policy", "err", err)
				c.ha.stale.Store(true)
			}
		case strings.HasPrefix(k, "sys/token/id/"):
			c.tokens.Invalidate(strings.TrimPrefix(k, "sys/token/id/"))
		case strings.HasPrefix(k, "sys/identity/"):
			reloadIdentity = true
		case strings.HasPrefix(k, "logical/"), strings.HasPrefix(k, "auth/"):
			c.invalidateBackend(ctx, k)
		}
	}
	if reloadIdentity && c.identity != nil {
		if err := c.identity.Reload(ctx); err != nil {
			c.logger.Warn("reload identity store after a change", "err", err)
			c.ha.stale.Store(true)
		}
	}
	c.stateMu.RUnlock()
	if reloadMounts {
		c.reloadStandbyMounts(ctx)
	}
}

// invalidateBackend tells the backend whose storage holds key that key
// changed. The caller holds stateMu.
func (c *Core) invalidateBackend(ctx context.Context, key string) {
	kind, rest, _ := strings.Cut(key, "/")
	uuid, rel, ok := strings.Cut(rest, "/")
	if !ok || rel == "" {
		return
	}
	var path string
	for _, m := range c.Mounts() {
		if m.UUID == uuid && m.IsAuth() == (kind == "auth") {
			path = m.Path
			break
		}
	}
	if path == "" {
		return
	}
	for _, r := range c.router.Routes() {
		if r.Path != path {
			continue
		}
		if inv, ok := r.Backend.(interface {
			Invalidate(ctx context.Context, key string)
		}); ok {
			inv.Invalidate(ctx, rel)
		}
		return
	}
}

// Bounds of a standby's reloads: the storage may be out of reach (the
// node was partitioned), and requests wait while the state is rebuilt.
const (
	probeTimeout  = 2 * time.Second
	reloadTimeout = 10 * time.Second
)

// reloadStandby reloads the keyring and the whole standby state. It first
// reloads the keyring without holding stateMu, so that an unreachable
// storage fails it within probeTimeout without holding requests up; the
// node then stays stale (forwarding) until a later try works.
func (c *Core) reloadStandby(ctx context.Context) {
	if c.Sealed() || !c.standby() {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	err := c.barrier.Reload(pctx)
	cancel()
	if err != nil {
		c.ha.stale.Store(true)
		c.logger.Warn("reload keyring; forwarding every request until it works", "err", err)
		return
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.Sealed() || !c.standby() || ctx.Err() != nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	c.loadStandbyLocked(lctx)
}

// reloadStandbyMounts rebuilds the routes from the stored mount table.
func (c *Core) reloadStandbyMounts(ctx context.Context) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.Sealed() || !c.standby() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	c.unloadMounts(ctx)
	if err := c.loadMountsReadOnly(ctx); err != nil {
		c.ha.stale.Store(true)
		c.logger.Warn("reload mount table after a change", "err", err)
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
}

func encodeEcho(m Member) (string, error) {
	b, err := json.Marshal(echo{NodeID: m.NodeID, Hostname: m.Hostname, APIAddress: m.APIAddress, ClusterAddress: m.ClusterAddress, ActiveNode: m.ActiveNode, Version: m.Version})
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
	return Member{NodeID: e.NodeID, Hostname: e.Hostname, APIAddress: e.APIAddress, ClusterAddress: e.ClusterAddress, ActiveNode: e.ActiveNode, Version: e.Version}, true
}

func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.NodeID, b.NodeID) })
}
