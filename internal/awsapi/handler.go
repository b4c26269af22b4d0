package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// DefaultAccount is the account ID in ARNs when none is configured.
const DefaultAccount = "000000000000"

// DefaultMaxBody limits request bodies when Options.Body is nil.
const DefaultMaxBody = 32 << 20

// targetPrefix starts the X-Amz-Target header of every operation.
const targetPrefix = "secretsmanager."

// Authenticator verifies a signed AWS request and answers the Coffer client
// token it acts with. awsauth's implementation verifies SigV4; its errors
// are *awsauth.Error values, answered with their own code and status.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request, body []byte) (clientToken string, err error)
}

// Core runs requests through the pipeline (ACL, audit, routing);
// *core.Core is one.
type Core interface {
	HandleRequest(ctx context.Context, req *core.Request) (*core.Response, error)
}

// BodyReader reads a request body within the listener's limits (size,
// shared memory budget, minimum rate); *httpapi.Handler is one. release
// is called once the body is no longer used. Errors of kind
// logical.ErrTooLarge answer 413; other errors answer as the kind says.
type BodyReader interface {
	ReadRawBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error)
}

// Forwarder passes the requests a standby does not serve to the active
// node of its cluster; *httpapi.Handler is one.
type Forwarder interface {
	// ForwardRaw sends r, whose body was read as body, to the active node
	// unchanged (its Host, headers and body as the client sent them, so
	// that the active node verifies the client's signature) when this
	// node is a standby, and reports whether it did: the answer is then
	// written, by unavailable (with a message saying why) when no active
	// node takes the request. It forwards only to the active node's
	// cluster listener, where the client's address goes with the request
	// (see ClientConnection); without one the request is unavailable.
	ForwardRaw(w http.ResponseWriter, r *http.Request, reqID string, body []byte, unavailable func(w http.ResponseWriter, msg string)) bool
	// ClientConnection describes r's client: for a request a standby
	// forwarded over the cluster listener, the client that standby
	// served.
	ClientConnection(r *http.Request) *logical.Connection
}

// Options configures a [Handler].
type Options struct {
	Core Core
	Auth Authenticator
	// Mount is the KV version 2 mount holding the secrets, e.g. "secret/".
	Mount string
	// Account is the account ID in ARNs; "" means DefaultAccount.
	Account string
	// Body reads request bodies; nil reads up to DefaultMaxBody bytes.
	Body BodyReader
	// Forward, when set, sends requests a standby gets to the active
	// node, and says who the client of a forwarded request is; nil
	// serves every request here (a standby then answers
	// ServiceUnavailable).
	Forward Forwarder
	Logger  *slog.Logger
}

// Handler serves the AWS Secrets Manager API at POST /.
type Handler struct {
	core    Core
	auth    Authenticator
	mount   string
	account string
	body    BodyReader
	fwd     Forwarder // nil: no forwarding
	logger  *slog.Logger
}

