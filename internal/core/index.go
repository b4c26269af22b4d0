package core

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// Cluster consistency, core's side (see package ha's index.go and
// readlease.go): the X-Vault-Index state the HTTP layer sends and checks,
// and the cluster barrier after a change that takes access away.

// needsClusterBarrier reports whether req, once it changed something,
// must not return before every standby applied the change or stopped
// serving: token revocation, lease revocation, a policy written or
// deleted (a write may narrow it), an identity entity or group changed
// or deleted (disabling one, or dropping a member, takes access away),
// an auth method disabled (revokes its tokens), a secrets engine
// disabled or moved (revokes its leases), an incident contained, a
// lockdown set or lifted, and anything an auth method deletes (a user,
// a role, a group: its logins end). A request that changed nothing waits
// for nothing, so listing a path that may also write harmless data only
// costs the wait.
func needsClusterBarrier(req *Request) bool {
	if req.Operation == logical.ReadOperation || req.Operation == logical.ListOperation {
		return false
	}
	p := req.Path
	del := req.Operation == logical.DeleteOperation
	switch {
	case strings.HasPrefix(p, "auth/token/revoke"):
		return true
	case strings.HasPrefix(p, "sys/leases/revoke"), strings.HasPrefix(p, "sys/revoke"):
		return true
	case strings.HasPrefix(p, "sys/policy/"), strings.HasPrefix(p, "sys/policies/acl/"):
		return true
	case strings.HasPrefix(p, "identity/entity"), strings.HasPrefix(p, "identity/group"):
		return true
	case strings.HasPrefix(p, "sys/incident/"):
		return true
	case strings.HasPrefix(p, "sys/remount"):
		return true
	case del && (strings.HasPrefix(p, "sys/auth/") || strings.HasPrefix(p, "sys/mounts/")):
		return true
	case del && strings.HasPrefix(p, "auth/"):
		return true
	}
	return false
}

// haIndex is the node's notice index; 0 on a single server.
func (c *Core) haIndex() uint64 {
	if c.ha == nil {
		return 0
	}
	return c.ha.Index()
}

// haCommits counts the node's committed writes; 0 on a single server.
func (c *Core) haCommits() uint64 {
	if c.ha == nil {
		return 0
	}
	return c.ha.Commits()
}

// clusterBarrier waits until no standby can serve state older than idx
// (see [ha.Node.WaitApplied]): at most the configured standby lag, or
// until ctx ends. The change is committed either way; a wait cut short is
// logged.
func (c *Core) clusterBarrier(ctx context.Context, idx uint64) {
	if c.ha == nil {
		return
	}
	if err := c.ha.WaitApplied(ctx, idx); err != nil {
		c.logger.Warn("the client left before every standby applied a revocation", "index", idx)
	}
}

// HANode returns the server's cluster node; nil on a single server.
func (c *Core) HANode() *ha.Node { return c.ha }

// IndexState returns the X-Vault-Index value of this node's state; "" on
// a single server or before the node knows its state key.
func (c *Core) IndexState() string {
	if c.ha == nil {
		return ""
	}
	return c.ha.State()
}

// CheckIndexState checks X-Vault-Index values a client sent and returns
// the greatest index among them. ok is false when this node cannot check
// them (a single server ignores them; a standby that has not loaded the
// state key forwards the request). A malformed, forged or foreign value is
// an invalid request.
func (c *Core) CheckIndexState(values []string) (idx uint64, ok bool, err error) {
	if c.ha == nil || len(values) == 0 {
		return 0, false, nil
	}
	for _, v := range values {
		i, err := c.ha.ParseState(v)
		if errors.Is(err, ha.ErrNoStateKey) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, logical.InvalidRequest("%v", err)
		}
		idx = max(idx, i)
	}
	return idx, true, nil
}

// WaitIndex waits until this node has applied idx, at most limit, and
// reports whether it has (see [ha.Node.WaitIndex]); true on a single
// server.
func (c *Core) WaitIndex(ctx context.Context, idx uint64, limit time.Duration) bool {
	if c.ha == nil {
		return true
	}
	return c.ha.WaitIndex(ctx, idx, limit)
}
