package core

import (
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/mount"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/sys/auditdev"
	sysincident "github.com/coffer-secrets/coffer/internal/sys/incident"
	"github.com/coffer-secrets/coffer/internal/sys/policies"
)

// High availability lives in package ha (election, change notices,
// membership, cluster TLS). This file is core's side of it: the [ha.Host]
// a node drives, and the questions the pipeline and the HTTP layer ask
// the node. A core without Options.HA (c.ha nil) is a single server.

// haHost is the core as the server of an [ha.Node].
type haHost struct{ c *Core }

var _ ha.Host = haHost{}

// Sealed implements [ha.Host].
func (h haHost) Sealed() bool { return h.c.Sealed() }

// Storage implements [ha.Host]: the barrier.
func (h haHost) Storage() storage.Storage { return h.c.barrier }

// ClusterID lets the node name the cluster in X-Vault-Index states.
func (h haHost) ClusterID() string { return h.c.ClusterID() }

// ReloadKeyring implements [ha.Host].
func (h haHost) ReloadKeyring(ctx context.Context) error { return h.c.barrier.Reload(ctx) }

// UnloadLocked implements [ha.Host].
func (h haHost) UnloadLocked(ctx context.Context) { h.c.unloadState(ctx) }

// LoadActiveLocked implements [ha.Host].
func (h haHost) LoadActiveLocked(ctx context.Context) error {
	if err := h.c.barrier.Reload(ctx); err != nil {
		return err
	}
	return h.c.postUnseal(ctx)
}

// LoadStandbyLocked implements [ha.Host]: postUnseal for a standby.
func (h haHost) LoadStandbyLocked(ctx context.Context) error {
	c := h.c
	// Fail closed from the start: when a load below fails, the devices
	// stay closed, and without this the node would forward requests with
	// no forward entry. loadStandbyAudit clears it once they open. A node
	// that cannot tell whether devices are declared counts them.
	if on, err := c.audits.Declared(ctx); on || err != nil {
		c.setAuditFailure(errStandbyNotLoaded)
	}
	if err := c.tokens.Load(ctx); err != nil {
		return err
	}
	if err := c.readClusterID(ctx); err != nil {
		return err
	}
	if err := c.policies.LoadReadOnly(ctx); err != nil {
		return err
	}
	if err := c.loadIdentity(ctx); err != nil {
		return err
	}
	if err := c.incidents.Load(ctx); err != nil {
		return err
	}
	if err := c.loadMountsReadOnly(ctx); err != nil {
		return err
	}
	// Last: a standby whose devices cannot open still has its state, and
	// refuses (500) what it would audit until they open.
	return c.loadStandbyAudit(ctx)
}

// ReloadMountsLocked implements [ha.Host].
func (h haHost) ReloadMountsLocked(ctx context.Context) error {
	h.c.unloadMounts(ctx)
	return h.c.loadMountsReadOnly(ctx)
}

