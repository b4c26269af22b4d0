package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/metrics"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/token"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// DefaultMaxRequestSize is the body limit when none is configured: 32 MiB.
const DefaultMaxRequestSize = 32 << 20

// Options configures a [Handler].
type Options struct {
	Core   *core.Core
	Logger *slog.Logger
	// MaxRequestSize limits request bodies; 0 means DefaultMaxRequestSize.
	MaxRequestSize int64
	// Metrics, when set, records every request and serves sys/metrics.
	Metrics *metrics.Metrics
	// UnauthenticatedMetrics lets sys/metrics answer without a token.
	UnauthenticatedMetrics bool
	// RedirectToActive makes a standby answer a request it does not serve
	// itself with 307 and the active node's address instead of forwarding
	// it.
	RedirectToActive bool
	// ForwardTransport carries requests forwarded to the active node; nil
	// means http.DefaultTransport.
	ForwardTransport http.RoundTripper
	// ClusterTransport, when set, carries requests forwarded to the active
	// node's cluster address (mutual TLS with the cluster CA); the active
	// node's api_addr and ForwardTransport are then used only when it
	// announced no cluster address.
	ClusterTransport http.RoundTripper
	// DisableRekey and DisableGenerateRoot turn off the unauthenticated
	// key ceremonies (sys/rekey/*, sys/rekey-recovery-key/*,
	// sys/generate-root/*) on this listener: they answer 405, as OpenBao
	// does with the same listener options.
	DisableRekey        bool
	DisableGenerateRoot bool
	// InFlight, when set, records every request while it is served (for
	// sys/in-flight-req).
	InFlight *InFlight
	// Budget bounds the request body bytes buffered at once; share one
	// among the handlers of a server. Nil means a budget of
	// DefaultBodyBudget for this handler alone.
	Budget *Budget
	// BodyGrace and BodyMinRate (bytes per second) are the minimum rate
	// a body must keep after its grace period; 0 means DefaultBodyGrace
	// and DefaultBodyMinRate.
	BodyGrace   time.Duration
	BodyMinRate int64
	// MaxEventStreams bounds the WebSocket event streams served at once;
	// 0 means DefaultMaxEventStreams.
	MaxEventStreams int
}

// Handler serves the Vault HTTP API under /v1/.
type Handler struct {
	core        *core.Core
	logger      *slog.Logger
	maxBody     int64
	buffers     sync.Pool // of *bytes.Buffer, for encoding responses
	metrics     *metrics.Metrics
	openMetrics bool
	redirect    bool
	transport   http.RoundTripper
	cluster     http.RoundTripper
	noRekey     bool
	noGenRoot   bool
	inflight    *InFlight // nil when not tracked
	budget      *Budget
	bodyGrace   time.Duration
	bodyMinRate int64
	// eventStreams holds a token per event stream being served.
	eventStreams chan struct{}
	// fellBack is the last active API address a forward fell back to
	// (logged once per address).
	fellBack atomic.Pointer[string]
	// rawRefused is the last active API address a request of another
	// wire API was not forwarded to for want of a cluster address (logged
	// once per address).
	rawRefused atomic.Pointer[string]
}

