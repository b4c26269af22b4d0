package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// statusTable maps each error kind to its HTTP status. It is the one place
// in Coffer that knows HTTP statuses for failures.
var statusTable = []struct {
	kind   error
	status int
}{
	{core.ErrSealed, http.StatusServiceUnavailable},
	{ha.ErrNoActive, http.StatusServiceUnavailable},
	{ha.ErrStandby, http.StatusServiceUnavailable},
	{logical.ErrPermissionDenied, http.StatusForbidden},
	{logical.ErrInvalidRequest, http.StatusBadRequest},
	{logical.ErrInvalidCredentials, http.StatusBadRequest},
	{logical.ErrConflict, http.StatusBadRequest},
	{logical.ErrNotFound, http.StatusNotFound},
	{logical.ErrUnsupportedPath, http.StatusNotFound},
	{logical.ErrUnsupportedOperation, http.StatusMethodNotAllowed},
	{logical.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{logical.ErrUpstream, http.StatusBadGateway},
	{errBusy, http.StatusServiceUnavailable},
	{events.ErrTooMany, http.StatusServiceUnavailable},
	{events.ErrTooManyForOwner, http.StatusTooManyRequests},
	{errSlowBody, http.StatusRequestTimeout},
	{logical.ErrRateLimited, http.StatusTooManyRequests},
	{logical.ErrUnavailable, http.StatusServiceUnavailable},
}

// statusOf returns the HTTP status for err and whether err is a known kind
// whose message may be sent to the client.
func statusOf(err error) (int, bool) {
	for _, row := range statusTable {
		if errors.Is(err, row.kind) {
			return row.status, true
		}
	}
	return http.StatusInternalServerError, false
}

// errorBody is Vault's error envelope.
type errorBody struct {
	Errors []string `json:"errors"`
}

// writeError answers err. Known kinds send their client message; anything
// else is logged with the request ID and answered with a generic message.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	status, known := statusOf(err)
	msg := err.Error()
	if !known {
		h.logger.Error("request failed", "request_id", reqID, "method", r.Method, "path", h.logPath(r), "err", err)
		msg = "internal error; see the server log for request " + reqID
	}
	if errors.Is(err, errBusy) || errors.Is(err, events.ErrTooMany) || errors.Is(err, events.ErrTooManyForOwner) {
		w.Header().Set("Retry-After", "1")
	}
	if rl, ok := errors.AsType[*logical.RateLimitError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(rl.RetryAfter.Seconds())))))
	}
	if ue, ok := errors.AsType[*logical.UnavailableError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(ue.RetryAfter.Seconds())))))
	}
	h.writeJSON(w, status, errorBody{Errors: []string{msg}})
}
