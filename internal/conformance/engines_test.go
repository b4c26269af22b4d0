package conformance

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// mount enables a secrets engine of type typ at path on s.
func mount(t testing.TB, s *server, path, typ string) {
	t.Helper()
	if err := s.Client.Sys().MountWithContext(t.Context(), path, &api.MountInput{Type: typ}); err != nil {
		t.Fatalf("mount %s at %s: %v", typ, path, err)
	}
}

// TestTransitMissingKey checks that every transit operation on a key that
// does not exist answers 400 with Vault's words, and that encrypt creates
// the key unless config/keys disables upserts.
func TestTransitMissingKey(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	mount(t, s, "transit", "transit")
	c := s.Client.Logical()
	tests := []struct {
		path  string
		body  map[string]any
		words string
	}{
		{"transit/decrypt/nokey", map[string]any{"ciphertext": "vault:v1:AAAA"}, "encryption key not found"},
		{"transit/rewrap/nokey", map[string]any{"ciphertext": "vault:v1:AAAA"}, "encryption key not found"},
		{"transit/datakey/plaintext/nokey", nil, "encryption key not found"},
		{"transit/datakey/wrapped/nokey", nil, "encryption key not found"},
		{"transit/hmac/nokey", map[string]any{"input": "eA=="}, "encryption key not found"},
		{"transit/sign/nokey", map[string]any{"input": "eA=="}, "signing key not found"},
		{"transit/verify/nokey", map[string]any{"input": "eA==", "signature": "vault:v1:AAAA"}, "signature verification key not found"},
		{"transit/verify/nokey", map[string]any{"input": "eA==", "hmac": "vault:v1:AAAA"}, "encryption key not found"},
	}
	for _, tt := range tests {
		_, err := c.WriteWithContext(t.Context(), tt.path, tt.body)
		wantError(t, tt.path, err, http.StatusBadRequest, tt.words)
	}
	if r := s.raw(t, "GET", "/v1/transit/export/encryption-key/nokey", rootToken, ""); r.Status != http.StatusNotFound {
		t.Errorf("export of a missing key: status %d, want 404 (%s)", r.Status, r.Body)
	}

	// A token that may create under encrypt/ upserts the key...
	if err := s.Client.Sys().PutPolicyWithContext(t.Context(), "encrypter", `path "transit/encrypt/*" { capabilities = ["create", "update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Client.Auth().Token().CreateWithContext(t.Context(), &api.TokenCreateRequest{Policies: []string{"encrypter"}})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	ec.SetToken(tok.Auth.ClientToken)
	if _, err := ec.Logical().WriteWithContext(t.Context(), "transit/encrypt/upserted", map[string]any{"plaintext": "eA=="}); err != nil {
		t.Fatalf("encrypt with upsert: %v", err)
	}
	sec, err := c.ReadWithContext(t.Context(), "transit/keys/upserted")
	if err != nil || sec == nil {
		t.Fatalf("read upserted key = %v, %v", sec, err)
	}
	// ...unless the mount forbids it.
	if _, err := c.WriteWithContext(t.Context(), "transit/config/keys", map[string]any{"disable_upsert": true}); err != nil {
		t.Fatal(err)
	}
	sec, err = c.ReadWithContext(t.Context(), "transit/config/keys")
	if err != nil || sec == nil || sec.Data["disable_upsert"] != true {
		t.Fatalf("read config/keys = %v, %v, want disable_upsert true", sec, err)
	}
	_, err = ec.Logical().WriteWithContext(t.Context(), "transit/encrypt/refused", map[string]any{"plaintext": "eA=="})
	wantError(t, "encrypt with upsert disabled", err, http.StatusBadRequest, "encryption key not found")
	if _, err := ec.Logical().WriteWithContext(t.Context(), "transit/encrypt/upserted", map[string]any{"plaintext": "eA=="}); err != nil {
		t.Fatalf("encrypt with an existing key and upsert disabled: %v", err)
	}
}

// TestDatabaseRoleNotAllowed checks that a role the connection's
// allowed_roles excludes is stored with a warning, as Vault stores it, and
// that its credentials are refused with 400 naming allowed_roles.
func TestDatabaseRoleNotAllowed(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	mount(t, s, "database", "database")
	c := s.Client.Logical()
	// The connection is never used: nothing is issued for the role.
	if _, err := c.WriteWithContext(t.Context(), "database/config/pg", map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    "postgresql://{{username}}:{{password}}@127.0.0.1:1/postgres?sslmode=disable",
		"username":          "postgres",
		"password":          "unused-password",
		"verify_connection": false,
		"allowed_roles":     "other",
	}); err != nil {
		t.Fatal(err)
	}
	sec, err := c.WriteWithContext(t.Context(), "database/roles/app", map[string]any{
		"db_name":             "pg",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
	})
	if err != nil {
		t.Fatalf("write a role the connection does not allow: %v", err)
	}
	if sec == nil || len(sec.Warnings) == 0 || !strings.Contains(strings.Join(sec.Warnings, " "), "allowed_roles") {
		t.Errorf("write role = %+v, want a warning naming allowed_roles", sec)
	}
	if sec, err := c.ReadWithContext(t.Context(), "database/roles/app"); err != nil || sec == nil {
		t.Fatalf("read the stored role = %v, %v", sec, err)
	}
	_, err = c.ReadWithContext(t.Context(), "database/creds/app")
	wantError(t, "creds of a role not allowed", err, http.StatusBadRequest, "allowed_roles")
	wantError(t, "creds of a role not allowed", err, http.StatusBadRequest, `"app" is not an allowed role`)
}
