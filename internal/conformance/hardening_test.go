package conformance

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// TestCapabilitiesRefuseUnreachablePaths checks that sys/capabilities*
// apply the router's path rule: a path with a ".." segment, in any
// encoding, is refused with the same 400 a request to it gets, rather
// than reported as readable.
func TestCapabilitiesRefuseUnreachablePaths(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if err := s.Client.Sys().PutPolicy("app", `path "secret/data/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	const rule = "segments are not allowed"

	self, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	self.SetToken(tok.Auth.ClientToken)
	// The request itself is refused by the router.
	for _, p := range []string{"secret/data/app/%2e%2e/other", "secret/data/app/%252e%252e/other"} {
		r := s.raw(t, "GET", "/v1/"+p, tok.Auth.ClientToken, "")
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, rule) {
			t.Errorf("GET %s = %d %s, want 400 %q", p, r.Status, r.Body, rule)
		}
	}

	// A reachable path still answers.
	caps, err := self.Sys().CapabilitiesSelf("secret/data/app/x")
	if err != nil || len(caps) != 1 || caps[0] != "read" {
		t.Fatalf("capabilities-self on a reachable path = %v, %v; want [read]", caps, err)
	}

	paths := []string{"secret/data/app/../other", "secret/data/app/%2e%2e/other", "/secret/data/app/./x", "secret//data/app/x"}
	for _, p := range paths {
		_, err := self.Sys().CapabilitiesSelf(p)
		wantError(t, "capabilities-self "+p, err, 400, "invalid request path")

		_, err = s.Client.Sys().Capabilities(tok.Auth.ClientToken, p)
		wantError(t, "capabilities "+p, err, 400, "invalid request path")

		_, err = s.Client.Logical().Write("sys/capabilities-accessor", map[string]any{"accessor": tok.Auth.Accessor, "paths": []string{"secret/data/app/x", p}})
		wantError(t, "capabilities-accessor "+p, err, 400, "invalid request path")
	}
	_, err = s.Client.Sys().Capabilities(tok.Auth.ClientToken, "secret/data/app/../other")
	wantError(t, "capabilities names the rule", err, 400, rule)
}
