package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGCPSecretManager(t *testing.T) {
	t.Parallel()
	const base = "storage \"inmem\" {}\nlistener \"tcp\" {\n address = \"127.0.0.1:8200\"\n tls_disable = true\n}\n"
	tests := []struct {
		name    string
		block   string
		want    *GCPSecretManager
		wantErr string
	}{
		{"absent", "", nil, ""},
		{"tls", "gcp_secret_manager {\n address = \"127.0.0.1:8443\"\n tls_cert_file = \"c.pem\"\n tls_key_file = \"k.pem\"\n}", &GCPSecretManager{Address: "127.0.0.1:8443", TLSCertFile: "c.pem", TLSKeyFile: "k.pem", MountPrefix: "gcp-"}, ""},
		{"plain text", "gcp_secret_manager {\n address = \":8443\"\n tls_disable = true\n mount_prefix = \"\"\n}", &GCPSecretManager{Address: ":8443", TLSDisable: true}, ""},
		{"prefix", "gcp_secret_manager {\n address = \":8443\"\n tls_disable = true\n mount_prefix = \"google/\"\n}", &GCPSecretManager{Address: ":8443", TLSDisable: true, MountPrefix: "google/"}, ""},
		{"no tls", "gcp_secret_manager {\n address = \":8443\"\n}", nil, "TLS is on by default"},
		{"half tls", "gcp_secret_manager {\n address = \":8443\"\n tls_cert_file = \"c.pem\"\n tls_disable = true\n}", nil, "together"},
		{"no address", "gcp_secret_manager {\n tls_disable = true\n}", nil, "address"},
		{"sys prefix", "gcp_secret_manager {\n address = \":8443\"\n tls_disable = true\n mount_prefix = \"sys/\"\n}", nil, "must start a KV mount path"},
		{"bad prefix", "gcp_secret_manager {\n address = \":8443\"\n tls_disable = true\n mount_prefix = \"a b\"\n}", nil, "only letters"},
		{"unknown key", "gcp_secret_manager {\n address = \":8443\"\n tls_disable = true\n project = \"x\"\n}", nil, "project"},
		{"label", "gcp_secret_manager \"x\" {}", nil, "takes no label"},
		{"twice", "gcp_secret_manager {\n address = \":1\"\n tls_disable = true\n}\ngcp_secret_manager {\n address = \":1\"\n tls_disable = true\n}", nil, "second gcp_secret_manager block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(base+tt.block), "t.hcl", nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, c.GCPSecretManager); diff != "" {
				t.Errorf("GCPSecretManager (-want +got):\n%s", diff)
			}
		})
	}
}
