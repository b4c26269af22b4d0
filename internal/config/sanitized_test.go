package config

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSanitizedHidesSecrets(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
storage "postgresql" {
  connection_url = "postgres://coffer:s3cr3t-pw@db/coffer"
}
listener "tcp" {
  address       = "0.0.0.0:8200"
  tls_cert_file = "/etc/coffer/tls.crt"
  tls_key_file  = "/etc/coffer/tls.key"
}
api_addr      = "https://coffer.example.com:8200"
max_lease_ttl = "24h"
`), "coffer.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c.Sanitized())
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, bad := range []string{"s3cr3t", "connection_url", "postgres://"} {
		if strings.Contains(got, bad) {
			t.Errorf("Sanitized() = %s; holds %q", got, bad)
		}
	}
	for _, want := range []string{`"type":"postgresql"`, `"max_lease_ttl":86400`, `"tls_cert_file":"/etc/coffer/tls.crt"`, `"api_addr":"https://coffer.example.com:8200"`, `"seals":[{"disabled":false,"type":"shamir"}]`} {
		if !strings.Contains(got, want) {
			t.Errorf("Sanitized() = %s; want %s", got, want)
		}
	}
}
