package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// Limits of the event streams (sys/events/subscribe/TYPE).
const (
	// DefaultMaxEventStreams bounds the WebSocket event streams a handler
	// serves at once; more answer 503 with Retry-After.
	DefaultMaxEventStreams = 512
	// eventWriteTimeout bounds writing one event or ping to a client; a
	// client that reads slower loses its stream.
	eventWriteTimeout = 10 * time.Second
	// eventPingInterval is how often an idle stream is pinged, so that a
	// dead peer is noticed and intermediaries keep the connection open.
	eventPingInterval = 30 * time.Second
	// eventReadLimit bounds a message from the client (it has nothing to
	// say but control frames).
	eventReadLimit = 1024
)

// Subprotocols of the event stream for clients that cannot set headers
// on a WebSocket (browsers): they offer [EventsProtocol] and
// [TokenProtocolPrefix] followed by the token in unpadded base64url, and
// the server chooses [EventsProtocol]. The token so stays out of the URL.
const (
	EventsProtocol      = "coffer.events.v1"
	TokenProtocolPrefix = "coffer.token."
)

// protocolToken reads a token offered as a Sec-WebSocket-Protocol value
// (see [TokenProtocolPrefix]); "" when none is offered. A malformed one,
// or one offered without [EventsProtocol], is a 400 that does not repeat
// the value.
func protocolToken(r *http.Request) (token.ID, error) {
	var tok token.ID
	marker := false
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if p == EventsProtocol {
				marker = true
			}
			enc, ok := strings.CutPrefix(p, TokenProtocolPrefix)
			if !ok {
				continue
			}
			b, err := base64.RawURLEncoding.DecodeString(enc)
			if err != nil || len(b) == 0 || tok != "" {
				return "", logical.InvalidRequest("malformed token subprotocol: offer one %s value with the token in unpadded base64url", TokenProtocolPrefix)
			}
			tok = token.ID(b)
		}
	}
	if tok != "" && !marker {
		return "", logical.InvalidRequest("a token subprotocol needs the %s subprotocol beside it", EventsProtocol)
	}
	return tok, nil
}

// isWebSocket reports whether r asks to upgrade to a WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && headerHas(r.Header, "Connection", "upgrade")
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// handleSubscribe serves sys/events/subscribe/TYPE: the request is checked
// (read on its path) and audited by the core before the upgrade, then
// each event the token may read goes out as one JSON text message in
// Vault's CloudEvents shape. The optional "filter" query parameter is a
// glob on the event's data path.
func (h *Handler) handleSubscribe(w http.ResponseWriter, r *http.Request, reqID, path string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		h.writeJSON(w, http.StatusMethodNotAllowed, errorBody{Errors: []string{"unsupported method " + r.Method + ": subscribe with a WebSocket GET"}})
		return
	}
	if !isWebSocket(r) {
		h.writeError(w, r, reqID, logical.InvalidRequest("sys/events/subscribe needs a WebSocket connection (Upgrade: websocket)"))
		return
	}
	q := r.URL.Query()
	if v := q.Get("json"); v != "" && v != "true" {
		h.writeError(w, r, reqID, logical.InvalidRequest("only JSON events are served: use json=true"))
		return
	}
	select {
	case h.eventStreams <- struct{}{}:
		defer func() { <-h.eventStreams }()
	default:
		h.writeError(w, r, reqID, errBusy)
		return
	}
	tok := clientToken(r)
	if tok == "" {
		t, err := protocolToken(r)
		if err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
		tok = t
	}
	req := &core.Request{
		Request:     &logical.Request{ID: reqID, Operation: logical.ReadOperation, Path: path, Connection: h.clientConnection(r)},
		ClientToken: tok,
	}
	f := events.Filter{Type: strings.TrimPrefix(path, core.SubscribePrefix), Path: q.Get("filter")}
	stream, err := h.core.SubscribeEvents(r.Context(), req, f)
	if errors.Is(err, ha.ErrStandby) {
		// A standby that cannot serve it (its standby state is not
		// loaded) proxies the whole stream to the active node.
		clearDeadlines(w)
		h.toActive(w, r, reqID, nil)
		return
	}
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	defer stream.Close()
	clearDeadlines(w)
	// A browser offering the token as a subprotocol must see one of its
	// protocols chosen: the marker, never the token.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{EventsProtocol}})
	if err != nil {
		return // Accept answered the client
	}
	defer conn.CloseNow()
	conn.SetReadLimit(eventReadLimit)
	// CloseRead answers control frames and ends ctx when the client goes.
	ctx := conn.CloseRead(r.Context())
	reason := h.streamEvents(ctx, conn, stream)
	conn.Close(websocket.StatusNormalClosure, reason)
}

// clearDeadlines lifts the server's read and write timeouts, set on the
// connection for a request: a stream lives longer and sets its own per
// write.
func clearDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

// streamEvents writes stream's events to conn until one side ends; it
// returns the close reason for the client.
func (h *Handler) streamEvents(ctx context.Context, conn *websocket.Conn, stream *core.EventStream) string {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(eventPingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(ctx, eventWriteTimeout)
				err := conn.Ping(pctx)
				pcancel()
				if err != nil {
					cancel()
					return
				}
			}
		}
	}()
	for {
		e, err := stream.Next(ctx)
		switch {
		case errors.Is(err, events.ErrSlow):
			return "too slow: events were dropped"
		case errors.Is(err, core.ErrStreamEnded):
			return "the token is no longer valid or the server sealed"
		case err != nil:
			return ""
		}
		b, err := json.Marshal(e)
		if err != nil {
			return ""
		}
		wctx, wcancel := context.WithTimeout(ctx, eventWriteTimeout)
		err = conn.Write(wctx, websocket.MessageText, b)
		wcancel()
		if err != nil {
			return ""
		}
	}
}
