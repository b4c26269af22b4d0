package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	ignoreSources  = cmpopts.IgnoreUnexported(Config{})
	ignoreWarnings = cmpopts.IgnoreFields(Config{}, "Warnings")
)

// warningLines returns c's warnings as strings.
func warningLines(c *Config) []string {
	var out []string
	for _, w := range c.Warnings {
		out = append(out, w.String())
	}
	return out
}

// tcp returns a listener with the defaults Parse fills in, changed by
// set.
func tcp(addr string, set func(l *Listener)) Listener {
	l := Listener{
		Type:          "tcp",
		Address:       addr,
		TLSMinVersion: TLS12,
		TLSMaxVersion: TLS13,
		HTTP: ListenerHTTP{
			MaxRequestSize:      DefaultMaxRequestSize,
			IdleTimeout:         DefaultHTTPIdleTimeout,
			ReadHeaderTimeout:   DefaultHTTPReadHeaderTimeout,
			MaxConnections:      DefaultMaxConnections,
			MaxConnectionsPerIP: DefaultMaxConnectionsPerIP,
		},
	}
	if set != nil {
		set(&l)
	}
	return l
}

func TestLoadTestdata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		want     *Config
		warnings []string
	}{
		{
			file: "full.hcl",
			want: &Config{
				Storage: &Storage{Type: StorageBolt, Bolt: &BoltStorage{Path: "/var/lib/coffer/coffer.db"}},
				Listeners: []Listener{
					tcp("0.0.0.0:8443", func(l *Listener) {
						l.TLSCertFile = "/etc/coffer/tls.crt"
						l.TLSKeyFile = "/etc/coffer/tls.key"
						l.TLSClientCAFile = "/etc/coffer/clients.pem"
						l.TLSRequireAndVerifyClientCert = true
						l.TLSMinVersion = TLS13
						l.HTTP.MaxRequestSize = 1 << 20
					}),
					tcp("127.0.0.1:8200", func(l *Listener) { l.TLSDisable = true; l.HTTP.MaxRequestSize = 1 << 20 }),
				},
				APIAddr:         "https://coffer.example.com:8443",
				LogLevel:        LogDebug,
				LogFormat:       LogJSON,
				DefaultLeaseTTL: time.Hour,
				MaxLeaseTTL:     24 * time.Hour,
				MaxRequestSize:  1 << 20,
				UI:              true,
			},
			warnings: []string{
				`testdata/full.hcl:26,1-14: disable_mlock is ignored: Coffer never locks memory with mlock; keep swap off or encrypted on its hosts`,
			},
		},
		{
			file: "vault.hcl",
			want: &Config{
				Storage:         &Storage{Type: StorageBolt, Bolt: &BoltStorage{Path: filepath.Join("/vault/data", "coffer.db")}},
				Listeners:       []Listener{tcp("0.0.0.0:8200", func(l *Listener) { l.TLSDisable = true })},
				APIAddr:         "http://127.0.0.1:8200",
				LogLevel:        LogInfo,
				LogFormat:       LogText,
				DefaultLeaseTTL: 768 * time.Hour,
				MaxLeaseTTL:     768 * time.Hour,
				MaxRequestSize:  32 << 20,
				UI:              true,
			},
			warnings: []string{
				`testdata/vault.hcl:13,1-14: disable_mlock is ignored: Coffer never locks memory with mlock; keep swap off or encrypted on its hosts`,
			},
		},
		{
			file: "postgres.hcl",
			want: &Config{
				Storage: &Storage{Type: StoragePostgres, Postgres: &PostgresStorage{
					ConnectionURL: "postgres://coffer:s3cret@db.internal:5432/coffer?sslmode=verify-full",
					Table:         "coffer.kv",
					HAEnabled:     true,
					MaxParallel:   16,
					HALeaseTTL:    DefaultHALeaseTTL,
				}},
				Listeners:       []Listener{tcp("[::1]:8200", nil)},
				LogLevel:        LogInfo,
				LogFormat:       LogText,
				DefaultLeaseTTL: 768 * time.Hour,
				MaxLeaseTTL:     768 * time.Hour,
				MaxRequestSize:  32 << 20,
			},
		},
		{
			file: "minimal.hcl",
			want: &Config{
				Storage:         &Storage{Type: StorageInmem, Inmem: &InmemStorage{}},
				Listeners:       []Listener{tcp(DefaultListenAddress, nil)},
				LogLevel:        LogInfo,
				LogFormat:       LogText,
				DefaultLeaseTTL: DefaultLeaseTTL,
				MaxLeaseTTL:     DefaultMaxLeaseTTL,
				MaxRequestSize:  DefaultMaxRequestSize,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := Load(filepath.Join("testdata", tt.file), nil)
			if err != nil {
				t.Fatalf("Load(%q) error: %v", tt.file, err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreSources, ignoreWarnings); diff != "" {
				t.Errorf("Load(%q) mismatch (-want +got):\n%s", tt.file, diff)
			}
			if diff := cmp.Diff(tt.warnings, warningLines(got)); diff != "" {
				t.Errorf("Load(%q) warnings mismatch (-want +got):\n%s", tt.file, diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate() of loaded %q = %v, want nil", tt.file, err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.hcl"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want an error wrapping os.ErrNotExist", err)
	}
}

// base is the smallest valid configuration; tests append to it.
const base = "storage \"inmem\" {}\nlistener \"tcp\" {}\n"

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra string // appended to base
		field func(c *Config) any
		want  any
	}{
		{"log_level", "", func(c *Config) any { return c.LogLevel }, LogInfo},
		{"log_format", "", func(c *Config) any { return c.LogFormat }, LogText},
		{"default_lease_ttl", "", func(c *Config) any { return c.DefaultLeaseTTL }, 768 * time.Hour},
		{"max_lease_ttl", "", func(c *Config) any { return c.MaxLeaseTTL }, 768 * time.Hour},
		{"default_lease_ttl capped by max_lease_ttl", `max_lease_ttl = "1h"`, func(c *Config) any { return c.DefaultLeaseTTL }, time.Hour},
		{"default_lease_ttl zero means default", `default_lease_ttl = 0`, func(c *Config) any { return c.DefaultLeaseTTL }, 768 * time.Hour},
		{"max_request_size", "", func(c *Config) any { return c.MaxRequestSize }, int64(32 << 20)},
		{"max_request_size zero means default", `max_request_size = 0`, func(c *Config) any { return c.MaxRequestSize }, int64(32 << 20)},
		{"warnings", "", func(c *Config) any { return len(c.Warnings) }, 0},
		{"listener tls_max_version", "", func(c *Config) any { return c.Listeners[0].TLSMaxVersion }, TLS13},
		{"listener max_request_size from top level", `max_request_size = 1000`, func(c *Config) any { return c.Listeners[0].HTTP.MaxRequestSize }, int64(1000)},
		{"listener max_request_duration from top level", `default_max_request_duration = "90s"`, func(c *Config) any { return c.Listeners[0].HTTP.MaxRequestDuration }, 90 * time.Second},
		{"listener metrics from top level", "telemetry {\n  unauthenticated_metrics_access = true\n}", func(c *Config) any { return c.Listeners[0].HTTP.UnauthenticatedMetricsAccess }, true},
		{"listener idle timeout", "", func(c *Config) any { return c.Listeners[0].HTTP.IdleTimeout }, 2 * time.Minute},
		{"listener read header timeout", "", func(c *Config) any { return c.Listeners[0].HTTP.ReadHeaderTimeout }, 10 * time.Second},
		{"listener read timeout", "", func(c *Config) any { return c.Listeners[0].HTTP.ReadTimeout }, time.Duration(0)},
		{"seal", "", func(c *Config) any { return c.Seal == nil }, true},
		{"api_addr", "", func(c *Config) any { return c.APIAddr }, ""},
		{"listener address", "", func(c *Config) any { return c.Listeners[0].Address }, "127.0.0.1:8200"},
		{"listener tls on", "", func(c *Config) any { return c.Listeners[0].TLSDisable }, false},
		{"listener local CA", "", func(c *Config) any { return c.Listeners[0].LocalCA() }, true},
		{"listener tls_min_version", "", func(c *Config) any { return c.Listeners[0].TLSMinVersion }, TLS12},
		{"listener client cert", "", func(c *Config) any { return c.Listeners[0].TLSRequireAndVerifyClientCert }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := base + tt.extra + "\n"
			c, err := Parse([]byte(src), "t.hcl", nil)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", src, err)
			}
			if got := tt.field(c); got != tt.want {
				t.Errorf("Parse(%q): %s = %v, want %v", src, tt.name, got, tt.want)
			}
		})
	}
}