// New returns a handler. Core, Auth and Mount are required.
func New(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	mount := strings.Trim(opts.Mount, "/") + "/"
	return &Handler{core: opts.Core, auth: opts.Auth, mount: mount, account: opts.Account, body: opts.Body, fwd: opts.Forward, logger: opts.Logger.With("component", "awsapi")}
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := uuid.New()
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.Header().Set("Cache-Control", "no-store")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.logger.Error("panic serving request", "request_id", reqID, "panic", v, "stack", string(debug.Stack()))
			h.writeError(w, reqID, &apiError{code: codeInternalFailure, msg: "internal error", status: http.StatusInternalServerError})
		}
	}()
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		h.writeError(w, reqID, &apiError{code: "InvalidAction", msg: "the AWS Secrets Manager API is served at POST /", status: http.StatusNotFound})
		return
	}
	if r.Header.Get("Authorization") == "" && r.URL.Query().Get("X-Amz-Signature") == "" {
		// Unsigned: refused before a byte of the body is read, so that
		// nobody without a key can make the server buffer bodies.
		if _, err := h.auth.Authenticate(r.Context(), r, nil); err != nil {
			h.writeError(w, reqID, err)
			return
		}
	}
	body, release, err := h.readBody(w, r)
	defer release()
	if err != nil {
		h.writeError(w, reqID, err)
		return
	}
	if h.fwd != nil {
		// A standby verifies nothing itself: the active node checks the
		// signature, so its replay memory sees every request whichever
		// node got it. The body stays within this listener's limits,
		// read above, until the active node has answered.
		if h.fwd.ForwardRaw(w, r, reqID, body, func(w http.ResponseWriter, msg string) {
			w.Header().Set("X-Amzn-Requestid", reqID)
			w.Header().Set("Cache-Control", "no-store")
			h.writeError(w, reqID, &apiError{code: codeServiceUnavailable, msg: msg, status: http.StatusServiceUnavailable})
		}) {
			return
		}
		// The client a standby forwarded the request for, when the
		// cluster listener vouches for it: logins (token_bound_cidrs)
		// and audit see that client, not the standby.
		conn := h.fwd.ClientConnection(r)
		r = r.WithContext(r.Context())
		r.RemoteAddr, r.TLS = conn.RemoteAddr, conn.TLS
	}
	tok, err := h.auth.Authenticate(r.Context(), r, body)
	if err != nil {
		h.writeError(w, reqID, err)
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	fn := operation(op)
	if !ok || fn == nil {
		h.writeError(w, reqID, fail(codeUnknownOperation, "unknown operation %q: X-Amz-Target must be secretsmanager.<Operation>", r.Header.Get("X-Amz-Target")))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/x-amz-json-1.1" && mt != "application/x-amz-json-1.0" && mt != "application/json" {
			h.writeError(w, reqID, fail(codeSerialization, "unsupported Content-Type %q: want application/x-amz-json-1.1", ct))
			return
		}
	}
	s := &session{h: h, ctx: r.Context(), token: tok, reqID: reqID, conn: &logical.Connection{RemoteAddr: r.RemoteAddr, TLS: r.TLS}, region: region(r)}
	out, err := fn(s, body)
	if err != nil {
		h.writeError(w, reqID, err)
		return
	}
	h.writeJSON(w, http.StatusOK, out)
}

// readBody reads the body within the listener's limits.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, func(), error) {
	if h.body != nil {
		b, release, err := h.body.ReadRawBody(w, r)
		if release == nil {
			release = func() {}
		}
		if err != nil && !errors.Is(err, logical.ErrTooLarge) {
			if _, known := toAPI(err); !known {
				// Busy or too slow: the listener's limits, said in AWS's
				// words.
				return nil, release, &apiError{code: codeThrottling, msg: err.Error(), status: http.StatusBadRequest}
			}
		}
		return b, release, err
	}
	if r.ContentLength > DefaultMaxBody {
		return nil, func() {}, logical.ErrTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, func() {}, &logical.Error{Kind: logical.ErrTooLarge, Msg: "request body too large"}
		}
		return nil, func() {}, fail(codeSerialization, "could not read the request body")
	}
	return b, func() { clear(b) }, nil
}

// region is the region named in the request's SigV4 credential scope
// (Credential=KEY/DATE/REGION/SERVICE/aws4_request), "us-east-1" when
// there is none. Any region is accepted.
func region(r *http.Request) string {
	a := r.Header.Get("Authorization")
	_, cred, ok := strings.Cut(a, "Credential=")
	if !ok {
		return "us-east-1"
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 || parts[2] == "" || len(parts[2]) > 32 {
		return "us-east-1"
	}
	for _, c := range parts[2] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "us-east-1"
		}
	}
	return parts[2]
}

// errorBody is the JSON protocol's error shape.
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (h *Handler) writeError(w http.ResponseWriter, reqID string, err error) {
	ae, known := toAPI(err)
	if !known {
		h.logger.Error("request failed", "request_id", reqID, "err", err)
		ae = &apiError{code: ae.code, msg: "internal error; see the server log for request " + reqID, status: ae.status}
	}
	w.Header().Set("X-Amzn-Errortype", ae.code)
	h.writeJSON(w, ae.status, errorBody{Type: ae.code, Message: ae.msg})
}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"__type":"InternalFailure","message":"response could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	clear(buf.Bytes())
}

// decode reads an operation's input. Malformed JSON and wrong types are a
// SerializationException, as AWS answers; unknown members are ignored (a
// newer SDK may send them).
func decode(body []byte, in any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		b = []byte("{}")
	}
	if b[0] != '{' {
		return fail(codeSerialization, "the request body must be one JSON object")
	}
	if err := json.Unmarshal(b, in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fail(codeSerialization, "wrong type for member %q: want %s", te.Field, te.Type)
		}
		return fail(codeSerialization, "malformed JSON body")
	}
	return nil
}
