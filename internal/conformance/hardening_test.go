package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

// TestInvalidUTF8Refused checks that invalid UTF-8 in a JSON key or
// string value, at any depth, or in a path is refused with a 400 naming
// the field, instead of being stored and returned raw.
func TestInvalidUTF8Refused(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	tests := []struct {
		name, method, path, body, words string
	}{
		{"kv value", "POST", "/v1/secret/data/u", "{\"data\":{\"password\":\"a\xffb\"}}", `field \"data.password\"`},
		{"kv nested list", "POST", "/v1/secret/data/u", "{\"data\":{\"l\":[\"ok\",{\"x\":\"\xc3\"}]}}", `field \"data.l[1].x\"`},
		{"kv key", "POST", "/v1/secret/data/u", "{\"data\":{\"k\xfe\":\"v\"}}", `field name under \"data\"`},
		{"top-level option", "POST", "/v1/secret/config", "{\"max_versions\":3,\"note\":\"\xff\"}", `field \"note\"`},
		{"policy text", "PUT", "/v1/sys/policies/acl/u", "{\"policy\":\"path \\\"a\xff\\\" {}\"}", `field \"policy\"`},
		{"path", "POST", "/v1/secret/data/a%FFb", `{"data":{"a":"b"}}`, "invalid request path: not valid UTF-8"},
		{"path read", "GET", "/v1/secret/data/a%C3", "", "invalid request path: not valid UTF-8"},
	}
	for _, tt := range tests {
		r := s.raw(t, tt.method, tt.path, rootToken, tt.body)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, tt.words) {
			t.Errorf("%s: %s %s = %d %s, want 400 with %s", tt.name, tt.method, tt.path, r.Status, r.Body, tt.words)
		}
	}
	// Nothing was stored.
	if r := s.raw(t, "GET", "/v1/secret/data/u", rootToken, ""); r.Status != http.StatusNotFound {
		t.Errorf("read after refused writes = %d %s, want 404", r.Status, r.Body)
	}
	// Valid multibyte UTF-8 is stored and read back unchanged.
	if _, err := s.Client.Logical().Write("secret/data/clé", map[string]any{"data": map[string]any{"mot": "passé ☃"}}); err != nil {
		t.Fatalf("write valid UTF-8: %v", err)
	}
	sec, err := s.Client.Logical().Read("secret/data/clé")
	if err != nil || sec == nil {
		t.Fatalf("read valid UTF-8: %v, %v", sec, err)
	}
	if got := sec.Data["data"].(map[string]any)["mot"]; got != "passé ☃" {
		t.Errorf("read back %q, want %q", got, "passé ☃")
	}
}

// TestUnservedTokenPathRedacted checks that a token a client puts in an
// auth/token/ path Coffer does not serve (auth/token/lookup/<token>)
// reaches neither the 404 error, nor the audit "path" field, nor the
// debug log line, nor sys/in-flight-req.
func TestUnservedTokenPathRedacted(t *testing.T) {
	t.Parallel()
	s := startDev(t, "--log-level=debug")
	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.Auth.ClientToken
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/v1/auth/token/lookup/" + secret, "lookup/[redacted]"},
		{"POST", "/v1/auth/token/revoke/" + secret, "revoke/[redacted]"},
		{"GET", "/v1/auth/token/" + secret, "[redacted]"},
	} {
		r := s.raw(t, tt.method, tt.path, rootToken, "")
		if r.Status != http.StatusNotFound || strings.Contains(r.Body, secret) || !strings.Contains(r.Body, tt.want) {
			t.Errorf("%s %s = %d %s, want 404 naming %s and not the token", tt.method, "auth/token/...", r.Status, r.Body, tt.want)
		}
	}
	// Without a token the request is refused before routing; the path is
	// still logged and audited.
	if r := s.raw(t, "GET", "/v1/auth/token/lookup/"+secret, "", ""); r.Status != http.StatusForbidden || strings.Contains(r.Body, secret) {
		t.Errorf("unauthenticated: %d %s, want 403 without the token", r.Status, r.Body)
	}
	// The token still works: it was never consumed or revoked.
	if _, err := s.Client.Auth().Token().Lookup(secret); err != nil {
		t.Fatalf("lookup of the token by body: %v", err)
	}

	audit, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(audit), secret) {
		t.Errorf("the audit log holds the token")
	}
	if !strings.Contains(string(audit), `"path":"auth/token/lookup/[redacted]"`) {
		t.Errorf("the audit log has no redacted path:\n%s", audit)
	}
	logs := s.Stdout.String() + s.Stderr.String()
	if strings.Contains(logs, secret) {
		t.Errorf("the server log holds the token")
	}
	if !strings.Contains(logs, "/v1/auth/token/lookup/[redacted]") {
		t.Errorf("the debug log has no redacted path:\n%s", logs)
	}
}

// TestTokenAccessorsNotInStorageKeys checks, on a bolt file, that token
// accessors are stored only under a keyed hash (so no accessor appears in
// the file, whose keys are not encrypted), and that lookup, listing and
// revocation by accessor work, also after a restart.
func TestTokenAccessorsNotInStorageKeys(t *testing.T) {
	t.Parallel()
	ss := newSealServer(t)
	s := ss.start(t, "")
	res, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Sys().Unseal(res.Keys[0]); err != nil {
		t.Fatal(err)
	}
	s.Client.SetToken(res.RootToken)
	var accessors []string
	for range 3 {
		sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		accessors = append(accessors, sec.Auth.Accessor)
	}
	if _, err := s.Client.Logical().Write("auth/token/revoke-accessor", map[string]any{"accessor": accessors[0]}); err != nil {
		t.Fatalf("revoke-accessor: %v", err)
	}
	check := func(when string) {
		t.Helper()
		list, err := s.Client.Logical().List("auth/token/accessors")
		if err != nil || list == nil {
			t.Fatalf("%s: list accessors: %v", when, err)
		}
		keys := fmt.Sprint(list.Data["keys"])
		for i, a := range accessors {
			if got := strings.Contains(keys, a); got != (i > 0) {
				t.Errorf("%s: accessor %d listed = %v, want %v (%s)", when, i, got, i > 0, keys)
			}
			_, err := s.Client.Auth().Token().LookupAccessor(a)
			if i == 0 {
				wantError(t, when+": lookup of a revoked accessor", err, 400, "invalid accessor")
			} else if err != nil {
				t.Errorf("%s: lookup-accessor: %v", when, err)
			}
		}
	}
	check("running")
	s.stop()
	db, err := os.ReadFile(filepath.Join(ss.dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accessors {
		if bytes.Contains(db, []byte(a)) {
			t.Errorf("the bolt file holds accessor %s in clear", a)
		}
	}
	if !bytes.Contains(db, []byte("sys/token/accessors/")) {
		t.Errorf("the bolt file has no hashed accessor index")
	}
	s = ss.start(t, "")
	if _, err := s.Client.Sys().Unseal(res.Keys[0]); err != nil {
		t.Fatal(err)
	}
	s.Client.SetToken(res.RootToken)
	check("after a restart")
}
