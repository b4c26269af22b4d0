package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// forwardedHeader marks a request a standby forwarded. A node that gets
// one while it is not active itself answers 503 instead of forwarding it
// again, so two nodes that disagree about the leader cannot bounce a
// request between them.
const forwardedHeader = "X-Coffer-Forwarded"

// clientAddrHeader carries, on a request a standby forwards over the
// cluster transport, the address ("ip:port") of the client the standby
// served. The active node believes it only on a connection accepted on its
// cluster listener from a verified cluster certificate (see
// [Handler.clientConnection]); anywhere else it is ignored, and a standby
// drops any value a client sent.
const clientAddrHeader = "X-Coffer-Client-Addr"

// requestIDHeader carries, on a request a standby forwards over the
// cluster transport, the request ID the standby gave it and recorded in
// its own audit log (the forward entry). The active node uses it as the
// request's ID, so that both nodes' entries share it; it believes it only
// on a connection accepted on its cluster listener from a verified cluster
// certificate, as for [clientAddrHeader], and only when it is a UUID.
const requestIDHeader = "X-Coffer-Request-Id"

// peerRequestID returns the request ID a standby forwarded r with, or ""
// when r does not come from a cluster node or carries none.
func (h *Handler) peerRequestID(r *http.Request) string {
	id := r.Header.Get(requestIDHeader)
	if id == "" || !uuid.Valid(id) {
		return ""
	}
	if on, _ := r.Context().Value(clusterListenerKey{}).(bool); !on || !h.core.IsClusterPeer(r.TLS) {
		return ""
	}
	return id
}

// clusterListenerKey marks the context of a connection accepted on the
// cluster listener.
type clusterListenerKey struct{}

// OnClusterListener returns ctx marked as the context of a connection
// accepted on this node's cluster listener. The server sets it for each
// such connection (http.Server.ConnContext); requests on other listeners
// must not carry it.
func OnClusterListener(ctx context.Context) context.Context {
	return context.WithValue(ctx, clusterListenerKey{}, true)
}

// clientConnection describes the client of r for core: its address and
// TLS state. For a request a standby forwarded to this node's cluster
// listener, authenticated by a cluster certificate, the address is the
// original client's, as the standby reported it, and there is no client
// TLS state (the connection's certificate is the standby's, not the
// client's).
func (h *Handler) clientConnection(r *http.Request) *logical.Connection {
	conn := &logical.Connection{RemoteAddr: r.RemoteAddr, TLS: r.TLS}
	fwd := r.Header.Get(clientAddrHeader)
	if fwd == "" {
		return conn
	}
	if on, _ := r.Context().Value(clusterListenerKey{}).(bool); !on || !h.core.IsClusterPeer(r.TLS) {
		return conn
	}
	host, _, err := net.SplitHostPort(fwd)
	if err != nil || net.ParseIP(host) == nil {
		h.logger.Warn("a cluster node forwarded a request with a malformed client address; using the node's", "node", r.RemoteAddr)
		return conn
	}
	return &logical.Connection{RemoteAddr: fwd}
}

// forwardTimeout bounds one forwarded request.
const forwardTimeout = 90 * time.Second

// toActive sends a request this standby does not serve to the active
// node: as a reverse proxy, with the client's headers and the body already
// read, or as a 307 redirect to the same path on the active node's API
// address when forwarding is disabled. The proxy goes to the active
// node's cluster address over the cluster transport (mutual TLS) when the
// active node announced one, and to its API address otherwise. Without an
// active node it answers 503.
func (h *Handler) toActive(w http.ResponseWriter, r *http.Request, reqID string, body []byte) {
	h.forward(w, r, reqID, body, forwardMode{fail: func(w http.ResponseWriter, _ string) {
		h.writeError(w, r, reqID, ha.ErrNoActive)
	}})
}