// New returns the API handler.
func New(opts Options) *Handler {
	if opts.MaxRequestSize <= 0 {
		opts.MaxRequestSize = DefaultMaxRequestSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ForwardTransport == nil {
		opts.ForwardTransport = http.DefaultTransport
	}
	if opts.Budget == nil {
		opts.Budget = NewBudget(0)
	}
	if opts.BodyGrace <= 0 {
		opts.BodyGrace = DefaultBodyGrace
	}
	if opts.BodyMinRate <= 0 {
		opts.BodyMinRate = DefaultBodyMinRate
	}
	if opts.MaxEventStreams <= 0 {
		opts.MaxEventStreams = DefaultMaxEventStreams
	}
	h := &Handler{
		core:        opts.Core,
		logger:      opts.Logger.With("component", "http"),
		maxBody:     opts.MaxRequestSize,
		metrics:     opts.Metrics,
		openMetrics: opts.UnauthenticatedMetrics,
		redirect:    opts.RedirectToActive,
		transport:   opts.ForwardTransport,
		cluster:     opts.ClusterTransport,
		noRekey:     opts.DisableRekey,
		noGenRoot:   opts.DisableGenerateRoot,
		inflight:    opts.InFlight,
		budget:      opts.Budget,
		bodyGrace:   opts.BodyGrace,
		bodyMinRate: opts.BodyMinRate,

		eventStreams: make(chan struct{}, opts.MaxEventStreams),
	}
	h.buffers.New = func() any { return new(bytes.Buffer) }
	return h
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := h.peerRequestID(r)
	if reqID == "" {
		reqID = uuid.New()
	}
	if h.inflight != nil {
		defer h.inflight.add(reqID, r, h.logPath(r))()
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, index: h.core.IndexState}
	w = sw
	start := time.Now()
	defer func() {
		d := time.Since(start)
		if h.metrics != nil {
			h.metrics.Request(sw.mountType, sw.operation, sw.status, d)
		}
		// One line per request at debug level: the request ID ties it to
		// error logs and audit entries. No token, body or query is logged.
		if h.logger.Enabled(r.Context(), slog.LevelDebug) {
			h.logger.Debug("request", "request_id", reqID, "method", r.Method, "path", h.logPath(r), "status", sw.status, "mount_type", sw.mountType, "duration", d)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.logger.Error("panic serving request", "request_id", reqID, "path", h.logPath(r), "panic", v, "stack", string(debug.Stack()))
			h.writeJSON(w, http.StatusInternalServerError, errorBody{Errors: []string{"internal error; see the server log for request " + reqID}})
		}
	}()
	w.Header().Set("Cache-Control", "no-store")
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		h.writeJSON(w, http.StatusNotFound, errorBody{Errors: []string{}})
		return
	}
	path, err := router.CleanPath(rest)
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	switch path {
	case "sys/init", "sys/seal-status", "sys/unseal", "sys/health", "sys/leader":
		// Unauthenticated and served here, but audited as every request is.
		serve := h.unauthenticated(path)
		h.serveAudited(w, r, reqID, path, false, func(bw http.ResponseWriter) { serve(bw, r, reqID) })
		return
	case "sys/metrics":
		h.handleMetrics(w, r, reqID)
		return
	case core.SnapshotPath, core.SnapshotForcePath:
		h.handleSnapshot(w, r, reqID, path == core.SnapshotForcePath)
		return
	}
	if strings.HasPrefix(path, core.SubscribePrefix) {
		h.handleSubscribe(w, r, reqID, path)
		return
	}
	if h.ceremonyDisabled(path) {
		h.writeError(w, r, reqID, &logical.Error{Kind: logical.ErrUnsupportedOperation, Msg: "unsupported operation: this endpoint is disabled on this listener"})
		return
	}
	h.handleLogical(w, r, reqID, path)
}

// unauthenticated returns the handler of an unauthenticated endpoint this
// package serves itself.
func (h *Handler) unauthenticated(path string) func(http.ResponseWriter, *http.Request, string) {
	switch path {
	case "sys/init":
		return h.handleInit
	case "sys/seal-status":
		return h.handleSealStatus
	case "sys/unseal":
		return h.handleUnseal
	case "sys/health":
		return h.handleHealth
	default:
		return h.handleLeader
	}
}

// logPath is r's URL path as logs and the in-flight list show it: a path
// that may carry a token in an unserved auth/token/ form is redacted (see
// [core.Core.RedactPath]).
func (h *Handler) logPath(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		return r.URL.Path
	}
	return "/v1/" + h.core.RedactPath(rest)
}

// operation maps the HTTP method (and ?list=true in q, the parsed query)
// to an operation.
func operation(r *http.Request, q url.Values) (logical.Operation, bool) {
	switch r.Method {
	case http.MethodGet:
		if v := q.Get("list"); v == "true" || v == "1" {
			return logical.ListOperation, true
		}
		return logical.ReadOperation, true
	case "LIST":
		return logical.ListOperation, true
	case http.MethodPost, http.MethodPut:
		return logical.UpdateOperation, true
	case http.MethodPatch:
		return logical.PatchOperation, true
	case http.MethodDelete:
		return logical.DeleteOperation, true
	}
	return "", false
}

// wrapTTL reads X-Vault-Wrap-TTL: seconds or a duration such as "5m".
func wrapTTL(r *http.Request) (time.Duration, error) {
	v := r.Header.Get("X-Vault-Wrap-TTL")
	if v == "" {
		return 0, nil
	}
	d, ok := framework.ParseDuration(v)
	if !ok || d <= 0 {
		return 0, logical.InvalidRequest("invalid X-Vault-Wrap-TTL %q: want seconds or a duration such as 5m", v)
	}
	return d, nil
}

