package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// serveAudited runs serve, the handler of an endpoint this package serves
// itself (sys/health, sys/metrics, sys/unseal ...), between two audit
// records, as the core does for the requests it serves: the request is
// recorded before serve runs and its outcome after, and the answer is held
// back until the outcome is recorded, so that a device that cannot record
// it turns the answer into an error (fail closed). With authorize set the
// caller's token must allow the request (sys/metrics).
func (h *Handler) serveAudited(w http.ResponseWriter, r *http.Request, reqID, path string, authorize bool, serve func(http.ResponseWriter)) {
	op, ok := operation(r, r.URL.Query())
	if !ok {
		op = logical.Operation(r.Method)
	}
	if r.Method == http.MethodHead {
		op = logical.ReadOperation
	}
	req := &core.Request{
		Request:     &logical.Request{ID: reqID, Operation: op, Path: path, Connection: h.clientConnection(r)},
		ClientToken: clientToken(r),
	}
	x, err := h.core.BeginAudit(r.Context(), req, authorize)
	if err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	bw := &bufferedWriter{under: w, header: make(http.Header)}
	defer bw.clear()
	serve(bw)
	if err := x.End(r.Context(), bw.errorMessage()); err != nil {
		h.writeError(w, r, reqID, err)
		return
	}
	bw.copyTo(w)
}

// bufferedWriter holds an answer until it may be sent.
type bufferedWriter struct {
	// under is the connection's writer: [http.ResponseController] reaches
	// it through Unwrap, so that a body read by serve (sys/unseal,
	// sys/init) gets the same read deadlines as every other body. Nothing
	// is written to it before copyTo.
	under  http.ResponseWriter
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

// Unwrap returns the connection's writer, for [http.ResponseController].
func (b *bufferedWriter) Unwrap() http.ResponseWriter { return b.under }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// errorMessage returns the error an answer with an error status carries
// ("" for a success), for the audit record.
func (b *bufferedWriter) errorMessage() string {
	if b.status < 400 {
		return ""
	}
	var eb errorBody
	if json.Unmarshal(b.body.Bytes(), &eb) == nil && len(eb.Errors) > 0 {
		return eb.Errors[0]
	}
	return http.StatusText(b.status)
}

func (b *bufferedWriter) copyTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body.Bytes())
}

// clear wipes the held answer: it may hold a root token or key shares.
func (b *bufferedWriter) clear() {
	clear(b.body.Bytes()[:b.body.Cap()])
	b.body.Reset()
}