// ForwardRaw sends r, a request of another wire API served on this
// listener (internal/awsapi) whose body was read as body within the
// listener's limits, to the active node when this node is an unsealed
// standby, and reports whether it did; the answer is then written. The
// request goes as the client sent it: method, path, query, the Host
// header, every header but the hop-by-hop ones and this package's own
// forwarding headers, and the body byte for byte, so that the active node
// verifies a signature over them itself. It goes only to the active
// node's cluster listener (mutual TLS), which learns the client's address
// from this node and believes it: the active node's api_addr would see
// this node's address instead, and check a key's bound CIDRs against it.
// Nothing of it is logged. reqID names the request in this node's log.
// unavailable writes the answer, with msg saying why, when no active node
// takes the request: none is known or reachable, the active node announced
// no cluster address, forwarding is disabled (a 307 redirect would send
// the request to a host its signature does not name), or r was already
// forwarded by another node. On an active node, or a sealed one,
// ForwardRaw does nothing and reports false.
func (h *Handler) ForwardRaw(w http.ResponseWriter, r *http.Request, reqID string, body []byte, unavailable func(w http.ResponseWriter, msg string)) bool {
	if !h.core.HAStatus().Standby {
		return false
	}
	if h.redirect {
		unavailable(w, "this Coffer node is a standby that does not forward requests (disable_request_forwarding): send the request to the active node")
		return true
	}
	h.forward(w, r, reqID, body, forwardMode{raw: true, fail: unavailable})
	return true
}

// ClientConnection describes r's client for another wire API served on
// this listener, as this package describes it to core: for a request a
// standby forwarded to this node's cluster listener, authenticated by a
// cluster certificate, the original client's address, as the standby
// reported it, and no TLS state; otherwise r's own.
func (h *Handler) ClientConnection(r *http.Request) *logical.Connection {
	return h.clientConnection(r)
}

// forwardMode says how [Handler.forward] passes a request on.
type forwardMode struct {
	// raw keeps the request as the client sent it for a signature over
	// it: the Host header and the X-Forwarded-* headers stay as they
	// came, and the answer's headers are the active node's only.
	raw bool
	// fail answers when no active node takes the request; msg says why.
	fail func(w http.ResponseWriter, msg string)
}

// noActive is what a client is told when no active node takes its
// request.
const noActive = "no active Coffer node can take the request now; retry later"

// rawNeedsCluster is what the client of a request of another wire API
// (see [Handler.ForwardRaw]) is told when the active node announced no
// cluster address.
const rawNeedsCluster = "this Coffer node is a standby and the active node has no cluster listener: forwarding cloud API requests (AWS, Azure) needs the cluster listener (cluster_addr or a listener's cluster_address on every node); send the request to the active node"