// clientToken reads X-Vault-Token, or else an Authorization bearer token.
func clientToken(r *http.Request) token.ID {
	if t := r.Header.Get("X-Vault-Token"); t != "" {
		return token.ID(t)
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return token.ID(strings.TrimSpace(a[7:]))
	}
	return ""
}

// bodyTooLarge answers a body over max_request_size, in the words of Go's
// http.MaxBytesReader that Vault sends and clients match.
func bodyTooLarge() error {
	return &logical.Error{Kind: logical.ErrTooLarge, Msg: "http: request body too large"}
}

// readBody reads a JSON object body within the size limit, the server's
// body budget and the minimum rate (see [bodyReader]). An empty body is
// nil. A declared Content-Length over the limit is refused before any of
// the body is read, so a client waiting for "100 Continue" gets the 413
// instead of an invitation to send the body. The caller calls release
// once the body is no longer used (also after an error).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, func() {}, nil
	}
	if r.ContentLength > h.maxBody {
		return nil, func() {}, bodyTooLarge()
	}
	br := &bodyReader{h: h, w: w, r: r}
	body, err = br.read()
	if err != nil {
		br.release()
		return nil, func() {}, err
	}
	trimmed := bytes.TrimSpace(body)
	// The official client sends "null" for a write without data.
	if len(trimmed) == 0 || string(trimmed) == "null" {
		br.release()
		return nil, func() {}, nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		br.release()
		return nil, func() {}, logical.InvalidRequest("failed to parse JSON input: the request body must be one JSON object")
	}
	if err := framework.CheckUTF8(trimmed); err != nil {
		br.release()
		return nil, func() {}, err
	}
	return trimmed, br.release, nil
}

// handleLogical sends a request through the core pipeline.
func (h *Handler) handleLogical(w http.ResponseWriter, r *http.Request, reqID, path string) {
	// Most requests have no query; parse it only when there is one. A nil
	// url.Values reads as empty.
	var q url.Values
	if r.URL.RawQuery != "" {
		q = r.URL.Query()
	}
	if r.ContentLength != 0 {
		// Whatever of the body the handler leaves unread, net/http reads
		// (up to 256 KiB) before it answers; that read gets a deadline,
		// so that a client trickling a body it was refused cannot hold
		// the connection. Reading the body moves or clears it.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.bodyGrace))
	}
	if isHelp(r) {
		h.handleHelp(w, r, reqID, path)
		return
	}
	op, ok := operation(r, q)
	if !ok {
		w.Header().Set("Allow", "GET, LIST, POST, PUT, PATCH, DELETE")
		h.writeJSON(w, http.StatusMethodNotAllowed, errorBody{Errors: []string{"unsupported method " + r.Method}})
		return
	}
	var body []byte
	if op == logical.UpdateOperation || op == logical.PatchOperation || op == logical.DeleteOperation {
		// A declared length over the limit answers 413 whatever the
		// token, as in Vault; it costs nothing to check.
		if r.ContentLength > h.maxBody {
			h.writeError(w, r, reqID, bodyTooLarge())
			return
		}
		// A request that can only be refused (no live token where one is
		// needed) is refused before a byte of its body is read, so that
		// nobody without a token can make the server buffer bodies.
		early := &core.Request{
			Request:     &logical.Request{ID: reqID, Operation: op, Path: path, Connection: h.clientConnection(r)},
			ClientToken: clientToken(r),
		}
		if err := h.core.RefuseWithoutToken(r.Context(), early); err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
		var (
			release func()
			err     error
		)
		body, release, err = h.readBody(w, r)
		defer release()
		if err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
	}
	if op == logical.PatchOperation {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/merge-patch+json" {
			h.writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Errors: []string{"PATCH requires Content-Type application/merge-patch+json"}})
			return
		}
	}
	q.Del("list")
	if op == logical.ListOperation && !strings.HasSuffix(path, "/") {
		path += "/"
	}
	wrapTTL, err := wrapTTL(r)
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	req := &core.Request{
		Request: &logical.Request{
			ID:         reqID,
			Operation:  op,
			Path:       path,
			Body:       body,
			Query:      q,
			Connection: h.clientConnection(r),
		},
		ClientToken: clientToken(r),
		WrapTTL:     wrapTTL,
	}
	if req.ForwardActive, err = h.mustForward(r.Context(), r); err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	resp, err := h.core.HandleRequest(r.Context(), req)
	if errors.Is(err, ha.ErrStandby) {
		h.toActive(w, r, reqID, body)
		return
	}
	if sw, ok := w.(*statusWriter); ok {
		sw.operation = string(req.Operation)
		if resp != nil {
			sw.mountType = resp.MountType
		}
	}
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	h.writeResponse(w, r, req, resp)
}

