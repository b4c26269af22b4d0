package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TestWriteErrorUnavailable checks that an [logical.UnavailableError]
// (the leak index still building) is a 503 with its Retry-After and its
// message.
func TestWriteErrorUnavailable(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	tests := []struct {
		err       error
		status    int
		retry     string
		wantInMsg string
	}{
		{&logical.UnavailableError{Msg: "the leak index is still building", RetryAfter: 5 * time.Second}, http.StatusServiceUnavailable, "5", "still building"},
		{fmt.Errorf("wrapped: %w", &logical.UnavailableError{Msg: "not yet", RetryAfter: 0}), http.StatusServiceUnavailable, "1", "not yet"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		h.writeError(w, httptest.NewRequest(http.MethodPost, "/v1/sys/leaks/check", nil), "req", tt.err)
		if w.Code != tt.status || w.Header().Get("Retry-After") != tt.retry {
			t.Errorf("%v: status %d, Retry-After %q; want %d, %q", tt.err, w.Code, w.Header().Get("Retry-After"), tt.status, tt.retry)
		}
		if !strings.Contains(w.Body.String(), tt.wantInMsg) {
			t.Errorf("%v: body %s lacks %q", tt.err, w.Body.String(), tt.wantInMsg)
		}
	}
}
