package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestVaultConfigs loads configuration files as Vault users write them:
// they must load, with the keys Coffer uses decoded and one warning per
// key it ignores.
func TestVaultConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		want     *Config
		warnings []string
	}{
		{
			file: "vault-production.hcl",
			want: &Config{
				Storage: &Storage{Type: StorageBolt, Bolt: &BoltStorage{Path: "/opt/vault/data/coffer.db"}},
				Listeners: []Listener{tcp("0.0.0.0:8200", func(l *Listener) {
					l.ClusterAddress = "0.0.0.0:8201"
					l.TLSCertFile = "/opt/vault/tls/tls.crt"
					l.TLSKeyFile = "/opt/vault/tls/tls.key"
					l.TLSClientCAFile = "/opt/vault/tls/ca.crt"
					l.TLSCipherSuites = []string{
						"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
						"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
					}
					l.HTTP.MaxRequestSize = 33554432
					l.HTTP.MaxRequestDuration = 90 * time.Second
					l.HTTP.UnauthenticatedMetricsAccess = true
				})},
				APIAddr:                   "https://vault.example.com:8200",
				ClusterAddr:               "https://10.0.0.5:8201",
				ClusterName:               "prod-east",
				LogLevel:                  LogInfo,
				LogFormat:                 LogText,
				DefaultLeaseTTL:           768 * time.Hour,
				MaxLeaseTTL:               8760 * time.Hour,
				MaxRequestSize:            DefaultMaxRequestSize,
				DefaultMaxRequestDuration: 90 * time.Second,
				PIDFile:                   "/run/vault/vault.pid",
				UI:                        true,
				Seal:                      &Seal{Type: SealShamir},
			},
			warnings: []string{
				`disable_mlock is ignored: Coffer never locks memory with mlock; keep swap off or encrypted on its hosts`,
				`cluster_addr is ignored: it is announced to other nodes only with storage "postgresql" and ha_enabled = true`,
				`plugin_directory is ignored: Coffer runs no external plugins; its engines and auth methods are built in`,
				`cluster_address in listener "tcp" is ignored: the cluster listener opens only with storage "postgresql" and ha_enabled = true`,
				`tls_prefer_server_cipher_suites in listener "tcp" is ignored: Go, and so Vault and Coffer, no longer lets a server prefer its own order`,
				`x_forwarded_for_authorized_addrs in listener "tcp" is ignored: ` + whyXFF,
				`x_forwarded_for_hop_skips in listener "tcp" is ignored: ` + whyXFF,
				`x_forwarded_for_reject_not_authorized in listener "tcp" is ignored: ` + whyXFF,
				`x_forwarded_for_reject_not_present in listener "tcp" is ignored: ` + whyXFF,
				`prometheus_retention_time in telemetry is ignored: Coffer always serves Prometheus metrics at sys/metrics, computed when scraped; nothing is retained`,
				`disable_hostname in telemetry is ignored: Coffer's metric names never carry the host name`,
				`statsd_address in telemetry is ignored: ` + whyPush,
				`service_registration is ignored: Coffer does not register itself with Consul or Kubernetes; point health checks at sys/health`,
			},
		},
		{
			file: "vault-ha.hcl",
			want: &Config{
				Storage: &Storage{Type: StoragePostgres, Postgres: &PostgresStorage{
					ConnectionURL: "postgres://vault:pw@db.example.com:5432/vault?sslmode=verify-full",
					Table:         "vault_kv_store",
					HAEnabled:     true,
					MaxParallel:   DefaultPostgresMaxParallel,
					HALeaseTTL:    DefaultHALeaseTTL,
				}},
				Listeners: []Listener{tcp("0.0.0.0:8200", func(l *Listener) {
					l.ClusterAddress = "0.0.0.0:8201"
					l.TLSCertFile = "/etc/vault/tls.crt"
					l.TLSKeyFile = "/etc/vault/tls.key"
				})},
				APIAddr:         "https://vault-1.example.com:8200",
				ClusterAddr:     "https://vault-1.example.com:8201",
				LogLevel:        LogInfo,
				LogFormat:       LogText,
				DefaultLeaseTTL: DefaultLeaseTTL,
				MaxLeaseTTL:     DefaultMaxLeaseTTL,
				MaxRequestSize:  DefaultMaxRequestSize,
			},
			warnings: []string{
				`ha_table in storage "postgresql" is ignored: Coffer elects its active node with a PostgreSQL advisory lock and needs no lock table`,
				`max_idle_connections in storage "postgresql" is ignored: Coffer's connection pool keeps idle connections within max_parallel by itself`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			c, err := Load(filepath.Join("testdata", tt.file), nil)
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want, c, ignoreSources, ignoreWarnings); diff != "" {
				t.Errorf("Load(%q) mismatch (-want +got):\n%s", tt.file, diff)
			}
			var got []string
			for _, w := range c.Warnings {
				if !strings.HasPrefix(w.Pos, filepath.Join("testdata", tt.file)+":") {
					t.Errorf("warning %q: position %q is not in the file", w, w.Pos)
				}
				_, rest, _ := strings.Cut(w.String(), ": ")
				got = append(got, rest)
			}
			if diff := cmp.Diff(tt.warnings, got); diff != "" {
				t.Errorf("Load(%q) warnings mismatch (-want +got):\n%s", tt.file, diff)
			}
		})
	}
}