// InvalidateLocked implements [ha.Host]. It maps each changed key to the
// cache it feeds:
//
//   - core/cluster-id: everything (it changes once, on the first unseal);
//   - core/seal-config: the cached seal configuration (a rekey);
//   - core/keyring: the barrier reloads its keyring (first, so that the
//     other reloads can read values under a new term);
//   - core/mounts: the mount table is read again and the routes rebuilt;
//   - core/audit: the node opens and closes its own audit devices to
//     match (a device that cannot open fails the change: the node
//     refuses what it would audit, and reloads until it opens);
//   - sys/policy/NAME: that policy is read again;
//   - sys/token/id/HASH: that token's cache entry is dropped;
//   - sys/identity/...: the identity store reloads;
//   - sys/incident/open/... and sys/incident/lockdowns: the incident
//     guard (blocks and lockdowns) is compiled again;
//   - logical/UUID/KEY and auth/UUID/KEY: the mount's backend is told
//     KEY changed, if it implements [logical.Invalidator].
func (h haHost) InvalidateLocked(ctx context.Context, keys []string) ha.Changes {
	c := h.c
	if slices.Contains(keys, "core/cluster-id") {
		return ha.Changes{All: true}
	}
	if slices.Contains(keys, barrier.SealConfigPath) {
		// A rekey on the active node changed the shares and threshold.
		c.sealCfg.Store(nil)
	}
	var ch ha.Changes
	reloadIdentity, reloadIncidents := false, false
	if slices.Contains(keys, barrier.KeyringPath) {
		if err := c.barrier.Reload(ctx); err != nil {
			c.logger.Warn("reload keyring after a change", "err", err)
			ch.Failed = true
		}
	}
	for _, k := range keys {
		switch {
		case k == mount.TableKey:
			ch.Mounts = true
		case k == auditdev.TableKey:
			if !c.syncStandbyAudit(ctx) {
				ch.Failed = true
			}
		case strings.HasPrefix(k, policies.Prefix):
			if err := c.policies.ReloadOne(ctx, strings.TrimPrefix(k, policies.Prefix)); err != nil {
				c.logger.Warn("reload a changed policy", "err", err)
				ch.Failed = true
			}
		case strings.HasPrefix(k, "sys/token/id/"):
			c.tokens.Invalidate(strings.TrimPrefix(k, "sys/token/id/"))
		case strings.HasPrefix(k, "sys/identity/"):
			reloadIdentity = true
		case strings.HasPrefix(k, incidentPrefix) && sysincident.IsReservedKey(strings.TrimPrefix(k, incidentPrefix)):
			reloadIncidents = true
		case strings.HasPrefix(k, "logical/"), strings.HasPrefix(k, "auth/"):
			c.invalidateBackend(ctx, k)
		}
	}
	if reloadIdentity && c.identity != nil {
		if err := c.identity.Reload(ctx); err != nil {
			c.logger.Warn("reload identity store after a change", "err", err)
			ch.Failed = true
		}
	}
	if reloadIncidents {
		// Blocks and lockdowns apply on this node at once.
		if err := c.incidents.Load(ctx); err != nil {
			c.logger.Warn("reload incident blocks and lockdowns after a change", "err", err)
			ch.Failed = true
		}
	}
	return ch
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

// standby reports whether requests must be checked against the standby
// rules: the node is part of a cluster and not active.
func (c *Core) standby() bool { return c.ha != nil && c.ha.Standby() }

// servableOnStandby decides whether a standby answers req itself: the
// request goes to a secrets engine mount or the token store, with a type
// and operation [ha.StandbyRead] allows, or to a sys/ path [ha.StandbySys]
// allows (never a response-wrapping request), the node serves reads
// ([ha.Node.ServesReads]) and it holds a usable read lease
// ([ha.Node.Fresh]). The node audits what it serves with its own
// devices. The caller holds stateMu for reading.
//
// until is when the read lease it serves under ends: the request is
// answered only if it finishes before (see [Core.handleAudited]); zero
// for event streams, which are not bounded by it.
func (c *Core) servableOnStandby(req *Request) (until time.Time, ok bool) {
	if !c.ha.ServesReads() || req.WrapTTL > 0 {
		return time.Time{}, false
	}
	until, fresh := c.ha.FreshUntil()
	if !fresh {
		// No usable read lease: this node may be more than the lag
		// bound behind, or may not have applied a revocation.
		return time.Time{}, false
	}
	if strings.HasPrefix(req.Path, SubscribePrefix) && req.Operation == logical.ReadOperation {
		// Event streams are served where the client connects: the active
		// node sends its events to the standbys (see events.go).
		return time.Time{}, true
	}
	return until, c.standbyRoute(req)
}

// standbyRoute is the part of servableOnStandby that looks at the path.
func (c *Core) standbyRoute(req *Request) bool {
	if isWrappingPath(req.Path) {
		return false
	}
	if rel, ok := strings.CutPrefix(req.Path, "sys/"); ok {
		return ha.StandbySys(req.Operation, rel)
	}
	if req.Path == "sys" {
		return false
	}
	route, rel, _ := c.router.Match(req.Path)
	if route == nil {
		return false
	}
	if strings.HasPrefix(route.Path, mount.AuthPrefix) && route.Type != "token" {
		return false
	}
	return ha.StandbyRead(route.Type, req.Operation, rel)
}

// HAStatus reports the node's role; a single server is active while
// unsealed.
func (c *Core) HAStatus() ha.Status {
	if c.ha == nil {
		return ha.Status{Active: !c.Sealed()}
	}
	return c.ha.Status()
}

// Leader names the active node (see [ha.Node.Leader]); a single server
// reports a zero LeaderInfo.
func (c *Core) Leader(ctx context.Context) (ha.LeaderInfo, error) {
	if c.ha == nil {
		return ha.LeaderInfo{}, nil
	}
	return c.ha.Leader(ctx)
}

// ForwardTarget names the active node for forwarding (see
// [ha.Node.ForwardTarget]); a single server returns [ha.ErrNoActive].
func (c *Core) ForwardTarget(ctx context.Context) (ha.ForwardTarget, error) {
	if c.ha == nil {
		return ha.ForwardTarget{}, ha.ErrNoActive
	}
	return c.ha.ForwardTarget(ctx)
}

// ClusterServerTLS returns the TLS configuration of this node's cluster
// listener (see [ha.Node.ServerTLS]); a single server returns
// [ha.ErrClusterTLS].
func (c *Core) ClusterServerTLS() (*tls.Config, error) {
	if c.ha == nil {
		return nil, ha.ErrClusterTLS
	}
	return c.ha.ServerTLS()
}

// ClusterClientTLS returns the TLS configuration this node uses to reach
// another node's cluster listener (see [ha.Node.ClientTLS]); a single
// server returns [ha.ErrClusterTLS].
func (c *Core) ClusterClientTLS(serverName string) (*tls.Config, error) {
	if c.ha == nil {
		return nil, ha.ErrClusterTLS
	}
	return c.ha.ClientTLS(serverName)
}

// IsClusterPeer reports whether state is a connection from a node of this
// cluster (see [ha.Node.IsPeer]); false on a single server.
func (c *Core) IsClusterPeer(state *tls.ConnectionState) bool {
	return c.ha != nil && c.ha.IsPeer(state)
}
