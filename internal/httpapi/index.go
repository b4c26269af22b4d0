package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Cluster consistency on the wire, with Vault's headers:
//
//   - every answer of a cluster node carries X-Vault-Index, the node's
//     state (see [core.Core.IndexState]): on the active node its index
//     after the request's writes, on a standby the index it has applied;
//   - a request may send one or more X-Vault-Index values back. A value
//     that is malformed, forged or from another cluster is refused with
//     400. A standby serves the request only once it has applied the
//     greatest of them: it waits for that up to [indexWait], woken as it
//     applies notices, and then forwards the request to the active node
//     (where Vault answers 412, Coffer forwards);
//   - X-Vault-Inconsistent: forward-active-node forwards at once when the
//     state is not reached, and X-Vault-Forward: active-node always.

// Header names of the consistency protocol, as Vault spells them.
const (
	headerIndex        = "X-Vault-Index"
	headerInconsistent = "X-Vault-Inconsistent"
	headerForward      = "X-Vault-Forward"
)

// indexWait bounds how long a standby waits to reach a client's state
// before it forwards the request.
const indexWait = 2 * time.Second

// maxIndexValues bounds the X-Vault-Index values checked per request.
const maxIndexValues = 8

// setIndexHeader adds this node's state to h unless it carries one.
func setIndexHeader(h http.Header, index func() string) {
	if index == nil || h.Get(headerIndex) != "" {
		return
	}
	if v := index(); v != "" {
		h.Set(headerIndex, v)
	}
}

// mustForward reads the consistency headers of r and reports whether a
// standby must forward it to the active node rather than serve it. It
// waits (bounded) for this node to reach the state the client requires.
// It returns an invalid request error for a bad X-Vault-Index.
func (h *Handler) mustForward(ctx context.Context, r *http.Request) (bool, error) {
	values := r.Header.Values(headerIndex)
	if len(values) > maxIndexValues {
		return false, logical.InvalidRequest("invalid X-Vault-Index: at most %d values are accepted", maxIndexValues)
	}
	want, ok, err := h.core.CheckIndexState(values)
	if err != nil {
		return false, err
	}
	if !h.core.HAStatus().Standby {
		return false, nil
	}
	if r.Header.Get(headerForward) == "active-node" {
		return true, nil
	}
	if len(values) == 0 {
		return false, nil
	}
	if !ok {
		return true, nil // this node cannot check the state; the active node can
	}
	if r.Header.Get(headerInconsistent) == "forward-active-node" {
		return !h.core.WaitIndex(ctx, want, 0), nil
	}
	return !h.core.WaitIndex(ctx, want, indexWait), nil
}
