package httpapi

import (
	"net/http"
	"time"

	"github.com/coffer-secrets/coffer/internal/uuid"
)

// Track wraps next, another wire API served on this listener (the AWS
// and Azure APIs), so that its requests are seen as the Vault API's are:
// each is in the in-flight registry (sys/in-flight-req) while it is
// served, with its method and URL path (no query), and is counted in the
// request metrics with mount type api (e.g. "azure-key-vault") and the
// operation its method names. The body limits are not applied here:
// next reads its body with [Handler.ReadRawBody].
func (h *Handler) Track(api string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.inflight != nil {
			defer h.inflight.add(uuid.New(), r, r.URL.Path)()
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK, mountType: api, operation: methodOperation(r.Method)}
		start := time.Now()
		defer func() {
			if h.metrics != nil {
				h.metrics.Request(sw.mountType, sw.operation, sw.status, time.Since(start))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodOperation names the operation of a foreign API request by its
// method, in Vault's operation words.
func methodOperation(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "read"
	case http.MethodPut, http.MethodPost:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	// Any other method (a client may send anything) is one label value,
	// so that the metric's series stay bounded.
	return "other"
}
