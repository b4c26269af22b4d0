package azureapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// MaxBody bounds a request body: a value of at most maxValueBytes plus
// its content type, tags and attributes.
const MaxBody = 64 << 10

// maxValueBytes is the largest secret value, Azure's limit (25 KiB).
const maxValueBytes = 25 << 10

// Core runs requests through the pipeline (ACL, audit, routing);
// *core.Core is one.
type Core interface {
	HandleRequest(ctx context.Context, req *core.Request) (*core.Response, error)
}

// Forwarder passes the requests a standby does not serve to the active
// node of its cluster; *httpapi.Handler is one.
type Forwarder interface {
	// ForwardRaw sends r, whose body was read as body, to the active node
	// unchanged (its Host, so that the ids the active node answers name
	// the vault URL the client used) when this node is a standby, and
	// reports whether it did: the answer is then written, by unavailable
	// (with a message saying why) when no active node takes the request.
	ForwardRaw(w http.ResponseWriter, r *http.Request, reqID string, body []byte, unavailable func(w http.ResponseWriter, msg string)) bool
	// ClientConnection describes r's client: for a request a standby
	// forwarded over the cluster listener, the client that standby
	// served.
	ClientConnection(r *http.Request) *logical.Connection
}

// BodyReader reads a request body within the listener's limits (size,
// the shared body budget, minimum rate); *httpapi.Handler is one.
// release is called once the body is no longer used. Errors of kind
// logical.ErrTooLarge answer 413; the listener's other refusals (busy,
// too slow) answer 429 Throttled.
type BodyReader interface {
	ReadRawBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error)
}

// Options configures a [Handler].
type Options struct {
	// Core is required.
	Core Core
	// Mount is the KV version 2 mount holding the secrets, e.g.
	// "secret/"; required.
	Mount string
	// Forward, when set, sends requests a standby gets to the active
	// node; nil serves every request here (a standby then answers
	// ServiceUnavailable).
	Forward Forwarder
	// Body, when set, reads request bodies within the listener's limits
	// (besides MaxBody); nil reads them with MaxBody alone.
	Body   BodyReader
	Logger *slog.Logger
}

// Handler serves the Azure Key Vault secrets API at the paths [Served]
// accepts.
type Handler struct {
	core   Core
	mount  string
	fwd    Forwarder  // nil: no forwarding
	body   BodyReader // nil: MaxBody alone
	logger *slog.Logger
}

// New returns a handler.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	mount := strings.Trim(opts.Mount, "/") + "/"
	return &Handler{core: opts.Core, mount: mount, fwd: opts.Forward, body: opts.Body, logger: opts.Logger.With("component", "azureapi")}
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.New()
	w.Header().Set("X-Ms-Request-Id", reqID)
	w.Header().Set("Cache-Control", "no-store")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.logger.Error("panic serving request", "request_id", reqID, "panic", v, "stack", string(debug.Stack()))
			h.writeError(w, reqID, fail(http.StatusInternalServerError, codeInternal, "internal error"))
		}
	}()
	rt, err := parseRoute(r.Method, r.URL.Path)
	if err != nil {
		h.writeError(w, reqID, err)
		return
	}
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		// The challenge the SDK waits for, before a byte of the body is
		// read: an unauthenticated request costs a parse and this answer.
		w.Header().Set("WWW-Authenticate", challenge(r.Host))
		h.writeError(w, reqID, fail(http.StatusUnauthorized, codeUnauthorized, "AKV10000: Request is missing a Bearer or PoP token: send a Coffer token as Authorization: Bearer TOKEN."))
		return
	}
	if err := checkAPIVersion(r.URL.Query().Get("api-version")); err != nil {
		h.writeError(w, reqID, err)
		return
	}
	var body []byte
	if rt.op == opSet || rt.op == opUpdate {
		b, release, err := h.readBody(w, r)
		defer release()
		if err != nil {
			h.writeError(w, reqID, err)
			return
		}
		defer clear(b)
		body = b
	}
	conn := &logical.Connection{RemoteAddr: r.RemoteAddr, TLS: r.TLS}
	if h.fwd != nil {
		// A standby passes the request on as the client sent it (the
		// body within this handler's limit, read above); the active node
		// checks the token.
		if h.fwd.ForwardRaw(w, r, reqID, body, func(w http.ResponseWriter, msg string) {
			w.Header().Set("X-Ms-Request-Id", reqID)
			w.Header().Set("Cache-Control", "no-store")
			h.writeError(w, reqID, fail(http.StatusServiceUnavailable, codeUnavailable, "%s", msg))
		}) {
			return
		}
		// The client a standby forwarded the request for, when the
		// cluster listener vouches for it: audit sees that client.
		conn = h.fwd.ClientConnection(r)
	}
	host := r.Host
	if !validHost(host) {
		host = "localhost"
	}
	s := &session{h: h, ctx: r.Context(), token: tok, reqID: reqID, conn: conn, base: "https://" + host, query: r.URL.Query()}
	status, out, err := s.serve(rt, body)
	if err != nil {
		if errors.Is(err, core.ErrInvalidToken) {
			// The SDK answers a 401 with its challenge by asking its
			// credential again, as after a token's expiry.
			w.Header().Set("WWW-Authenticate", challenge(r.Host))
		}
		h.writeError(w, reqID, err)
		return
	}
	if out == nil {
		w.WriteHeader(status)
		return
	}
	h.writeJSON(w, status, out)
}

