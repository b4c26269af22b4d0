package conformance

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// wireJSON decodes a raw answer's body as a JSON object.
func wireJSON(t testing.TB, what string, r rawResponse) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("%s: %d %q is not a JSON object: %v", what, r.Status, r.Body, err)
	}
	return m
}

// TestSysDataAtTopLevel checks that the older sys endpoints repeat their
// data at the top level of the answer, as Vault does and node-vault reads
// it (auths()['approle/'], policies().policies, getPolicy().rules).
func TestSysDataAtTopLevel(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if r := s.raw(t, "POST", "/v1/sys/auth/approle", rootToken, `{"type":"approle"}`); r.Status != http.StatusNoContent {
		t.Fatalf("enable approle: %d %s", r.Status, r.Body)
	}
	tests := []struct {
		path string
		key  string // a member that must be at the top level and in data
	}{
		{"/v1/sys/auth", "approle/"},
		{"/v1/sys/mounts", "secret/"},
		{"/v1/sys/mounts/secret", "type"},
		{"/v1/sys/mounts/secret/tune", "default_lease_ttl"},
		{"/v1/sys/policy", "policies"},
		{"/v1/sys/policy/default", "rules"},
		{"/v1/sys/key-status", "term"},
	}
	for _, tt := range tests {
		r := s.raw(t, "GET", tt.path, rootToken, "")
		if r.Status != http.StatusOK {
			t.Errorf("GET %s: %d %s", tt.path, r.Status, r.Body)
			continue
		}
		m := wireJSON(t, tt.path, r)
		data, _ := m["data"].(map[string]any)
		top, inData := m[tt.key], data[tt.key]
		if top == nil || inData == nil {
			t.Errorf("GET %s: %q at the top level = %v and in data = %v, want both", tt.path, tt.key, top, inData)
			continue
		}
		if a, b := mustJSON(t, top), mustJSON(t, inData); a != b {
			t.Errorf("GET %s: %q differs: top level %s, data %s", tt.path, tt.key, a, b)
		}
		if m["request_id"] == nil || m["mount_type"] == nil {
			t.Errorf("GET %s: the envelope lost its own members: %s", tt.path, r.Body)
		}
	}
	// Other endpoints keep their data under "data" only.
	m := wireJSON(t, "policies/acl", s.raw(t, "GET", "/v1/sys/policies/acl/default", rootToken, ""))
	if m["policy"] != nil {
		t.Errorf("sys/policies/acl/default repeats its data at the top level: %v", m)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMetricsFormats checks that sys/metrics answers Vault's JSON by
// default, as `vault read sys/metrics` expects, and the Prometheus text
// format with format=prometheus.
func TestMetricsFormats(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	for _, q := range []string{"", "?format=json"} {
		r := s.raw(t, "GET", "/v1/sys/metrics"+q, rootToken, "")
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("sys/metrics%s: %d %s %s", q, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		m := wireJSON(t, "sys/metrics"+q, r)
		for _, k := range []string{"Timestamp", "Gauges", "Points", "Counters", "Samples"} {
			if _, ok := m[k]; !ok {
				t.Errorf("sys/metrics%s: no %q in %s", q, k, r.Body)
			}
		}
	}
	r := s.raw(t, "GET", "/v1/sys/metrics?format=prometheus", rootToken, "")
	if r.Status != http.StatusOK || !strings.Contains(r.Body, "# TYPE coffer_requests_total counter") {
		t.Errorf("format=prometheus: %d %.200s", r.Status, r.Body)
	}
	if _, err := s.Client.Logical().Read("sys/metrics"); err != nil {
		t.Errorf("the official client's read of sys/metrics: %v", err)
	}
	r = s.raw(t, "GET", "/v1/sys/metrics", "", "")
	if r.Status != http.StatusForbidden {
		t.Errorf("sys/metrics without a token: %d, want 403", r.Status)
	}
}

// TestPathHelp checks path-help (?help=1): Vault's {"help", "openapi"}
// answer from the path tables of engines and of sys/, for any valid token
// whatever its policies (as in Vault), never without one.
func TestPathHelp(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	if err := s.Client.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	weak := sec.Auth.ClientToken
	tests := []struct {
		path  string
		words []string
	}{
		{"secret/data/app", []string{"data/(?P<path>", "path (string)"}},
		{"transit/encrypt/k", []string{"encrypt/(?P<name>", "update"}},
		{"sys/mounts/secret", []string{"Enable, read or disable a secrets engine."}},
		{"sys/policy/default", []string{"policy/(?P<name>"}},
		{"auth/token/lookup-self", []string{"lookup-self"}},
		{"secret/", []string{"metadata", "data/", "Read the structure of a secret"}},
	}
	for _, tt := range tests {
		for _, tok := range []string{rootToken, weak} {
			r := s.raw(t, "GET", "/v1/"+tt.path+"?help=1", tok, "")
			if r.Status != http.StatusOK {
				t.Errorf("help %s: %d %s", tt.path, r.Status, r.Body)
				continue
			}
			m := wireJSON(t, "help "+tt.path, r)
			text, _ := m["help"].(string)
			for _, w := range tt.words {
				if !strings.Contains(text, w) {
					t.Errorf("help %s: %q lacks %q", tt.path, text, w)
				}
			}
			if oa, _ := m["openapi"].(map[string]any); oa == nil || oa["paths"] == nil {
				t.Errorf("help %s: no openapi paths in %s", tt.path, r.Body)
			}
		}
	}
	h, err := s.Client.Help("secret/metadata/app")
	if err != nil || !strings.Contains(h.Help, "metadata/") {
		t.Errorf("the official client's Help = %+v, %v", h, err)
	}
	if r := s.raw(t, "GET", "/v1/secret/data/app?help=1", "", ""); r.Status != http.StatusForbidden {
		t.Errorf("help without a token: %d %s, want 403", r.Status, r.Body)
	}
	if r := s.raw(t, "GET", "/v1/transit/nothing/here?help=1", rootToken, ""); r.Status != http.StatusNotFound {
		t.Errorf("help on an unknown path: %d %s, want 404", r.Status, r.Body)
	}

	// Help is a request like any other: audited before it is answered.
	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	if r := s.raw(t, "GET", "/v1/transit/encrypt/k?help=1", weak, ""); r.Status != http.StatusOK {
		t.Fatalf("help with an audit device: %d %s", r.Status, r.Body)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var found int
	for line := range strings.SplitSeq(string(log), "\n") {
		if strings.Contains(line, `"operation":"help"`) && strings.Contains(line, `"path":"transit/encrypt/k"`) {
			found++
		}
	}
	if found != 2 {
		t.Errorf("audit log has %d help entries for transit/encrypt/k, want a request and a response:\n%s", found, log)
	}
}
