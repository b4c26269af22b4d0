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
// read, or as a 307 redirect to the same path on the active node when
// forwarding is disabled. Without an active node it answers 503.
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
		Transport: h.transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			h.logger.Warn("forward to the active node", "request_id", reqID, "active", target.Host, "err", err)
			h.writeError(w, r, reqID, core.ErrNoActive)
		},
	}
	proxy.ServeHTTP(w, out)
}
