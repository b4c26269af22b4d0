package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/config"
)

func TestParseFlagsDevWithConfig(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-dev", "-config", "x.hcl"}, {"--dev", "--config=x.hcl"}} {
		f, err := parseFlags(args, &bytes.Buffer{})
		if err != nil || !f.dev || f.configFile != "x.hcl" {
			t.Errorf("parseFlags(%q) = %+v, %v; want dev with config x.hcl", args, f, err)
		}
	}
}

func TestBuildConfigDevWithFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "coffer.hcl")
	src := "storage \"bolt\" {\n  path = \"" + filepath.Join(dir, "coffer.db") + "\"\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:8443\"\n}\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, dataDir, replaced, err := buildConfig(&flags{dev: true, configFile: file, listen: "127.0.0.1:8300"}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("buildConfig: %v", err)
	}
	if cfg.Storage.Type != config.StorageInmem || replaced != "bolt" || dataDir != "" {
		t.Errorf("buildConfig: storage %q, replaced %q, data dir %q; want inmem, bolt, none", cfg.Storage.Type, replaced, dataDir)
	}
	var addrs []string
	for _, l := range cfg.Listeners {
		addrs = append(addrs, l.Address)
	}
	if got := strings.Join(addrs, " "); got != "127.0.0.1:8300 127.0.0.1:8443" {
		t.Errorf("buildConfig listeners = %s, want the dev listener then the file's", got)
	}
	if a := cfg.AWSSecretsManager; a == nil || a.Mount != "secret/" || a.AuthMount != "auth/awskeys/" {
		t.Errorf("buildConfig aws_secrets_manager = %+v, want the defaults", a)
	}
}

// TestBuildConfigDev checks that plain dev mode serves the AWS Secrets
// Manager API with its defaults.
func TestBuildConfigDev(t *testing.T) {
	t.Parallel()
	cfg, _, _, err := buildConfig(&flags{dev: true, listen: "127.0.0.1:8300"}, func(string) string { return "" })
	if err != nil {
		t.Fatalf("buildConfig: %v", err)
	}
	if a := cfg.AWSSecretsManager; a == nil || a.Mount != "secret/" || a.AuthMount != "auth/awskeys/" || a.AccountID != config.DefaultAWSAccountID {
		t.Errorf("buildConfig aws_secrets_manager = %+v, want the defaults", a)
	}
}

func TestBanner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		apiAddr string
		addrs   []string
		dev     bool
		aws     *config.AWSSecretsManager
		want    []string
		notWant []string
		ui      bool
	}{
		{
			name: "api_addr shown, listeners listed", apiAddr: "https://coffer.example.com:8200",
			addrs: []string{"https://127.0.0.1:8200", "http://127.0.0.1:8300"},
			want: []string{
				"    Api Address: https://coffer.example.com:8200\n",
				"    Listener:    https://127.0.0.1:8200\n    Listener:    http://127.0.0.1:8300\n",
				"export COFFER_ADDR='https://coffer.example.com:8200'",
			},
		},
		{
			name: "no api_addr", addrs: []string{"https://127.0.0.1:8200"},
			want: []string{"    Api Address: https://127.0.0.1:8200\n", "    Listener:    https://127.0.0.1:8200\n"},
		},
		{
			name: "plain dev as before", addrs: []string{"http://127.0.0.1:8200"}, dev: true,
			want:    []string{"    Api Address: http://127.0.0.1:8200\n    Unseal Key:  k\n    Root Token:  r\n"},
			notWant: []string{"Listener:", "awskeys", "Web UI"},
		},
		{
			name: "dev with the ui", addrs: []string{"http://127.0.0.1:8200"}, dev: true, ui: true,
			want: []string{"    Api Address: http://127.0.0.1:8200\n    Web UI:      http://127.0.0.1:8200/ui/\n    Unseal Key:  k\n"},
		},
		{
			name: "dev with a file", addrs: []string{"http://127.0.0.1:8200", "https://127.0.0.1:8443"}, dev: true,
			want: []string{"    Api Address: http://127.0.0.1:8200\n    Listener:    http://127.0.0.1:8200\n    Listener:    https://127.0.0.1:8443\n"},
		},
		{
			name: "dev with the AWS API", addrs: []string{"http://127.0.0.1:8200"}, dev: true,
			aws:  &config.AWSSecretsManager{Mount: "secret/", AuthMount: "auth/awskeys/"},
			want: []string{"POST / on secret/", "\n    coffer write auth/awskeys/keys/dev policies=aws-dev\n"},
		},
		{
			name: "dev with the AWS API elsewhere", addrs: []string{"http://127.0.0.1:8200"}, dev: true,
			aws:  &config.AWSSecretsManager{Mount: "aws/", AuthMount: "auth/keys/"},
			want: []string{"POST / on aws/", "\n    coffer write auth/keys/keys/dev policies=aws-dev\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &Server{cfg: &config.Config{APIAddr: tt.apiAddr, AWSSecretsManager: tt.aws, UI: tt.ui}, addrs: tt.addrs}
			var out bytes.Buffer
			if tt.dev {
				printDev(&out, srv, DevInfo{UnsealKey: "k", RootToken: "r"})
			} else {
				printStart(&out, srv)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("banner does not contain %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("banner contains %q:\n%s", w, out.String())
				}
			}
		})
	}
}
