package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
)

// forwardedHeader marks a request a standby forwarded. A node that gets
// one while it is not active itself answers 503 instead of forwarding it
// again, so two nodes that disagree about the leader cannot bounce a
// request between them.
const forwardedHeader = "X-Coffer-Forwarded"

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
		h.writeError(w, r, reqID, core.ErrNoActive)
		return
	}
	info, err := h.core.Leader(r.Context())
	if err != nil {
		if !errors.Is(err, core.ErrNoActive) {
			h.logger.Warn("find the active node", "request_id", reqID, "err", err)
		}
		h.writeError(w, r, reqID, core.ErrNoActive)
		return
	}
	target, err := url.Parse(info.LeaderAddress)
	if err != nil || target.Host == "" {
		h.logger.Error("the active node's address is not a URL", "request_id", reqID)
		h.writeError(w, r, reqID, core.ErrNoActive)
		return
	}
	transport := h.transport
	if !h.redirect && h.cluster != nil {
		ft, err := h.core.ForwardTarget(r.Context())
		if err != nil {
			h.writeError(w, r, reqID, core.ErrNoActive)
			return
		}
		if !ft.Announced {
			// Without its announcement this node cannot tell whether the
			// active node has a cluster listener: refusing is safer than
			// forwarding without cluster TLS.
			h.logger.Warn("the active node has not announced itself; not forwarding", "request_id", reqID, "active", target.Host)
			h.writeError(w, r, reqID, core.ErrNoActive)
			return
		}
		if ct := clusterURL(ft.ClusterAddr); ct != nil {
			target, transport = ct, h.cluster
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
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.logger.Warn("forward to the active node", "request_id", reqID, "active", target.Host, "err", err)
			h.writeError(w, r, reqID, core.ErrNoActive)
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
