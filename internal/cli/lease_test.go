package cli

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLeaseRenewOutput checks the table lease renew prints: the lease rows
// under a Key/Value header, durations as the vault binary prints them, and
// no empty section header.
func TestLeaseRenewOutput(t *testing.T) {
	t.Parallel()
	rec := &recorder{response: `{"lease_id":"database/creds/app/abc","lease_duration":3600,"renewable":true,"data":null}`}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	vars := map[string]string{"COFFER_ADDR": srv.URL, "COFFER_TOKEN": "t"}

	code, stdout, stderr := runCLI(t, vars, "", "lease", "renew", "-increment=1h", "database/creds/app/abc")
	if code != 0 {
		t.Fatalf("lease renew = %d, want 0; stderr:\n%s", code, stderr)
	}
	if _, path := rec.last(); path != "PUT /v1/sys/leases/renew" {
		t.Errorf("request = %q, want PUT /v1/sys/leases/renew", path)
	}
	want := "Key                Value\n" +
		"---                -----\n" +
		"lease_id           database/creds/app/abc\n" +
		"lease_duration     1h\n" +
		"lease_renewable    true\n"
	if stdout != want {
		t.Errorf("lease renew stdout =\n%s\nwant\n%s", stdout, want)
	}
	if strings.Contains(stdout, "=") {
		t.Errorf("lease renew printed a section header: %q", stdout)
	}
}
