package conformance

import (
	"encoding/json"
	"net/http"
	"testing"
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
