package ui_test

import (
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// TestRouteCannotSteerRequests: a name from the URL fragment with ".."
// segments ("#/policies/view/..%2F..%2F..%2Fsecret%2Fdata%2Fprobe") must
// not become a request to another path (the browser would resolve
// /v1/sys/policies/acl/../../../secret/data/probe to
// /v1/secret/data/probe): the page shows the refusal and sends nothing.
func TestRouteCannotSteerRequests(t *testing.T) {
	t.Parallel()
	s := browser.Start(t, uitest.Options{})
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "probe", map[string]any{"policy": "stolen"}); err != nil {
		t.Fatal(err)
	}
	uitest.Eval[bool](s, `(() => {
  window.seenURLs = [];
  const f = window.fetch;
  window.fetch = (u, init) => { window.seenURLs.push(new URL(String(u), location.href).pathname); return f(u, init); };
  return true;
})()`)
	tests := []struct {
		name, route string
	}{
		{"dot-dot", "policies/view/..%2F..%2F..%2Fsecret%2Fdata%2Fprobe"},
		{"dot", "policies/view/.%2F..%2F..%2F..%2Fsecret%2Fdata%2Fprobe"},
		{"empty segment", "policies/view/a%2F%2Fb"},
	}
	for _, tc := range tests {
		// Nothing of the route before may answer the wait below.
		uitest.Eval[bool](s, `(() => { document.getElementById("main").replaceChildren(); return true; })()`)
		s.Go(tc.route)
		// Either outcome ends the wait: the refusal, or (unfixed) the
		// editor of whatever the request answered.
		s.WaitVisible(`#policy-errors [role=alert], textarea[name=policy-text]`)
		if msg := uitest.Eval[string](s, `(document.getElementById("policy-errors") || {}).textContent || ""`); !strings.Contains(msg, "refused to request the API path") {
			t.Errorf("%s: the page says %q, want the refusal", tc.name, msg)
		}
		if strings.Contains(s.BodyText(), "stolen") {
			t.Errorf("%s: the page shows the value of secret/data/probe", tc.name)
		}
	}
	for _, u := range uitest.Eval[[]string](s, `window.seenURLs`) {
		if strings.Contains(u, "secret/") || strings.Contains(u, "..") || strings.Contains(u, "//") {
			t.Errorf("the page requested %s", u)
		}
	}
}
