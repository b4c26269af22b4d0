package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAWSSecretsManager(t *testing.T) {
	t.Parallel()
	const base = "storage \"inmem\" {}\nlistener \"tcp\" {\n address = \"127.0.0.1:8200\"\n tls_disable = true\n}\n"
	tests := []struct {
		name    string
		block   string
		want    *AWSSecretsManager
		wantErr string
	}{
		{"absent", "", nil, ""},
		{"defaults", "aws_secrets_manager {}", &AWSSecretsManager{Mount: "secret/", AuthMount: "auth/awskeys/", AccountID: "000000000000"}, ""},
		{"set", "aws_secrets_manager {\n mount = \"/kv\"\n auth_mount = \"aws\"\n account_id = \"123456789012\"\n}", &AWSSecretsManager{Mount: "kv/", AuthMount: "auth/aws/", AccountID: "123456789012"}, ""},
		{"bad account", "aws_secrets_manager {\n account_id = \"12\"\n}", nil, "account_id must be 12 digits"},
		{"sys mount", "aws_secrets_manager {\n mount = \"sys/\"\n}", nil, "must be the path of a KV version 2 mount"},
		{"unknown key", "aws_secrets_manager {\n region = \"x\"\n}", nil, "region"},
		{"label", "aws_secrets_manager \"x\" {}", nil, "takes no label"},
		{"twice", "aws_secrets_manager {}\naws_secrets_manager {}", nil, "second aws_secrets_manager block"},
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
			if diff := cmp.Diff(tt.want, c.AWSSecretsManager); diff != "" {
				t.Errorf("AWSSecretsManager (-want +got):\n%s", diff)
			}
		})
	}
	// Dev mode serves the API with the defaults.
	c, err := Parse([]byte(base), "t.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Dev("127.0.0.1:8200")
	if err != nil || d.AWSSecretsManager == nil || d.AWSSecretsManager.Mount != "secret/" {
		t.Fatalf("Dev() AWSSecretsManager = %+v, %v", d.AWSSecretsManager, err)
	}
}
