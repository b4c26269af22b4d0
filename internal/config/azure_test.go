package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAzureKeyVault(t *testing.T) {
	t.Parallel()
	const base = "storage \"inmem\" {}\nlistener \"tcp\" {\n address = \"127.0.0.1:8200\"\n tls_disable = true\n}\n"
	tests := []struct {
		name    string
		block   string
		want    *AzureKeyVault
		served  bool
		wantErr string
	}{
		{"absent", "", nil, false, ""},
		{"defaults", "azure_key_vault {}", &AzureKeyVault{Mount: "secret/", Enabled: true}, true, ""},
		{"set", "azure_key_vault {\n mount = \"/kv\"\n enabled = true\n}", &AzureKeyVault{Mount: "kv/", Enabled: true}, true, ""},
		{"off", "azure_key_vault {\n enabled = false\n}", &AzureKeyVault{Mount: "secret/"}, false, ""},
		{"sys mount", "azure_key_vault {\n mount = \"sys/\"\n}", nil, false, "must be the path of a KV version 2 mount"},
		{"unknown key", "azure_key_vault {\n tenant = \"x\"\n}", nil, false, "tenant"},
		{"wrong type", "azure_key_vault {\n enabled = \"maybe\"\n}", nil, false, "enabled"},
		{"label", "azure_key_vault \"x\" {}", nil, false, "takes no label"},
		{"twice", "azure_key_vault {}\nazure_key_vault {}", nil, false, "second azure_key_vault block"},
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
			if diff := cmp.Diff(tt.want, c.AzureKeyVault); diff != "" {
				t.Errorf("AzureKeyVault (-want +got):\n%s", diff)
			}
			if got := c.AzureServed(); got != tt.served {
				t.Errorf("AzureServed() = %v, want %v", got, tt.served)
			}
		})
	}
	// Dev mode serves the API with the defaults, and keeps a block
	// that turns it off.
	c, err := Parse([]byte(base), "t.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := c.Dev("127.0.0.1:8200"); err != nil || !d.AzureServed() || d.AzureKeyVault.Mount != "secret/" {
		t.Fatalf("Dev() AzureKeyVault = %+v, %v", d.AzureKeyVault, err)
	}
	c, err = Parse([]byte(base+"azure_key_vault {\n enabled = false\n}"), "t.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := c.Dev("127.0.0.1:8200"); err != nil || d.AzureServed() {
		t.Fatalf("Dev() with enabled = false serves the API: %+v, %v", d.AzureKeyVault, err)
	}
}