func TestParsePostgresDefaults(t *testing.T) {
	t.Parallel()
	src := "storage \"postgresql\" {\n  connection_url = \"host=db user=coffer\"\n}\nlistener \"tcp\" {}\n"
	c, err := Parse([]byte(src), "t.hcl", nil)
	if err != nil {
		t.Fatalf("Parse(%q) error: %v", src, err)
	}
	want := &PostgresStorage{ConnectionURL: "host=db user=coffer", Table: "coffer_kv_store", MaxParallel: 128, HALeaseTTL: DefaultHALeaseTTL}
	if diff := cmp.Diff(want, c.Storage.Postgres); diff != "" {
		t.Errorf("Parse(%q) postgres mismatch (-want +got):\n%s", src, diff)
	}
}

// TestParsePostgresLeaseTTL checks ha_lease_ttl's forms and default.
func TestParsePostgresLeaseTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want time.Duration
	}{
		{name: "absent", want: DefaultHALeaseTTL},
		{name: "string", line: `ha_lease_ttl = "2s"`, want: 2 * time.Second},
		{name: "seconds", line: `ha_lease_ttl = 30`, want: 30 * time.Second},
		{name: "bounds inclusive", line: `ha_lease_ttl = "5m"`, want: MaxHALeaseTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  ha_enabled = true\n  " + tt.line + "\n}\nlistener \"tcp\" {}\n"
			c, err := Parse([]byte(src), "t.hcl", nil)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", src, err)
			}
			if got := c.Storage.Postgres.HALeaseTTL; got != tt.want {
				t.Errorf("Parse(%q): ha_lease_ttl = %s, want %s", src, got, tt.want)
			}
		})
	}
}

// TestParseValueForms checks the loose value forms Vault configuration
// files use: booleans as numbers and strings, durations as seconds.
func TestParseValueForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   string
		field func(c *Config) any
		want  any
	}{
		{"tls_disable true", `listener "tcp" { tls_disable = true }`, tlsDisable, true},
		{"tls_disable 1", `listener "tcp" { tls_disable = 1 }`, tlsDisable, true},
		{"tls_disable string true", `listener "tcp" { tls_disable = "true" }`, tlsDisable, true},
		{"tls_disable string 1", `listener "tcp" { tls_disable = "1" }`, tlsDisable, true},
		{"tls_disable false", `listener "tcp" { tls_disable = false }`, tlsDisable, false},
		{"tls_disable 0", `listener "tcp" { tls_disable = 0 }`, tlsDisable, false},
		{"tls_disable string false", `listener "tcp" { tls_disable = "false" }`, tlsDisable, false},
		{"tls_min_version upper case", `listener "tcp" { tls_min_version = "TLS13" }`, func(c *Config) any { return c.Listeners[0].TLSMinVersion }, TLS13},
		{"duration seconds number", `listener "tcp" {}` + "\nmax_lease_ttl = 3600", maxTTL, time.Hour},
		{"duration seconds string", `listener "tcp" {}` + "\nmax_lease_ttl = \"3600\"", maxTTL, time.Hour},
		{"duration 30s", `listener "tcp" {}` + "\nmax_lease_ttl = \"30s\"", maxTTL, 30 * time.Second},
		{"duration 5m", `listener "tcp" {}` + "\nmax_lease_ttl = \"5m\"", maxTTL, 5 * time.Minute},
		{"duration 768h", `listener "tcp" {}` + "\nmax_lease_ttl = \"768h\"", maxTTL, 768 * time.Hour},
		{"duration compound", `listener "tcp" {}` + "\nmax_lease_ttl = \"1h30m\"", maxTTL, 90 * time.Minute},
		{"duration days", `listener "tcp" {}` + "\nmax_lease_ttl = \"7d\"", maxTTL, 7 * 24 * time.Hour},
		{"log_level trace", `listener "tcp" {}` + "\nlog_level = \"trace\"", logLvl, LogDebug},
		{"log_level Warning", `listener "tcp" {}` + "\nlog_level = \"Warning\"", logLvl, LogWarn},
		{"log_level ERR", `listener "tcp" {}` + "\nlog_level = \"ERR\"", logLvl, LogError},
		{"log_format JSON", `listener "tcp" {}` + "\nlog_format = \"JSON\"", func(c *Config) any { return c.LogFormat }, LogJSON},
		{"max_request_size string", `listener "tcp" {}` + "\nmax_request_size = \"1024\"", func(c *Config) any { return c.MaxRequestSize }, int64(1024)},
		{"tls_cipher_suites string", `listener "tcp" { tls_cipher_suites = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256," }`, func(c *Config) any { return strings.Join(c.Listeners[0].TLSCipherSuites, "|") }, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384|TLS_AES_128_GCM_SHA256"},
		{"tls_cipher_suites list", `listener "tcp" { tls_cipher_suites = ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"] }`, func(c *Config) any { return strings.Join(c.Listeners[0].TLSCipherSuites, "|") }, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
		{"listener default connection cap", `listener "tcp" {}`, func(c *Config) any { return c.Listeners[0].HTTP.MaxConnections }, int64(DefaultMaxConnections)},
		{"listener default per-IP cap", `listener "tcp" {}`, func(c *Config) any { return c.Listeners[0].HTTP.MaxConnectionsPerIP }, int64(DefaultMaxConnectionsPerIP)},
		{"listener connection caps", `listener "tcp" {
  max_connections = 10
  max_connections_per_ip = 0
}`, func(c *Config) any {
			return [2]int64{c.Listeners[0].HTTP.MaxConnections, c.Listeners[0].HTTP.MaxConnectionsPerIP}
		}, [2]int64{10, 0}},
		{"listener body limits", `listener "tcp" {
  max_request_body_budget = 1048576
  request_body_grace = "2s"
  min_request_body_rate = "4096"
}`, func(c *Config) any {
			h := c.Listeners[0].HTTP
			return [3]int64{h.MaxRequestBodyBudget, int64(h.RequestBodyGrace), h.MinRequestBodyRate}
		}, [3]int64{1 << 20, int64(2 * time.Second), 4096}},
		{"listener default body limits", `listener "tcp" {}`, func(c *Config) any {
			h := c.Listeners[0].HTTP
			return [3]int64{h.MaxRequestBodyBudget, int64(h.RequestBodyGrace), h.MinRequestBodyRate}
		}, [3]int64{0, 0, 0}},
		{"listener zero idle timeout", `listener "tcp" { http_idle_timeout = 0 }`, func(c *Config) any { return c.Listeners[0].HTTP.IdleTimeout }, time.Duration(0)},
		{"listener max_request_size", "listener \"tcp\" { max_request_size = \"1024\" }\nmax_request_size = 99", func(c *Config) any { return c.Listeners[0].HTTP.MaxRequestSize }, int64(1024)},
		{"template string", `listener "tcp" { address = "127.0.0.1:${8200}" }`, func(c *Config) any { return c.Listeners[0].Address }, "127.0.0.1:8200"},
		{"ipv6 listener", `listener "tcp" { address = "[::]:8200" }`, func(c *Config) any { return c.Listeners[0].Address }, "[::]:8200"},
		{"hostname listener", `listener "tcp" { address = "coffer.internal:8200" }`, func(c *Config) any { return c.Listeners[0].Address }, "coffer.internal:8200"},
		{"all interfaces", `listener "tcp" { address = ":8200" }`, func(c *Config) any { return c.Listeners[0].Address }, ":8200"},
		{"unlabelled style label", "listener tcp {}", func(c *Config) any { return c.Listeners[0].Type }, "tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := "storage \"inmem\" {}\n" + tt.src + "\n"
			c, err := Parse([]byte(src), "t.hcl", nil)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", src, err)
			}
			if got := tt.field(c); got != tt.want {
				t.Errorf("Parse(%q) = %v, want %v", src, got, tt.want)
			}
		})
	}
}

