package ha

import (
	"context"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// StandbyRead reports whether a standby serves op on rel (relative to a
// mount of mountType) itself: the operations that read storage and write
// nothing. Everything else goes to the active node. transit's operations
// are updates in the API but only compute with a key (a missing key would
// be created on encrypt: that write is refused on the standby and the
// request forwarded).
//
// The server applies it only to requests for a secrets engine mount or
// the token store (never another auth/ mount nor a response-wrapping
// request; sys/ paths are [StandbySys]'s), and only while
// [Node.ServesReads]; its pipeline then still forwards a request whose
// token has limited uses or whose answer would be leased, and
// [Physical] refuses any write with [ErrStandby], which forwards the
// request as well.
func StandbyRead(mountType string, op logical.Operation, rel string) bool {
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
	case "token":
		// Lookups read the token store (a caller's token with limited
		// uses is still forwarded: counting the use is a write).
		switch rel {
		case "lookup-self", "lookup":
			return op == logical.ReadOperation || op == logical.UpdateOperation
		case "lookup-accessor":
			return op == logical.UpdateOperation
		}
	}
	return false
}

// Paths are sys/step-down and sys/ha-status, relative to sys/. n is nil on
// a single server: step-down then does nothing and ha-status answers that
// high availability is not enabled.
func Paths(n *Node) []*framework.Path {
	s := sysHandlers{n: n}
	return []*framework.Path{
		{
			Pattern:    `step-down`,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: s.stepDown},
			Synopsis:   "Make the active node give up leadership.",
		},
		{
			Pattern:    `ha-status`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: s.status},
			Synopsis:   "List the nodes of the cluster.",
			TopLevel:   true,
		},
	}
}

// sysHandlers serve the cluster's sys paths.
type sysHandlers struct {
	n *Node // nil on a single server
}

// stepDown answers at once; the node steps down in the background (the
// requests in flight finish first) and another node takes over.
func (s sysHandlers) stepDown(context.Context, *logical.Request, *framework.Match) (*logical.Response, error) {
	if s.n != nil {
		s.n.StepDown()
	}
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
	// AppliedIndex and LagMS are Coffer's: the node's notice index and
	// its lag behind the active node (-1: no usable read lease, so it
	// forwards), as of its last announcement.
	AppliedIndex uint64 `json:"applied_index"`
	LagMS        int64  `json:"lag_ms"`
}

func (s sysHandlers) status(context.Context, *logical.Request, *framework.Match) (*logical.Response, error) {
	if s.n == nil {
		return nil, logical.InvalidRequest("high availability is not enabled on this server")
	}
	nodes := []haNode{}
	for _, m := range s.n.Members() {
		nodes = append(nodes, haNode{
			Hostname:       m.Hostname,
			APIAddress:     m.APIAddress,
			ClusterAddress: m.ClusterAddress,
			ActiveNode:     m.ActiveNode,
			LastEcho:       m.LastEcho.UTC().Format(time.RFC3339Nano),
			Version:        m.Version,
			NodeID:         m.NodeID,
			AppliedIndex:   m.AppliedIndex,
			LagMS:          m.LagMS,
		})
	}
	return &logical.Response{Data: map[string]any{"nodes": nodes}}, nil
}