// TestWarningsOncePerKey: a key ignored in several blocks of one kind is
// reported once (and a used block, user_lockout, is not reported).
func TestWarningsOncePerKey(t *testing.T) {
	t.Parallel()
	src := "storage \"inmem\" {}\n" +
		"listener \"tcp\" {\n  x_forwarded_for_hop_skips = 1\n}\n" +
		"listener \"tcp\" {\n  address = \"127.0.0.1:8300\"\n  x_forwarded_for_hop_skips = 1\n  profiling {\n    unauthenticated_pprof_access = true\n  }\n}\n" +
		"user_lockout \"all\" {\n  lockout_threshold = \"25\"\n}\n"
	c, err := Parse([]byte(src), "t.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`t.hcl:3,3-28: x_forwarded_for_hop_skips in listener "tcp" is ignored: ` + whyXFF,
		`t.hcl:8,3-12: profiling in listener "tcp" is ignored: Coffer has no sys/pprof endpoint`,
	}
	if diff := cmp.Diff(want, warningLines(c)); diff != "" {
		t.Errorf("warnings mismatch (-want +got):\n%s", diff)
	}
}

func TestClusterAddrEnv(t *testing.T) {
	t.Parallel()
	src := "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  ha_enabled = true\n}\nlistener \"tcp\" {\n  cluster_address = \"0.0.0.0:8201\"\n}\ncluster_addr = \"https://file:8201\"\n"
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "https://file:8201"},
		{map[string]string{"VAULT_CLUSTER_ADDR": "https://vault:8201"}, "https://vault:8201"},
		{map[string]string{"VAULT_CLUSTER_ADDR": "https://vault:8201", "COFFER_CLUSTER_ADDR": "10.0.0.9:8201"}, "10.0.0.9:8201"},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(src), "t.hcl", func(k string) string { return tt.env[k] })
		if err != nil {
			t.Fatalf("Parse with env %v: %v", tt.env, err)
		}
		if c.ClusterAddr != tt.want {
			t.Errorf("Parse with env %v: cluster_addr = %q, want %q", tt.env, c.ClusterAddr, tt.want)
		}
	}
	_, err := Parse([]byte(src), "t.hcl", func(k string) string {
		if k == "COFFER_CLUSTER_ADDR" {
			return "ftp://x:1"
		}
		return ""
	})
	if want := `environment variable COFFER_CLUSTER_ADDR: cluster_addr "ftp://x:1": want https://host:port or host:port (cluster traffic is always TLS)`; err == nil || err.Error() != want {
		t.Errorf("Parse with a bad COFFER_CLUSTER_ADDR = %v, want %q", err, want)
	}
}

// TestDocsListEveryKey keeps docs/configuration.md in step with the
// tables of ignored and refused keys, and with the keys Coffer decodes.
func TestDocsListEveryKey(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range []map[string]string{ignoredTop(), ignoredListener(), ignoredTelemetry(), ignoredPostgres(), unsupported()} {
		for k := range m {
			keys = append(keys, k)
		}
	}
	keys = append(keys,
		"api_addr", "cluster_addr", "cluster_name", "log_level", "log_format", "default_lease_ttl",
		"max_lease_ttl", "max_request_size", "default_max_request_duration", "audit_allowed_dirs",
		"disable_request_forwarding", "enable_response_header_hostname", "pid_file", "storage",
		"listener", "seal", "telemetry", "audit", "user_lockout", "address", "cluster_address",
		"tls_disable", "tls_cert_file", "tls_key_file", "tls_client_ca_file",
		"tls_require_and_verify_client_cert", "tls_disable_client_certs", "tls_min_version",
		"tls_max_version", "tls_cipher_suites", "max_request_duration", "http_idle_timeout",
		"http_read_header_timeout", "http_read_timeout", "http_write_timeout", "max_connections", "max_connections_per_ip",
		"max_request_body_budget", "request_body_grace", "min_request_body_rate",
		"unauthenticated_metrics_access", "connection_url", "table", "ha_enabled", "max_parallel", "path",
		"disabled", "current_key_id", "current_key", "previous_key_id", "previous_key", "token", "key_name",
		"mount_path", "namespace", "disable_renewal", "tls_ca_cert", "tls_client_cert", "tls_client_key",
		"tls_server_name", "tls_skip_verify", "lib", "slot", "token_label", "pin", "key_label", "mechanism",
	)
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/configuration.md does not list `%s`", k)
		}
	}
}

