package core

import (
	"context"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// standbyRead reports whether a standby serves op on rel (relative to a
// mount of mountType) itself: the operations that read storage and write
// nothing. Everything else goes to the active node. transit's operations
// are updates in the API but only compute with a key (a missing key would
// be created on encrypt: that write is refused on the standby and the
// request forwarded).
func standbyRead(mountType string, op logical.Operation, rel string) bool {
	switch mountType {
	case "kv":
		return op == logical.ReadOperation || op == logical.ListOperation
	case "transit":
		if op != logical.UpdateOperation && op != logical.CreateOperation {
			return false
		}
		first, _, _ := strings.Cut(rel, "/")
		switch first {
		case "encrypt", "decrypt", "sign", "verify", "hmac":
			return true
		}
	}
	return false
}

// servableOnStandby decides whether a standby answers req itself. The rule:
// the request goes to a secrets engine mount (never sys/, auth/ or a
// response-wrapping request), the mount's type and the operation pass
// [standbyRead], no audit device is enabled (standbys do not audit), and
// the standby's state is loaded. The pipeline then still forwards a request
// whose token has limited uses or whose answer would be leased, and the
// standby's storage refuses any write with [ErrStandby], which forwards
// the request as well. The caller holds stateMu for reading.
func (c *Core) servableOnStandby(req *Request) bool {
	if c.ha.stale.Load() || !c.ha.localReads.Load() || req.WrapTTL > 0 {
		return false
	}
	if req.Path == "sys" || strings.HasPrefix(req.Path, "sys/") || isWrappingPath(req.Path) {
		return false
	}
	route, rel, _ := c.router.Match(req.Path)
	if route == nil || strings.HasPrefix(route.Path, authPrefix) {
		return false
	}
	return standbyRead(route.Type, req.Operation, rel)
}

// haPaths are sys/step-down and sys/ha-status.
func (c *Core) haPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    `step-down`,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: c.sysStepDown},
			Synopsis:   "Make the active node give up leadership.",
		},
		{
			Pattern:    `ha-status`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysHAStatus},
			Synopsis:   "List the nodes of the cluster.",
			TopLevel:   true,
		},
	}
}

// sysStepDown answers at once; the node steps down in the background
// (the requests in flight finish first) and another node takes over.
func (c *Core) sysStepDown(context.Context, *logical.Request, *framework.Match) (*logical.Response, error) {
	c.StepDown()
	return nil, nil
}

// haNode is one node in sys/ha-status, in Vault's shape.
type haNode struct {
	Hostname       string `json:"hostname"`
	APIAddress     string `json:"api_address"`
	ClusterAddress string `json:"cluster_address"`
	ActiveNode     bool   `json:"active_node"`
	LastEcho       string `json:"last_echo"`
	Version        string `json:"version"`
	NodeID         string `json:"node_id"`
}

func (c *Core) sysHAStatus(context.Context, *logical.Request, *framework.Match) (*logical.Response, error) {
	if c.ha == nil {
		return nil, logical.InvalidRequest("high availability is not enabled on this server")
	}
	nodes := []haNode{}
	for _, m := range c.Members() {
		nodes = append(nodes, haNode{
			Hostname:       m.Hostname,
			APIAddress:     m.APIAddress,
			ClusterAddress: m.ClusterAddress,
			ActiveNode:     m.ActiveNode,
			LastEcho:       m.LastEcho.UTC().Format(time.RFC3339Nano),
			Version:        m.Version,
			NodeID:         m.NodeID,
		})
	}
	return &logical.Response{Data: map[string]any{"nodes": nodes}}, nil
}
