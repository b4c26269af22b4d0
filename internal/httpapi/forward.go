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
	"time"

	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
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
	if r.Header.Get(forwardedHeader) != "" {
		h.writeError(w, r, reqID, ha.ErrNoActive)
		return
	}
	info, err := h.core.Leader(r.Context())
	if err != nil {
		if !errors.Is(err, ha.ErrNoActive) {
			h.logger.Warn("find the active node", "request_id", reqID, "err", err)
		}
		h.writeError(w, r, reqID, ha.ErrNoActive)
		return
	}
	target, err := url.Parse(info.LeaderAddress)
	if err != nil || target.Host == "" {
		h.logger.Error("the active node's address is not a URL", "request_id", reqID)
		h.writeError(w, r, reqID, ha.ErrNoActive)
		return
	}
	transport := h.transport
	overCluster := false
	if !h.redirect && h.cluster != nil {
		ft, err := h.core.ForwardTarget(r.Context())
		if err != nil {
			h.writeError(w, r, reqID, ha.ErrNoActive)
			return
		}
		if !ft.Announced {
			// Without its announcement this node cannot tell whether the
			// active node has a cluster listener: refusing is safer than
			// forwarding without cluster TLS.
			h.logger.Warn("the active node has not announced itself; not forwarding", "request_id", reqID, "active", target.Host)
			h.writeError(w, r, reqID, ha.ErrNoActive)
			return
		}
		if ct := clusterURL(ft.ClusterAddr); ct != nil {
			target, transport, overCluster = ct, h.cluster, true
		} else {
			h.logFallback(target.Host)
		}
	}
	if h.redirect {
		loc := *target
		loc.Path, loc.RawPath = r.URL.Path, r.URL.RawPath
		loc.RawQuery = r.URL.RawQuery
		w.Header().Set("Location", loc.String())
		w.WriteHeader(http.StatusTemporaryRedirect)
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
			pr.Out.Host = target.Host
			pr.SetXForwarded()
			pr.Out.Header.Set(forwardedHeader, "1")
			// Only this node may say who the client is, and only to the
			// cluster listener, where the active node authenticates it.
			pr.Out.Header.Del(clientAddrHeader)
			if overCluster {
				pr.Out.Header.Set(clientAddrHeader, r.RemoteAddr)
			}
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.logger.Warn("forward to the active node", "request_id", reqID, "active", target.Host, "err", err)
			h.writeError(w, r, reqID, ha.ErrNoActive)
		},
	}
	proxy.ServeHTTP(w, out)
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

// logFallback says, once per active node, that requests go to its API
// address because it announced no cluster address.
func (h *Handler) logFallback(apiHost string) {
	if old := h.fellBack.Swap(&apiHost); old != nil && *old == apiHost {
		return
	}
	h.logger.Warn("the active node announced no cluster address; forwarding to its api_addr without cluster TLS", "active", apiHost)
}