func TestDev(t *testing.T) {
	t.Parallel()
	src := "storage \"bolt\" {\n  path = \"/x/coffer.db\"\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:8443\"\n}\nmax_request_size = 1000\ndisable_mlock = true\n"
	c, err := Parse([]byte(src), "t.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Dev("127.0.0.1:8200")
	if err != nil {
		t.Fatalf("Dev: %v", err)
	}
	if d.Storage.Type != StorageInmem || c.Storage.Type != StorageBolt {
		t.Errorf("Dev storage = %q (file's now %q), want inmem (and bolt unchanged)", d.Storage.Type, c.Storage.Type)
	}
	if !d.UI || c.UI {
		t.Errorf("Dev UI = %t (file's now %t), want true (and the file's false unchanged)", d.UI, c.UI)
	}
	dev := tcp("127.0.0.1:8200", func(l *Listener) { l.TLSDisable = true; l.HTTP.MaxRequestSize = 1000 })
	file := tcp("127.0.0.1:8443", func(l *Listener) { l.HTTP.MaxRequestSize = 1000 })
	if diff := cmp.Diff([]Listener{dev, file}, d.Listeners); diff != "" {
		t.Errorf("Dev listeners mismatch (-want +got):\n%s", diff)
	}
	if len(d.Warnings) != 1 || len(c.Listeners) != 1 {
		t.Errorf("Dev warnings %v, file listeners %d; want the file's one warning and its listeners unchanged", d.Warnings, len(c.Listeners))
	}
	// The file already listens on the dev address: no second listener.
	d, err = c.Dev("127.0.0.1:8443")
	if err != nil || len(d.Listeners) != 1 || d.Listeners[0].TLSDisable {
		t.Errorf("Dev(file's address) = %+v, %v; want the file's TLS listener alone", d, err)
	}
	if _, err := c.Dev("nowhere"); err == nil {
		t.Errorf("Dev(%q) = nil error, want one", "nowhere")
	}
}

// TestPortZeroDoesNotClash: listeners and cluster listeners on port 0 each
// get a free port, so they may share "127.0.0.1:0".
func TestPortZeroDoesNotClash(t *testing.T) {
	t.Parallel()
	src := "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  cluster_address = \"127.0.0.1:0\"\n}\n"
	if _, err := Parse([]byte(src), "t.hcl", nil); err != nil {
		t.Errorf("Parse(%q) = %v, want no error", src, err)
	}
}

// TestUserLockout: user_lockout blocks are decoded by method type, with
// unset keys left zero (nil for disable_lockout) so that the layers below
// them show through.
func TestUserLockout(t *testing.T) {
	t.Parallel()
	src := "storage \"inmem\" {}\nlistener \"tcp\" {}\n" +
		"user_lockout \"all\" {\n  lockout_threshold = \"25\"\n  disable_lockout = true\n}\n" +
		"user_lockout \"userpass\" {\n  lockout_duration = \"10m\"\n  lockout_counter_reset = 60\n  disable_lockout = \"false\"\n}\n"
	c, err := Parse([]byte(src), "t.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	want := map[string]UserLockout{
		"all":      {Threshold: 25, Disable: &yes},
		"userpass": {Duration: 10 * time.Minute, CounterReset: time.Minute, Disable: &no},
	}
	if diff := cmp.Diff(want, c.UserLockout); diff != "" {
		t.Errorf("UserLockout mismatch (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ name, src, want string }{
		{"twice", "user_lockout \"all\" {}\nuser_lockout \"all\" {}\n", `second user_lockout "all" block`},
		{"negative", "user_lockout \"all\" {\n  lockout_threshold = -1\n}\n", "lockout_threshold in user_lockout \"all\" must be between 0"},
	} {
		_, err := Parse([]byte("storage \"inmem\" {}\nlistener \"tcp\" {}\n"+tt.src), "t.hcl", nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