func tlsDisable(c *Config) any { return c.Listeners[0].TLSDisable }
func maxTTL(c *Config) any     { return c.MaxLeaseTTL }
func logLvl(c *Config) any     { return c.LogLevel }

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string // the joined errors, one per line, in order
	}{
		{
			name: "unknown key in storage",
			src:  "storage \"bolt\" {\n  pathh = \"/x\"\n}\nlistener \"tcp\" {}\n",
			want: []string{
				`t.hcl:1,1-15: storage "bolt" needs a path`,
				`t.hcl:2,3-8: unknown key "pathh" in storage "bolt"; did you mean "path"?`,
			},
		},
		{
			name: "unknown top-level key",
			src:  base + "log_levle = \"debug\"\n",
			want: []string{`t.hcl:3,1-10: unknown key "log_levle"; did you mean "log_level"?`},
		},
		{
			name: "unknown key without suggestion",
			src:  base + "colour_scheme = \"x\"\n",
			want: []string{`t.hcl:3,1-14: unknown key "colour_scheme"`},
		},
		{
			name: "unknown top-level block",
			src:  base + "listner \"tcp\" {\n  address = \"x\"\n}\n",
			want: []string{`t.hcl:3,1-8: unknown block "listner"; did you mean "listener"?`},
		},
		{
			name: "unknown block in listener",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls {}\n}\n",
			want: []string{`t.hcl:3,3-6: unknown block "tls" in listener "tcp"`},
		},
		{
			name: "typo of an ignored key",
			src:  base + "disable_mlok = true\n",
			want: []string{`t.hcl:3,1-13: unknown key "disable_mlok"; did you mean "disable_mlock"?`},
		},
		{
			name: "typo in listener",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  cluster_adress = \"127.0.0.1:8201\"\n}\n",
			want: []string{`t.hcl:3,3-17: unknown key "cluster_adress" in listener "tcp"; did you mean "cluster_address"?`},
		},
		{
			name: "typo in a body limit",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  request_body_grase = \"5s\"\n}\n",
			want: []string{`t.hcl:3,3-21: unknown key "request_body_grase" in listener "tcp"; did you mean "request_body_grace"?`},
		},
		{
			name: "typo in telemetry",
			src:  base + "telemetry {\n  statsd_adress = \"x:1\"\n}\n",
			want: []string{`t.hcl:4,3-16: unknown key "statsd_adress" in telemetry; did you mean "statsd_address"?`},
		},
		{
			name: "auto-unseal seal",
			src:  base + "seal \"awskms\" {\n  region = \"x\"\n}\n",
			want: []string{`t.hcl:3,6-14: seal type "awskms" is not supported: Coffer seals with shamir, static, transit or pkcs11`},
		},
		{
			name: "seal typo",
			src:  base + "seal \"shamri\" {}\n",
			want: []string{`t.hcl:3,6-14: unknown seal type "shamri"; want shamir, static, transit or pkcs11; did you mean "shamir"?`},
		},
		{
			name: "key in shamir seal",
			src:  base + "seal \"shamir\" {\n  key_shares = 5\n}\n",
			want: []string{`t.hcl:4,3-13: unknown key "key_shares" in seal "shamir"`},
		},
		{
			name: "two seals",
			src:  base + "seal \"shamir\" {}\nseal \"shamir\" {}\n",
			want: []string{`t.hcl:4,1-14: second enabled seal block; Coffer takes one enabled seal and, for a seal migration, one with disabled = "true" (the first is at line 3)`},
		},
		{
			name: "static seal without keys",
			src:  base + "seal \"static\" {}\n",
			want: []string{`t.hcl:3,1-14: seal "static" needs current_key_id`, `t.hcl:3,1-14: seal "static" needs current_key (file://PATH, env://NAME or the key)`},
		},
		{
			name: "transit seal with a namespace",
			src:  base + "seal \"transit\" {\n  address = \"https://v:8200\"\n  token = \"t\"\n  key_name = \"k\"\n  namespace = \"ns1/\"\n}\n",
			want: []string{`t.hcl:7,15-21: namespace in seal "transit" is not supported: Coffer has no namespaces, and the transit key would be looked up in the root namespace`},
		},
		{
			name: "transit seal unknown key",
			src:  base + "seal \"transit\" {\n  address = \"https://v:8200\"\n  token = \"t\"\n  key_name = \"k\"\n  keyname = \"k\"\n}\n",
			want: []string{`t.hcl:7,3-10: unknown key "keyname" in seal "transit"; did you mean "key_name"?`},
		},
		{
			name: "two disabled seals",
			src:  base + "seal \"shamir\" {\n  disabled = true\n}\nseal \"static\" {\n  disabled = \"true\"\n  current_key_id = \"a\"\n  current_key = \"env://K\"\n}\n",
			want: []string{`t.hcl:6,1-14: second disabled seal block; Coffer takes one enabled seal and, for a seal migration, one with disabled = "true" (the first is at line 3)`},
		},
		{
			name: "same seal twice",
			src:  base + "seal \"shamir\" {}\nseal \"shamir\" {\n  disabled = true\n}\n",
			want: []string{`t.hcl:4,1-14: the enabled and the disabled seal blocks are both "shamir": a migration needs two seal types`},
		},
		{
			name: "ha_storage",
			src:  base + "ha_storage \"consul\" {}\n",
			want: []string{`t.hcl:3,1-11: ha_storage is not supported: Coffer has no separate HA storage; use storage "postgresql" with ha_enabled = true`},
		},
		{
			name: "raft storage",
			src:  "storage \"raft\" {\n  path = \"/x\"\n}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,9-15: storage type "raft" is not supported: Coffer has no integrated (Raft) storage; use storage "bolt" for one server, or "postgresql" with ha_enabled = true for high availability`},
		},
		{
			name: "chroot_namespace",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  chroot_namespace = \"admin\"\n}\n",
			want: []string{`t.hcl:3,3-19: chroot_namespace in listener "tcp" is not supported: Coffer has no namespaces; without it this listener would serve the root namespace`},
		},
		{
			name: "proxy protocol",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  proxy_protocol_behavior = \"use_always\"\n}\n",
			want: []string{`t.hcl:3,3-26: proxy_protocol_behavior in listener "tcp" is not supported: Coffer does not read the PROXY protocol; connections from the proxy would fail`},
		},
		{
			name: "ignored key with a variable",
			src:  base + "plugin_directory = var.dir\n",
			want: []string{`t.hcl:3,20-23: Variables not allowed: Variables may not be used here.`},
		},
		{
			name: "user_lockout label",
			src:  base + "user_lockout \"github\" {}\n",
			want: []string{`t.hcl:3,1-22: user_lockout block needs one label: all, approle, ldap or userpass`},
		},
		{
			name: "user_lockout bad value",
			src:  base + "user_lockout \"all\" {\n  lockout_duration = \"soon\"\n}\n",
			want: []string{`t.hcl:4,22-28: lockout_duration in user_lockout "all": invalid duration "soon": want whole seconds or a duration such as "30s", "5m", "1h30m" or "7d"`},
		},
		{
			name: "tls_max_version below min",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_min_version = \"tls13\"\n  tls_max_version = \"tls12\"\n}\n",
			want: []string{`t.hcl:4,21-28: tls_max_version "tls12" in listener "tcp" is below tls_min_version "tls13"`},
		},
		{
			name: "cipher suites",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_cipher_suites = \"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_RSA_WITH_RC4_128_SHA,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265\"\n}\n",
			want: []string{
				`t.hcl:3,23-122: tls_cipher_suites in listener "tcp": TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not allowed; Coffer serves TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305`,
				`t.hcl:3,23-122: tls_cipher_suites in listener "tcp": TLS_RSA_WITH_RC4_128_SHA is insecure`,
				`t.hcl:3,23-122: tls_cipher_suites in listener "tcp": unknown cipher suite "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265"; did you mean "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"?`,
			},
		},
		{
			name: "client certs disabled and required",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  tls_client_ca_file = \"ca.pem\"\n  tls_require_and_verify_client_cert = true\n  tls_disable_client_certs = true\n}\n",
			want: []string{`t.hcl:5,30-34: tls_disable_client_certs and tls_require_and_verify_client_cert in listener "tcp" cannot both be true`},
		},
		{
			name: "negative connection caps",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  max_connections = -1\n}\n",
			want: []string{`t.hcl:3,21-23: max_connections -1 in listener "tcp": must not be negative (0 means no cap)`},
		},
		{
			name: "negative body limits",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  max_request_body_budget = -1\n  request_body_grace = \"-1s\"\n  min_request_body_rate = -5\n}\n",
			want: []string{
				`t.hcl:3,29-31: max_request_body_budget -1 in listener "tcp": must not be negative (0 means the default)`,
				`t.hcl:4,24-29: request_body_grace in listener "tcp": duration "-1s" must not be negative`,
				`t.hcl:5,27-29: min_request_body_rate -5 in listener "tcp": must not be negative (0 means the default)`,
			},
		},
		{
			name: "negative listener limits",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  max_request_size = -1\n  http_read_timeout = \"-1s\"\n}\n",
			want: []string{
				`t.hcl:3,22-24: max_request_size -1 in listener "tcp": must be a positive number of bytes (Coffer has no unlimited setting)`,
				`t.hcl:4,23-28: http_read_timeout in listener "tcp": duration "-1s" must not be negative`,
			},
		},
		{
			name: "two cluster addresses",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  cluster_address = \"127.0.0.1:8201\"\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:8300\"\n  cluster_address = \"127.0.0.1:8301\"\n}\n",
			want: []string{`t.hcl:7,21-37: cluster_address in listener "tcp": listener 1 already sets one; Coffer opens one cluster listener`},
		},
		{
			name: "cluster address on every interface without cluster_addr",
			src:  "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  ha_enabled = true\n}\nlistener \"tcp\" {\n  cluster_address = \"0.0.0.0:8201\"\n}\n",
			want: []string{`t.hcl:6,21-35: cluster_address "0.0.0.0:8201" listens on every interface, so other nodes cannot be told where to reach this one; set cluster_addr, such as https://10.0.0.5:8201`},
		},
		{
			name: "standby lag too short",
			src:  "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  ha_enabled = true\n  ha_max_standby_lag = \"10ms\"\n}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:4,24-30: ha_max_standby_lag 10ms in storage "postgresql": want from 100ms to 1m0s`},
		},
		{
			name: "standby lag too long",
			src:  "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  ha_enabled = true\n  ha_max_standby_lag = \"2h\"\n}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:4,24-28: ha_max_standby_lag 2h0m0s in storage "postgresql": want from 100ms to 1m0s`},
		},
		{
			name: "cluster_addr scheme",
			src:  base + "cluster_addr = \"http://10.0.0.5:8201\"\n",
			want: []string{`t.hcl:3,16-38: cluster_addr "http://10.0.0.5:8201": want https://host:port or host:port (cluster traffic is always TLS)`},
		},
		{
			name: "key in inmem",
			src:  "storage \"inmem\" { path = \"x\" }\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,19-23: unknown key "path" in storage "inmem"`},
		},
		{
			name: "key written as block",
			src:  base + "api_addr {}\n",
			want: []string{`t.hcl:3,1-9: api_addr is a key, not a block: write api_addr = value`},
		},
		{
			name: "block written as key",
			src:  "listener \"tcp\" {}\nstorage = \"bolt\"\n",
			want: []string{`t.hcl:2,1-8: storage is a block, not a key: write storage "TYPE" { ... }`},
		},
		{
			name: "missing storage",
			src:  "listener \"tcp\" {}\n",
			want: []string{`t.hcl: missing storage block; add one such as storage "bolt" { path = "/var/lib/coffer/coffer.db" }`},
		},
		{
			name: "two storage blocks",
			src:  base + "storage \"bolt\" {\n  path = \"/x\"\n}\n",
			want: []string{`t.hcl:3,1-15: second storage block; exactly one is allowed (the first is at line 1)`},
		},
		{
			name: "unknown storage type",
			src:  "storage \"mongo\" {}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,9-16: unknown storage type "mongo"; want bolt, file, inmem or postgresql`},
		},
		{
			name: "storage type Vault has",
			src:  "storage \"consul\" {}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,9-17: storage type "consul" is not supported: Coffer stores data in bolt (one server) or postgresql (high availability)`},
		},
		{
			name: "storage type typo",
			src:  "storage \"blot\" {}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,9-15: unknown storage type "blot"; want bolt, file, inmem or postgresql; did you mean "bolt"?`},
		},
		{
			name: "storage without label",
			src:  "storage {}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,1-8: storage block needs one label, the storage type, as in storage "bolt" { ... }`},
		},
		{
			name: "file storage without path",
			src:  "storage \"file\" {}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,1-15: storage "file" needs a path`},
		},
		{
			name: "missing listener",
			src:  "storage \"inmem\" {}\n",
			want: []string{`t.hcl: missing listener block; add one such as listener "tcp" { address = "127.0.0.1:8200" }`},
		},
		{
			name: "unix listener",
			src:  "storage \"inmem\" {}\nlistener \"unix\" {}\n",
			want: []string{`t.hcl:2,10-16: unknown listener type "unix"; only "tcp" is supported`},
		},
		{
			name: "address without port",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"127.0.0.1\"\n}\n",
			want: []string{`t.hcl:3,13-24: address "127.0.0.1" in listener "tcp": want host:port, such as 127.0.0.1:8200`},
		},
		{
			name: "address with bad port",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { address = \"127.0.0.1:99999\" }\n",
			want: []string{`t.hcl:2,28-45: address "127.0.0.1:99999" in listener "tcp": port "99999" is not a number from 0 to 65535`},
		},
		{
			name: "address with bad host",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { address = \"no_such host:1\" }\n",
			want: []string{`t.hcl:2,28-44: address "no_such host:1" in listener "tcp": host "no_such host" is neither an IP address nor a host name`},
		},
		{
			name: "duplicate listener address",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" {}\nlistener \"tcp\" { address = \"127.0.0.1:8200\" }\n",
			want: []string{`t.hcl:3,28-44: address "127.0.0.1:8200" in listener "tcp" is already used by listener 1`},
		},
		{
			name: "cert without key",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { tls_cert_file = \"c.pem\" }\n",
			want: []string{`t.hcl:2,34-41: tls_cert_file in listener "tcp" needs tls_key_file too (set neither to use a certificate from the local CA)`},
		},
		{
			name: "key without cert",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { tls_key_file = \"k.pem\" }\n",
			want: []string{`t.hcl:2,33-40: tls_key_file in listener "tcp" needs tls_cert_file too (set neither to use a certificate from the local CA)`},
		},
		{
			name: "require client cert without CA",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { tls_require_and_verify_client_cert = true }\n",
			want: []string{`t.hcl:2,55-59: tls_require_and_verify_client_cert in listener "tcp" needs tls_client_ca_file`},
		},
		{
			name: "tls11",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { tls_min_version = \"tls11\" }\n",
			want: []string{`t.hcl:2,36-43: tls_min_version "tls11" in listener "tcp": no longer supported; want tls12 or tls13`},
		},
		{
			name: "tls_disable not a bool",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = \"maybe\" }\n",
			want: []string{`t.hcl:2,32-39: tls_disable in listener "tcp": want true, false, 1 or 0, got "maybe"`},
		},
		{
			name: "tls_disable 2",
			src:  "storage \"inmem\" {}\nlistener \"tcp\" { tls_disable = 2 }\n",
			want: []string{`t.hcl:2,32-33: tls_disable in listener "tcp": want true, false, 1 or 0`},
		},
		{
			name: "path not a string",
			src:  "storage \"bolt\" { path = 5 }\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,25-26: path in storage "bolt": want a string, got number`},
		},
		{
			name: "negative duration",
			src:  base + "default_lease_ttl = \"-5m\"\n",
			want: []string{`t.hcl:3,21-26: default_lease_ttl: duration "-5m" must not be negative`},
		},
		{
			name: "negative seconds",
			src:  base + "max_lease_ttl = -1\n",
			want: []string{`t.hcl:3,17-19: max_lease_ttl: duration -1 must not be negative`},
		},
		{
			name: "bad duration",
			src:  base + "max_lease_ttl = \"1 week\"\n",
			want: []string{`t.hcl:3,17-25: max_lease_ttl: invalid duration "1 week": want whole seconds or a duration such as "30s", "5m", "1h30m" or "7d"`},
		},
		{
			name: "fractional seconds",
			src:  base + "max_lease_ttl = 1.5\n",
			want: []string{`t.hcl:3,17-20: max_lease_ttl: want whole seconds or a duration such as "30s": want a whole number, got 1.5`},
		},
		{
			name: "huge seconds",
			src:  base + "max_lease_ttl = 99999999999999\n",
			want: []string{`t.hcl:3,17-31: max_lease_ttl: duration of 99999999999999 seconds is out of range`},
		},
		{
			name: "default longer than max",
			src:  base + "default_lease_ttl = \"2h\"\nmax_lease_ttl = \"1h\"\n",
			want: []string{`t.hcl:3,21-25: default_lease_ttl 2h0m0s is longer than max_lease_ttl 1h0m0s`},
		},
		{
			name: "negative max_request_size",
			src:  base + "max_request_size = -1\n",
			want: []string{`t.hcl:3,20-22: max_request_size -1: must be a positive number of bytes (Coffer has no unlimited setting)`},
		},
		{
			name: "bad log level",
			src:  base + "log_level = \"loud\"\n",
			want: []string{`t.hcl:3,13-19: log_level "loud": want debug, info, warn or error`},
		},
		{
			name: "bad log format",
			src:  base + "log_format = \"xml\"\n",
			want: []string{`t.hcl:3,14-19: log_format "xml": want text or json`},
		},
		{
			name: "api_addr without scheme",
			src:  base + "api_addr = \"coffer.example.com:8200\"\n",
			want: []string{`t.hcl:3,12-37: api_addr "coffer.example.com:8200": want an http:// or https:// URL`},
		},
		{
			name: "api_addr with credentials",
			src:  base + "api_addr = \"https://u:p@coffer\"\n",
			want: []string{`t.hcl:3,12-32: api_addr "https://u:p@coffer": must not hold a user name or password`},
		},
		{
			name: "postgres without connection_url",
			src:  "storage \"postgresql\" {}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:1,1-21: storage "postgresql" needs a connection_url`},
		},
		{
			name: "postgres bad table and max_parallel",
			src:  "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  table = \"kv; drop\"\n  max_parallel = -3\n}\nlistener \"tcp\" {}\n",
			want: []string{
				`t.hcl:3,11-21: table in storage "postgresql": table name "kv; drop": want a letter or _ followed by letters, digits or _ (at most 48 bytes), optionally after a schema and a dot`,
				`t.hcl:4,18-20: max_parallel -3 in storage "postgresql": must be positive`,
			},
		},
		{
			name: "postgres ha_lease_ttl too short",
			src:  "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  ha_lease_ttl = \"500ms\"\n}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:3,18-25: ha_lease_ttl 500ms in storage "postgresql": must be between 1s and 5m0s`},
		},
		{
			name: "postgres ha_lease_ttl too long",
			src:  "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  ha_lease_ttl = \"1h\"\n}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:3,18-22: ha_lease_ttl 1h0m0s in storage "postgresql": must be between 1s and 5m0s`},
		},
		{
			// The storage refuses a table name this long at open; the
			// configuration refuses it first, by the same check.
			name: "postgres table too long to open",
			src:  "storage \"postgresql\" {\n  connection_url = \"host=db\"\n  table = \"coffer." + strings.Repeat("t", 49) + "\"\n}\nlistener \"tcp\" {}\n",
			want: []string{`t.hcl:3,11-69: table in storage "postgresql": table name "coffer.` + strings.Repeat("t", 49) + `": want a letter or _ followed by letters, digits or _ (at most 48 bytes), optionally after a schema and a dot`},
		},
		{
			name: "variables are not allowed",
			src:  base + "api_addr = var.addr\n",
			want: []string{`t.hcl:3,12-15: Variables not allowed: Variables may not be used here.`},
		},
		{
			name: "null value",
			src:  base + "api_addr = null\n",
			want: []string{`t.hcl:3,12-16: api_addr: must not be null`},
		},
		{
			name: "syntax error",
			src:  "storage \"inmem\" {\n",
			want: []string{`t.hcl:1,17-18: Unclosed configuration block: There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.`},
		},
		{
			name: "all problems reported in file order",
			src:  "log_level = \"loud\"\nstorage \"bolt\" {}\nlistener \"tcp\" {\n  address = \"x\"\n  tls_min_version = \"ssl3\"\n}\nbogus = 1\n",
			want: []string{
				`t.hcl:1,13-19: log_level "loud": want debug, info, warn or error`,
				`t.hcl:2,1-15: storage "bolt" needs a path`,
				`t.hcl:4,13-16: address "x" in listener "tcp": want host:port, such as 127.0.0.1:8200`,
				`t.hcl:5,21-27: tls_min_version "ssl3" in listener "tcp": want tls12 or tls13`,
				`t.hcl:7,1-6: unknown key "bogus"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.src), "t.hcl", nil)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.src, c)
			}
			if c != nil {
				t.Errorf("Parse(%q) returned a config along with error %v", tt.src, err)
			}
			got := strings.Split(err.Error(), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) errors mismatch (-want +got):\n%s", tt.src, diff)
			}
			for _, e := range unjoin(err) {
				if _, ok := errors.AsType[*Error](e); !ok {
					t.Errorf("Parse(%q) problem %v is a %T, want *Error", tt.src, e, e)
				}
			}
		})
	}
}

// unjoin returns the errors joined in err.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	file := base + "api_addr = \"https://file.example.com\"\nlog_level = \"warn\"\n"
	tests := []struct {
		name       string
		env        map[string]string
		wantAddr   string
		wantLevel  LogLevel
		wantFormat LogFormat
		wantErr    string
	}{
		{name: "none", env: nil, wantAddr: "https://file.example.com", wantLevel: LogWarn, wantFormat: LogText},
		{name: "empty counts as unset", env: map[string]string{"COFFER_API_ADDR": "", "COFFER_LOG_LEVEL": ""}, wantAddr: "https://file.example.com", wantLevel: LogWarn, wantFormat: LogText},
		{
			name:     "coffer names",
			env:      map[string]string{"COFFER_API_ADDR": "https://env.example.com", "COFFER_LOG_LEVEL": "DEBUG", "COFFER_LOG_FORMAT": "json"},
			wantAddr: "https://env.example.com", wantLevel: LogDebug, wantFormat: LogJSON,
		},
		{
			name:     "vault names",
			env:      map[string]string{"VAULT_API_ADDR": "https://vault.example.com", "VAULT_LOG_LEVEL": "error"},
			wantAddr: "https://vault.example.com", wantLevel: LogError, wantFormat: LogText,
		},
		{
			name:     "coffer wins over vault",
			env:      map[string]string{"COFFER_API_ADDR": "https://coffer.example.com", "VAULT_API_ADDR": "https://vault.example.com", "COFFER_LOG_LEVEL": "info", "VAULT_LOG_LEVEL": "error"},
			wantAddr: "https://coffer.example.com", wantLevel: LogInfo, wantFormat: LogText,
		},
		{
			name:    "bad values name the variable",
			env:     map[string]string{"VAULT_LOG_LEVEL": "chatty", "COFFER_LOG_FORMAT": "yaml", "COFFER_API_ADDR": "ftp://x"},
			wantErr: "environment variable COFFER_API_ADDR: api_addr \"ftp://x\": want an http:// or https:// URL\nenvironment variable VAULT_LOG_LEVEL: log_level \"chatty\": want debug, info, warn or error\nenvironment variable COFFER_LOG_FORMAT: log_format \"yaml\": want text or json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string { return tt.env[k] }
			c, err := Parse([]byte(file), "t.hcl", getenv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Parse with env %v: error = %v, want %q", tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse with env %v: %v", tt.env, err)
			}
			got := [3]string{c.APIAddr, string(c.LogLevel), string(c.LogFormat)}
			want := [3]string{tt.wantAddr, string(tt.wantLevel), string(tt.wantFormat)}
			if got != want {
				t.Errorf("Parse with env %v: (api_addr, log_level, log_format) = %q, want %q", tt.env, got, want)
			}
		})
	}
}

// TestEnvClusterOverrides covers the cluster variables the server used to
// read itself: COFFER_NODE_ID and COFFER_DISABLE_REQUEST_FORWARDING.
func TestEnvClusterOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		file      string
		env       map[string]string
		wantNode  string
		wantNoFwd bool
		wantErr   string
	}{
		{name: "none", wantNode: "", wantNoFwd: false},
		{name: "node id", env: map[string]string{"COFFER_NODE_ID": "node-a"}, wantNode: "node-a"},
		{name: "forwarding off", env: map[string]string{"COFFER_DISABLE_REQUEST_FORWARDING": "true"}, wantNoFwd: true},
		{name: "forwarding off as 1", env: map[string]string{"COFFER_DISABLE_REQUEST_FORWARDING": " 1 "}, wantNoFwd: true},
		{name: "false keeps the file's value", file: "disable_request_forwarding = true\n", env: map[string]string{"COFFER_DISABLE_REQUEST_FORWARDING": "false"}, wantNoFwd: true},
		{name: "false", env: map[string]string{"COFFER_DISABLE_REQUEST_FORWARDING": "0"}, wantNoFwd: false},
		{
			name:    "bad value names the variable",
			env:     map[string]string{"COFFER_DISABLE_REQUEST_FORWARDING": "yes please"},
			wantErr: `environment variable COFFER_DISABLE_REQUEST_FORWARDING: disable_request_forwarding: want true or false, got "yes please"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := base + tt.file
			c, err := Parse([]byte(src), "t.hcl", func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Parse with env %v: error = %v, want %q", tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse with env %v: %v", tt.env, err)
			}
			if c.NodeID != tt.wantNode || c.DisableRequestForwarding != tt.wantNoFwd {
				t.Errorf("Parse with env %v: (NodeID, DisableRequestForwarding) = (%q, %v), want (%q, %v)", tt.env, c.NodeID, c.DisableRequestForwarding, tt.wantNode, tt.wantNoFwd)
			}
		})
	}
}

// TestEnvFixesBrokenFileValue: an override replaces a file value that did
// not decode, so the file's problem is moot.
func TestEnvFixesBrokenFileValue(t *testing.T) {
	t.Parallel()
	src := base + "api_addr = 42\n"
	if _, err := Parse([]byte(src), "t.hcl", nil); err == nil {
		t.Fatalf("Parse(%q) without env = nil error, want one", src)
	}
	getenv := func(k string) string {
		if k == "COFFER_API_ADDR" {
			return "https://ok.example.com"
		}
		return ""
	}
	// The decode error is still reported: the file is wrong either way.
	_, err := Parse([]byte(src), "t.hcl", getenv)
	want := `t.hcl:3,12-14: api_addr: want a string, got number`
	if err == nil || err.Error() != want {
		t.Errorf("Parse(%q) with override = %v, want %q", src, err, want)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	const password = "hunter2-very-secret"
	p := PostgresStorage{ConnectionURL: Secret("postgres://u:" + password + "@db/x"), Table: "t", MaxParallel: 1}
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("cfg", "url", p.ConnectionURL, "storage", p)
	jsonOut, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs := map[string]string{
		"%v":    fmt.Sprintf("%v", p),
		"%+v":   fmt.Sprintf("%+v", p),
		"%#v":   fmt.Sprintf("%#v", p),
		"%s %q": fmt.Sprintf("%s %q", p.ConnectionURL, p.ConnectionURL),
		"slog":  logBuf.String(),
		"json":  string(jsonOut),
	}
	for name, out := range outputs {
		if strings.Contains(out, password) {
			t.Errorf("%s output %q contains the password", name, out)
		}
	}

	// A malformed connection string is reported without its value.
	src := "storage \"postgresql\" {\n  connection_url = \"mysql://u:" + password + "@db\"\n}\nlistener \"tcp\" {}\n"
	_, err = Parse([]byte(src), "t.hcl", nil)
	if err == nil {
		t.Fatalf("Parse(mysql URL) = nil error, want one")
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("Parse error %q contains the password", err)
	}
	if want := `t.hcl:2,20-54: connection_url in storage "postgresql" is neither a postgres:// URL nor a key=value connection string`; err.Error() != want {
		t.Errorf("Parse(mysql URL) error = %q, want %q", err, want)
	}
}

// TestValidateInCode covers a Config built without a file, as the server
// does for dev mode: problems are placed by key path.
func TestValidateInCode(t *testing.T) {
	t.Parallel()
	good := func() *Config {
		return &Config{
			Storage:         &Storage{Type: StorageInmem, Inmem: &InmemStorage{}},
			Listeners:       []Listener{tcp("127.0.0.1:0", func(l *Listener) { l.TLSDisable = true })},
			LogLevel:        LogInfo,
			LogFormat:       LogText,
			DefaultLeaseTTL: time.Hour,
			MaxLeaseTTL:     time.Hour,
			MaxRequestSize:  1,
		}
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string
	}{
		{"valid", func(c *Config) {}, ""},
		{"type mismatch", func(c *Config) { c.Storage.Type = StorageBolt }, `storage: storage type "bolt" must come with exactly its own settings`},
		{"two backends", func(c *Config) { c.Storage.Bolt = &BoltStorage{Path: "x"} }, `storage: storage type "inmem" must come with exactly its own settings`},
		{"no storage", func(c *Config) { c.Storage = nil }, `storage: missing storage block; add one such as storage "bolt" { path = "/var/lib/coffer/coffer.db" }`},
		{"zero defaults", func(c *Config) { c.LogLevel, c.MaxLeaseTTL = "", 0 }, "log_level: log_level \"\": want debug, info, warn or error\nmax_lease_ttl: max_lease_ttl must be set"},
		{"listener type", func(c *Config) { c.Listeners[0].Type = "udp" }, `listener[0]: listener type "udp": only "tcp" is supported`},
		{"listener address", func(c *Config) { c.Listeners[0].Address = "" }, `listener[0].address: address "" in listener "tcp": want host:port, such as 127.0.0.1:8200`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good()
			tt.modify(c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseDoesNotShareState(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "full.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(src, "full.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(src, "full.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Listeners[0].Address = "changed:1"
	a.Storage.Bolt.Path = "changed"
	if b.Listeners[0].Address == "changed:1" || b.Storage.Bolt.Path == "changed" {
		t.Errorf("two Parse results share memory")
	}
}

func TestParseAuditAndTelemetry(t *testing.T) {
	t.Parallel()
	src := `
storage "inmem" {}
listener "tcp" {}
audit_allowed_dirs = ["/var/log/coffer"]
cluster_addr = "https://10.0.0.5:8201"
disable_request_forwarding = true
telemetry {
  unauthenticated_metrics_access = true
  disable_hostname = true
}
audit "file" "main" {
  file_path = "/var/log/coffer/audit.log"
  mode = "0600"
  hmac_accessor = false
  witness_address = "/dev/log"
  witness_type = "syslog"
  witness_write_timeout = "1s"
}
audit "socket" "siem" {
  address = "127.0.0.1:9090"
  socket_type = "tcp"
  write_timeout = "2s"
}
`
	c, err := Parse([]byte(src), "t.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Telemetry.UnauthenticatedMetricsAccess || len(c.AuditAllowedDirs) != 1 || len(c.Audit) != 2 || c.ClusterAddr != "https://10.0.0.5:8201" || !c.DisableRequestForwarding {
		t.Fatalf("Parse = %+v", c)
	}
	if a := c.Audit[0]; a.Type != "file" || a.Path != "main" || a.FilePath != "/var/log/coffer/audit.log" || a.Mode != "0600" || a.HMACAccessor ||
		a.WitnessAddress != "/dev/log" || a.WitnessType != "syslog" || a.WitnessWriteTimeout != time.Second {
		t.Errorf("file device = %+v", a)
	}
	if a := c.Audit[1]; a.Type != "socket" || a.Address != "127.0.0.1:9090" || a.WriteTimeout != 2*time.Second || !a.HMACAccessor {
		t.Errorf("socket device = %+v", a)
	}
	for _, tt := range []struct{ src, want string }{
		{`audit "file" "x" {}`, "file_path is required"},
		{`audit "tape" "x" {}`, "unknown audit device type"},
		{`audit "file" {}`, "two labels"},
		{"audit \"file\" \"x\" {\n file_path = \"a\"\n mode = \"999\"\n}", "octal"},
		{"audit \"file\" \"x\" {\n file_path = \"a\"\n prefix = \"x\"\n}", `unknown key "prefix"`},
		{"audit \"file\" \"x\" {\n file_path = \"/l/{{host}}.log\"\n}", "unknown placeholder"},
		{"audit \"socket\" \"x\" {\n address = \"a\"\n socket_type = \"udp\"\n}", "want tcp or unix"},
		{`audit_allowed_dirs = ["relative"]`, "not an absolute path"},
		{"audit \"file\" \"x\" {\n file_path = \"a\"\n witness_address = \"b:1\"\n witness_type = \"udp\"\n}", "want tcp, unix or syslog"},
		{"audit \"file\" \"x\" {\n file_path = \"a\"\n witness_type = \"tcp\"\n}", "need witness_address"},
		{"audit \"socket\" \"x\" {\n address = \"a\"\n witness_address = \"b:1\"\n}", `unknown key "witness_address"`},
		{"audit \"file\" \"x\" {\n file_path = \"a\"\n}\naudit \"file\" \"x\" {\n file_path = \"b\"\n}", "already uses path"},
		{"telemetry {\n statsd_adress = \"x\"\n}", `unknown key "statsd_adress" in telemetry; did you mean "statsd_address"?`},
	} {
		_, err := Parse([]byte("storage \"inmem\" {}\nlistener \"tcp\" {}\n"+tt.src), "t.hcl", nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want one containing %q", tt.src, err, tt.want)
		}
	}
}

func TestSeals(t *testing.T) {
	t.Parallel()
	base := "storage \"inmem\" {}\nlistener \"tcp\" {}\n"
	transit := base + "seal \"transit\" {\n  address = \"https://file:8200\"\n  token = \"file-token\"\n  key_name = \"k\"\n  mount_path = \"unseal/\"\n  tls_skip_verify = \"false\"\n}\n" +
		"seal \"shamir\" {\n  disabled = \"true\"\n}\n"
	tests := []struct {
		name         string
		src          string
		env          map[string]string
		want, wantDi *Seal
	}{
		{
			name:   "transit from the file, migrating from shamir",
			src:    transit,
			want:   &Seal{Type: SealTransit, Transit: &TransitSeal{Address: "https://file:8200", Token: "file-token", KeyName: "k", MountPath: "unseal/"}},
			wantDi: &Seal{Type: SealShamir, Disabled: true},
		},
		{
			name: "Vault's environment variables win",
			src:  transit,
			env: map[string]string{"VAULT_ADDR": "http://env:8200", "VAULT_TOKEN": "env-token", "VAULT_TRANSIT_SEAL_KEY_NAME": "ek",
				"VAULT_TRANSIT_SEAL_MOUNT_PATH": "em", "VAULT_TRANSIT_SEAL_DISABLE_RENEWAL": "true", "VAULT_CACERT": "/ca.pem",
				"VAULT_CLIENT_CERT": "/c.pem", "VAULT_CLIENT_KEY": "/k.pem", "VAULT_TLS_SERVER_NAME": "v", "VAULT_SKIP_VERIFY": "1"},
			want: &Seal{Type: SealTransit, Transit: &TransitSeal{Address: "http://env:8200", Token: "env-token", KeyName: "ek", MountPath: "em",
				DisableRenewal: true, TLSCACert: "/ca.pem", TLSClientCert: "/c.pem", TLSClientKey: "/k.pem", TLSServerName: "v", TLSSkipVerify: true}},
			wantDi: &Seal{Type: SealShamir, Disabled: true},
		},
		{
			name: "disabled static first, back to shamir",
			src: base + "seal \"static\" {\n  disabled = true\n  current_key_id = \"1\"\n  current_key = \"file:///k\"\n  previous_key_id = \"0\"\n  previous_key = \"env://OLD\"\n}\n" +
				"seal \"shamir\" {}\n",
			want:   &Seal{Type: SealShamir},
			wantDi: &Seal{Type: SealStatic, Disabled: true, Static: &StaticSeal{CurrentKeyID: "1", CurrentKey: "file:///k", PreviousKeyID: "0", PreviousKey: "env://OLD"}},
		},
		{
			name: "pkcs11",
			src:  base + "seal \"pkcs11\" {\n  lib = \"/usr/lib/softhsm.so\"\n  slot = \"0\"\n  token_label = \"t\"\n  pin = \"1234\"\n  key_label = \"k\"\n  mechanism = \"CKM_AES_GCM\"\n}\n",
			want: &Seal{Type: SealPKCS11, PKCS11: &PKCS11Seal{Lib: "/usr/lib/softhsm.so", Slot: "0", TokenLabel: "t", PIN: "1234", KeyLabel: "k", Mechanism: "CKM_AES_GCM"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.src), "t.hcl", func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, c.Seal); diff != "" {
				t.Errorf("Seal mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDi, c.DisabledSeal); diff != "" {
				t.Errorf("DisabledSeal mismatch (-want +got):\n%s", diff)
			}
		})
	}
	_, err := Parse([]byte(transit), "t.hcl", func(k string) string {
		if k == "VAULT_SKIP_VERIFY" {
			return "maybe"
		}
		return ""
	})
	if want := `environment variable VAULT_SKIP_VERIFY: tls_skip_verify: want true or false, got "maybe"`; err == nil || err.Error() != want {
		t.Errorf("Parse with a bad VAULT_SKIP_VERIFY = %v, want %q", err, want)
	}
}

func TestParseSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want *Snapshot
		err  string
	}{
		{"none", "", nil, ""},
		{"full", "snapshot {\n interval = \"1h\"\n retain = 24\n path = \"/var/lib/coffer/snaps\"\n}\n", &Snapshot{Interval: time.Hour, Retain: 24, Path: "/var/lib/coffer/snaps"}, ""},
		{"seconds and default retain", "snapshot {\n interval = 90\n path = \"s\"\n}\n", &Snapshot{Interval: 90 * time.Second, Retain: DefaultSnapshotRetain, Path: "s"}, ""},
		{"no interval", "snapshot {\n path = \"s\"\n}\n", nil, "interval must be a positive duration"},
		{"negative retain", "snapshot {\n interval = \"1h\"\n retain = -1\n path = \"s\"\n}\n", nil, "retain -1 must be at least 1"},
		{"no path", "snapshot {\n interval = \"1h\"\n}\n", nil, "path (the directory to write snapshots to) is required"},
		{"typo", "snapshot {\n interval = \"1h\"\n path = \"s\"\n retian = 2\n}\n", nil, `unknown key "retian" in snapshot; did you mean "retain"?`},
		{"label", "snapshot \"x\" {\n interval = \"1h\"\n path = \"s\"\n}\n", nil, "takes no label"},
		{"two blocks", "snapshot {\n interval = \"1h\"\n path = \"s\"\n}\nsnapshot {\n interval = \"1h\"\n path = \"s\"\n}\n", nil, "second snapshot block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(base+tt.src), "t.hcl", nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %v, want an error containing %q", tt.src, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.src, err)
			}
			if diff := cmp.Diff(tt.want, c.Snapshot); diff != "" {
				t.Errorf("Parse(%q).Snapshot (-want +got):\n%s", tt.src, diff)
			}
		})
	}
}
