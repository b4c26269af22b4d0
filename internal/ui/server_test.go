package ui_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestServerWiring checks the UI as the server mounts it: on with
// ui = true (GET / redirected there), off without, and POST / left to
// what serves it (the AWS API when configured) either way.
func TestServerWiring(t *testing.T) {
	t.Parallel()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name   string
		extra  string
		method string
		path   string
		status int
		header string // a header that must be set
	}{
		{"ui index", "ui = true", "GET", "/ui/", 200, "Content-Security-Policy"},
		{"ui root redirect", "ui = true", "GET", "/", 307, "Location"},
		{"ui api untouched", "ui = true", "GET", "/v1/sys/health", 200, ""},
		{"ui post root is not the ui", "ui = true", "POST", "/", 0, ""},
		{"off index", "", "GET", "/ui/", 404, ""},
		{"off root", "", "GET", "/", 404, ""},
	}
	servers := map[string]*testserver.Server{}
	for _, extra := range []string{"ui = true", ""} {
		servers[extra] = testserver.StartWith(t, testserver.Options{ExtraConfig: extra})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, servers[tt.extra].Addr+tt.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if tt.status == 0 {
				if res.Header.Get("Content-Security-Policy") != "" || res.StatusCode/100 == 3 {
					t.Errorf("%s %s answered %d from the UI handler", tt.method, tt.path, res.StatusCode)
				}
				return
			}
			if res.StatusCode != tt.status {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, res.StatusCode, tt.status)
			}
			if tt.header != "" && res.Header.Get(tt.header) == "" {
				t.Errorf("%s %s has no %s header", tt.method, tt.path, tt.header)
			}
		})
	}
}