// bearer is the token of an "Authorization: Bearer TOKEN" header.
func bearer(a string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(a), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 4096 {
		return "", false
	}
	return tok, true
}

// challenge is the WWW-Authenticate header of a 401. The SDK takes the
// tenant from the authorization URL's first path segment and its token
// scope from resource; unless told not to (its
// DisableChallengeResourceVerification option), it checks that the vault
// host ends in "." plus resource's host, as VAULT.vault.azure.net ends in
// .vault.azure.net. So resource is the host's parent domain (the host
// minus its first label) when it has one, and https://vault.azure.net
// otherwise (a host such as localhost:8200, which then needs the option).
func challenge(host string) string {
	if !validHost(host) {
		host = "localhost"
	}
	resource := "https://vault.azure.net"
	if _, parent, ok := strings.Cut(host, "."); ok && parent != "" {
		resource = "https://" + parent
	}
	return `Bearer authorization="https://` + host + `/coffer", resource="` + resource + `"`
}

// validHost reports whether a Host header is safe to quote in a header
// and in ids: a host name or address and a port.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.:[]_", c) >= 0) {
			return false
		}
	}
	return true
}

// readBody reads a body of at most MaxBody bytes, within the listener's
// limits when the handler has its BodyReader. release is never nil.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	tooLarge := fail(http.StatusRequestEntityTooLarge, codeTooLarge, "The request body is larger than %d bytes.", MaxBody)
	if r.ContentLength > MaxBody {
		return nil, func() {}, tooLarge
	}
	if h.body == nil {
		b, err := readBody(w, r, tooLarge)
		return b, func() {}, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	b, release, err := h.body.ReadRawBody(w, r)
	if release == nil {
		release = func() {}
	}
	switch {
	case err == nil:
		return b, release, nil
	case errors.Is(err, logical.ErrTooLarge):
		return nil, release, tooLarge
	}
	if _, known := toAPI(err); known {
		return nil, release, err
	}
	// Busy (the body budget) or too slow: the listener's limits, in
	// Azure's words for "come back later".
	return nil, release, fail(http.StatusTooManyRequests, codeThrottled, "%s", err.Error())
}

// readBody reads a body of at most MaxBody bytes, answering tooLarge
// beyond.
func readBody(w http.ResponseWriter, r *http.Request, tooLarge *apiError) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, badParam("The request body could not be read.")
	}
	return b, nil
}

// errorBody is Azure's error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innererror,omitempty"`
}

// innerError is the more specific code some errors carry.
type innerError struct {
	Code string `json:"code"`
}

func (h *Handler) writeError(w http.ResponseWriter, reqID string, err error) {
	ae, known := toAPI(err)
	if !known {
		h.logger.Error("request failed", "request_id", reqID, "err", err)
		ae = fail(ae.status, ae.code, "internal error; see the server log for request %s", reqID)
	}
	out := errorBody{Error: errorDetail{Code: ae.code, Message: ae.msg}}
	if ae.inner != "" {
		out.Error.InnerError = &innerError{Code: ae.inner}
	}
	w.Header().Set("X-Ms-Keyvault-Error-Code", ae.code)
	h.writeJSON(w, ae.status, out)
}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // nextLink's "&" as Azure writes it
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"InternalServerError","message":"response could not be encoded"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	clear(buf.Bytes())
}