// envelope is Vault's response body.
type envelope struct {
	RequestID     string   `json:"request_id"`
	LeaseID       string   `json:"lease_id"`
	Renewable     bool     `json:"renewable"`
	LeaseDuration int64    `json:"lease_duration"`
	Data          any      `json:"data"`
	WrapInfo      any      `json:"wrap_info"`
	Warnings      []string `json:"warnings"`
	Auth          any      `json:"auth"`
	MountType     string   `json:"mount_type"`
	// topLevel repeats Data's members at the top level (see
	// logical.Response.TopLevel).
	topLevel bool
}

// plainEnvelope has envelope's fields and JSON encoding, without
// MarshalJSON.
type plainEnvelope envelope

// MarshalJSON implements [json.Marshaler]: the envelope, followed, when
// topLevel is set, by the members of Data whose names the envelope does
// not use, as Vault answers its older sys endpoints.
func (e *envelope) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal((*plainEnvelope)(e))
	if err != nil || !e.topLevel || e.Data == nil {
		return b, err
	}
	raw, err := json.Marshal(e.Data)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("data repeated at the top level is not an object: %w", err)
	}
	names := make([]string, 0, len(members))
	for name := range members {
		switch name {
		case "request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth", "mount_type":
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return b, nil
	}
	slices.Sort(names)
	out := bytes.NewBuffer(b[:len(b)-1]) // without the closing brace
	for _, name := range names {
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		out.WriteByte(',')
		out.Write(k)
		out.WriteByte(':')
		out.Write(members[name])
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// answer is how a successful request is answered: a JSON envelope with a
// status, a raw body, or an empty answer with a status (204 or 404).
type answer struct {
	status int
	env    *envelope
	raw    *logical.RawResponse
}

// buildAnswer decides how to answer resp: 204 when there is nothing to
// say, 404 with empty errors for a read or list that found nothing.
func buildAnswer(op logical.Operation, reqID string, resp *core.Response) answer {
	var lr *logical.Response
	if resp != nil {
		lr = resp.Response
	}
	switch {
	case lr != nil && lr.Raw != nil:
		return answer{status: http.StatusOK, raw: lr.Raw}
	case resp != nil && resp.Wrap != nil:
		return answer{status: http.StatusOK, env: &envelope{RequestID: reqID, WrapInfo: resp.Wrap}}
	case resp != nil && resp.Auth != nil:
		env := &envelope{RequestID: reqID, Auth: resp.Auth, MountType: resp.MountType}
		if lr != nil {
			env.Data, env.Warnings = lr.Data, lr.Warnings
		}
		return answer{status: http.StatusOK, env: env}
	case resp != nil && resp.LeaseID != "" && (lr == nil || lr.Data == nil):
		// A lease renewal: the envelope's lease fields are the answer.
		return answer{status: http.StatusOK, env: &envelope{RequestID: reqID, LeaseID: resp.LeaseID, LeaseDuration: resp.LeaseDuration, Renewable: resp.Renewable, MountType: resp.MountType}}
	case lr == nil || (lr.Data == nil && len(lr.Warnings) == 0 && lr.Auth == nil && lr.Secret == nil):
		if op == logical.ReadOperation || op == logical.ListOperation || (lr != nil && lr.NotFound) {
			return answer{status: http.StatusNotFound}
		}
		return answer{status: http.StatusNoContent}
	}
	status := http.StatusOK
	if lr.NotFound {
		status = http.StatusNotFound
	}
	return answer{status: status, env: &envelope{
		RequestID:     reqID,
		LeaseID:       resp.LeaseID,
		LeaseDuration: resp.LeaseDuration,
		Renewable:     resp.Renewable,
		Data:          lr.Data,
		Warnings:      lr.Warnings,
		MountType:     resp.MountType,
		topLevel:      lr.TopLevel,
	}}
}

// writeResponse sends a successful request's answer. When the request
// asked for a wrap TTL and there is an envelope to give, the envelope goes
// into a single-use wrapping token instead and the client gets wrap_info.
func (h *Handler) writeResponse(w http.ResponseWriter, r *http.Request, req *core.Request, resp *core.Response) {
	a := buildAnswer(req.Operation, req.ID, resp)
	if req.WrapTTL > 0 && a.env != nil && a.status == http.StatusOK && a.env.WrapInfo == nil {
		body, err := json.Marshal(a.env)
		if err != nil {
			h.writeError(w, r, req.ID, err)
			return
		}
		wrapped := ""
		if resp.Auth != nil {
			wrapped = resp.Auth.Accessor
		}
		info, err := h.core.WrapResponse(r.Context(), body, req.WrapTTL, req.Path, wrapped)
		clear(body)
		if err != nil {
			h.writeError(w, r, req.ID, err)
			return
		}
		a = answer{status: http.StatusOK, env: &envelope{RequestID: req.ID, WrapInfo: info}}
	}
	switch {
	case a.raw != nil:
		w.Header().Set("Content-Type", a.raw.ContentType)
		w.WriteHeader(a.status)
		w.Write(a.raw.Body)
	case a.env != nil:
		h.writeJSON(w, a.status, a.env)
	case a.status == http.StatusNotFound:
		h.writeJSON(w, http.StatusNotFound, errorBody{Errors: []string{}})
	default:
		w.WriteHeader(a.status)
	}
}

// maxPooledBuffer is the largest response buffer kept for reuse; larger
// ones (a big list or secret) are left to the garbage collector so that
// the pool does not pin them.
const maxPooledBuffer = 64 << 10

// writeJSON writes v, followed by a newline, with status. A value that
// cannot be encoded is a programming error and answers 500. The encoding
// buffer comes from h.buffers: responses are encoded once per request, and
// reusing the buffer saves an allocation and a copy each time.
func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	buf := h.buffers.Get().(*bytes.Buffer)
	defer func() {
		// The buffer may hold secret data: clear it before reuse.
		clear(buf.Bytes()[:buf.Cap()])
		buf.Reset()
		if buf.Cap() <= maxPooledBuffer {
			h.buffers.Put(buf)
		}
	}()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"errors":["internal error: response could not be encoded"]}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// statusWriter remembers the status and what the request was, for metrics.
type statusWriter struct {
	http.ResponseWriter
	status    int
	mountType string
	operation string
	// index returns the X-Vault-Index value the answer carries unless it
	// has one (a forwarded answer brings the active node's); "" for none.
	index       func() string
	wroteHeader bool
}

// Unwrap returns the underlying writer, for [http.ResponseController].
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.wroteHeader = true
		setIndexHeader(w.Header(), w.index)
	}
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Write implements [http.ResponseWriter], setting the headers first as
// WriteHeader does.
func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// handleMetrics serves sys/metrics: in Vault's JSON shape by default (or
// with format=json), in the Prometheus text format with
// format=prometheus. It needs a token allowed to read sys/metrics unless
// the configuration opens it.
func (h *Handler) handleMetrics(w http.ResponseWriter, r *http.Request, reqID string) {
	if r.Method != http.MethodGet {
		h.methodNotAllowed(w, "GET")
		return
	}
	if h.metrics == nil {
		h.writeError(w, r, reqID, logical.UnsupportedPath("sys/metrics"))
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "prometheus" {
		h.writeError(w, r, reqID, logical.InvalidRequest("unsupported format %q: want json (the default) or prometheus", format))
		return
	}
	// The read is audited; unless the configuration opens sys/metrics,
	// the token must allow it.
	h.serveAudited(w, r, reqID, "sys/metrics", !h.openMetrics, func(w http.ResponseWriter) {
		if format == "prometheus" {
			h.metrics.Handler().ServeHTTP(w, r)
			return
		}
		sum, err := h.metrics.Summary(time.Now())
		if err != nil {
			h.writeError(w, r, reqID, err)
			return
		}
		h.writeJSON(w, http.StatusOK, sum)
	})
}

// ceremonyDisabled reports whether path is a key ceremony endpoint this
// listener was configured to refuse.
func (h *Handler) ceremonyDisabled(path string) bool {
	switch {
	case h.noRekey && (path == "sys/rekey" || strings.HasPrefix(path, "sys/rekey/") ||
		path == "sys/rekey-recovery-key" || strings.HasPrefix(path, "sys/rekey-recovery-key/")):
		return true
	case h.noGenRoot && (path == "sys/generate-root" || strings.HasPrefix(path, "sys/generate-root/")):
		return true
	}
	return false
}