// forward sends r, with body, to the active node (see [Handler.toActive]
// and [Handler.ForwardRaw]).
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, reqID string, body []byte, mode forwardMode) {
	if r.Header.Get(forwardedHeader) != "" {
		mode.fail(w, "a node forwarded this request to a standby: the nodes disagree about which is active; retry later")
		return
	}
	info, err := h.core.Leader(r.Context())
	if err != nil {
		if !errors.Is(err, ha.ErrNoActive) {
			h.logger.Warn("find the active node", "request_id", reqID, "err", err)
		}
		mode.fail(w, noActive)
		return
	}
	target, err := url.Parse(info.LeaderAddress)
	if err != nil || target.Host == "" {
		h.logger.Error("the active node's address is not a URL", "request_id", reqID)
		mode.fail(w, noActive)
		return
	}
	transport := h.transport
	overCluster := false
	if !h.redirect && h.cluster != nil {
		ft, err := h.core.ForwardTarget(r.Context())
		if err != nil {
			mode.fail(w, noActive)
			return
		}
		if !ft.Announced {
			// Without its announcement this node cannot tell whether the
			// active node has a cluster listener: refusing is safer than
			// forwarding without cluster TLS.
			h.logger.Warn("the active node has not announced itself; not forwarding", "request_id", reqID, "active", target.Host)
			mode.fail(w, noActive)
			return
		}
		if ct := clusterURL(ft.ClusterAddr); ct != nil {
			target, transport, overCluster = ct, h.cluster, true
		} else if !mode.raw {
			h.logOnce(&h.fellBack, target.Host, "the active node announced no cluster address; forwarding to its api_addr without cluster TLS")
		}
	}
	if mode.raw && !overCluster {
		// Only the cluster listener passes the client's address on, and
		// the active node would otherwise check an access key's
		// token_bound_cidrs against this node's address.
		h.logOnce(&h.rawRefused, target.Host, "the active node announced no cluster address; cloud API requests (AWS, Azure) are not forwarded: forwarding them needs the cluster listener (cluster_addr or a listener's cluster_address) on every node")
		mode.fail(w, rawNeedsCluster)
		return
	}
	if h.redirect && !mode.raw {
		loc := *target
		loc.Path, loc.RawPath = r.URL.Path, r.URL.RawPath
		loc.RawQuery = r.URL.RawQuery
		w.Header().Set("Location", loc.String())
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	// The request is recorded here before it leaves: a forward entry
	// with its ID, which the active node's entries share (over the
	// cluster transport). No device to record it: it is not forwarded.
	if err := h.auditForward(r, reqID, mode, target.Host); err != nil {
		h.logger.Error("audit a forwarded request", "request_id", reqID, "err", err)
		if mode.raw {
			mode.fail(w, "this Coffer node could not record the request in its audit log")
			return
		}
		h.writeError(w, r, reqID, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
	if isWebSocket(r) {
		// An event stream lasts as long as its client stays.
		ctx, cancel = context.WithCancel(r.Context())
	}
	defer cancel()
	// The active node's answer brings its own headers.
	w.Header().Del("Cache-Control")
	if mode.raw {
		clear(w.Header())
	}
	out := r.Clone(ctx)
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.Header.Del("Content-Length")
	if len(body) > 0 {
		out.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if mode.raw {
				// The client signed the Host it sent, and may have
				// signed the X-Forwarded-* headers the proxy dropped
				// before Rewrite.
				pr.Out.Host = pr.In.Host
				for _, k := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
					if v, ok := pr.In.Header[k]; ok {
						pr.Out.Header[k] = v
					}
				}
			} else {
				pr.Out.Host = target.Host
				pr.SetXForwarded()
			}
			pr.Out.Header.Set(forwardedHeader, "1")
			// Only this node may say who the client is, and which
			// request ID it recorded, and only to the cluster listener,
			// where the active node authenticates it.
			pr.Out.Header.Del(clientAddrHeader)
			pr.Out.Header.Del(requestIDHeader)
			if overCluster {
				pr.Out.Header.Set(clientAddrHeader, r.RemoteAddr)
				pr.Out.Header.Set(requestIDHeader, reqID)
			}
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			h.logger.Warn("forward to the active node", "request_id", reqID, "active", target.Host, "err", err)
			mode.fail(w, noActive)
		},
	}
	proxy.ServeHTTP(w, out)
}

// auditForward records in this node's audit devices that it forwards r
// (request ID reqID) to target.
func (h *Handler) auditForward(r *http.Request, reqID string, mode forwardMode, target string) error {
	f := core.ForwardAudit{ID: reqID, ClientToken: string(clientToken(r)), Connection: h.clientConnection(r), Target: target}
	if mode.raw {
		f.Path = r.URL.Path
		f.Operation = logical.Operation(strings.ToLower(r.Method))
	} else {
		f.Path = strings.TrimPrefix(r.URL.Path, "/v1/")
		var q url.Values
		if r.URL.RawQuery != "" {
			q = r.URL.Query()
		}
		f.Operation, _ = operation(r, q)
	}
	return h.core.AuditForward(r.Context(), f)
}

// clusterURL turns an announced cluster address ("https://host:port" or
// "host:port") into the URL forwarded requests go to; nil when there is
// none.
func clusterURL(addr string) *url.URL {
	if addr == "" {
		return nil
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return nil
	}
	return &url.URL{Scheme: "https", Host: u.Host}
}

// logOnce logs msg at warn level with the active node's API address
// apiHost, once per address in a row: last holds the address it last
// logged.
func (h *Handler) logOnce(last *atomic.Pointer[string], apiHost, msg string) {
	if old := last.Swap(&apiHost); old != nil && *old == apiHost {
		return
	}
	h.logger.Warn(msg, "active", apiHost)
}
