package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/hashicorp/vault/api"
)

// writeConfig writes an HCL file in a new temporary directory and
// returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "coffer.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir and returns their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "coffer.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// initUnseal initializes s with one key share, unseals it and gives its
// client the root token.
func initUnseal(t *testing.T, s *server) {
	t.Helper()
	res, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	if st, err := s.Client.Sys().Unseal(res.KeysB64[0]); err != nil || st.Sealed {
		t.Fatalf("unseal: %+v, %v", st, err)
	}
	s.Client.SetToken(res.RootToken)
}

// wantLogOnce checks that the server log has exactly one warning for key.
func wantLogOnce(t *testing.T, log, key string) {
	t.Helper()
	if n := strings.Count(log, `msg="ignored configuration key" key=`+key+" "); n != 1 {
		t.Errorf("the log has %d warnings for %s, want 1:\n%s", n, key, log)
	}
}

// TestVaultProductionConfigStarts starts the server on a configuration
// as a Vault operator with Shamir key shares writes it: TLS listener
// options, file storage, seal "shamir", telemetry, api_addr,
// cluster_addr, ui, disable_mlock, plugin_directory. It starts, warns
// once per key it ignores, shows api_addr in its banner and serves.
func TestVaultProductionConfigStarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	addr, plain := freeAddr(t), freeAddr(t)
	pidFile := filepath.Join(dir, "coffer.pid")
	src := fmt.Sprintf(`
ui            = true
disable_mlock = true
cluster_name  = "prod-east"
api_addr      = "https://coffer.example.com:8200"
cluster_addr  = "https://10.0.0.5:8201"
plugin_directory = "/etc/vault/plugins"
pid_file      = %q
enable_response_header_hostname = true
default_lease_ttl = "768h"
max_lease_ttl     = "8760h"

storage "file" {
  path = %q
}

listener "tcp" {
  address                            = %q
  tls_cert_file                      = %q
  tls_key_file                       = %q
  tls_min_version                    = "tls12"
  tls_cipher_suites                  = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
  tls_prefer_server_cipher_suites    = true
  tls_require_and_verify_client_cert = false
  x_forwarded_for_authorized_addrs   = "10.0.0.0/8"
  x_forwarded_for_hop_skips          = "0"
  x_forwarded_for_reject_not_authorized = true
  x_forwarded_for_reject_not_present    = false
}

listener "tcp" {
  address          = %q
  tls_disable      = true
  max_request_size = 1024
  telemetry {
    unauthenticated_metrics_access = true
  }
}

seal "shamir" {}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
  statsd_address            = "127.0.0.1:8125"
}
`, pidFile, filepath.Join(dir, "data"), addr, cert, key, plain)
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := startProcess(t, []string{"server", "-config", writeConfig(t, src)}, nil, "https://"+addr)

	banner := s.Stdout.String()
	for _, want := range []string{
		"Api Address: https://coffer.example.com:8200\n",
		"Listener:    https://" + addr + "\n",
		"Listener:    http://" + plain + "\n",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner does not contain %q:\n%s", want, banner)
		}
	}
	log := s.Stderr.String()
	for _, k := range []string{
		"disable_mlock", "plugin_directory", "cluster_addr", "tls_prefer_server_cipher_suites",
		"x_forwarded_for_authorized_addrs", "x_forwarded_for_hop_skips", "prometheus_retention_time",
		"disable_hostname", "statsd_address",
	} {
		wantLogOnce(t, log, k)
	}
	if pid, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(s.cmd.Process.Pid) {
		t.Errorf("pid_file holds %q (%v), want %d", pid, err, s.cmd.Process.Pid)
	}

	initUnseal(t, s)
	// ui = true serves the web UI beside the API.
	if page := s.raw(t, "GET", "/ui/", "", ""); page.Status != 200 || !strings.Contains(page.Body, "app.js") {
		t.Errorf("GET /ui/ = %d %.80s, want 200 and the UI's index.html", page.Status, page.Body)
	}
	health := s.raw(t, "GET", "/v1/sys/health", "", "")
	if health.Status != 200 || !strings.Contains(health.Body, `"cluster_name":"prod-east"`) {
		t.Errorf("sys/health = %d %s, want 200 with cluster_name prod-east", health.Status, health.Body)
	}
	if h := health.Header.Get("X-Vault-Hostname"); h == "" {
		t.Errorf("no X-Vault-Hostname header with enable_response_header_hostname")
	}
	if err := s.Client.Sys().Mount("kv", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount kv: %v", err)
	}
	if _, err := s.Client.KVv2("kv").Put(t.Context(), "app", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("kv put over TLS: %v", err)
	}

	// The plain listener has its own body limit and opens sys/metrics.
	p := &server{Addr: "http://" + plain}
	token := s.Client.Token()
	big := fmt.Sprintf(`{"data":{"k":%q}}`, strings.Repeat("x", 2048))
	if r := p.raw(t, "POST", "/v1/kv/data/big", token, big); r.Status != 413 {
		t.Errorf("2 KiB body on a listener with max_request_size 1024: %d %s, want 413", r.Status, r.Body)
	}
	if r := s.raw(t, "POST", "/v1/kv/data/big", token, big); r.Status != 200 {
		t.Errorf("2 KiB body on the TLS listener: %d %s, want 200", r.Status, r.Body)
	}
	if r := p.raw(t, "GET", "/v1/sys/metrics?format=prometheus", "", ""); r.Status != 200 {
		t.Errorf("sys/metrics without a token on the listener that opens it: %d, want 200", r.Status)
	}
	if r := s.raw(t, "GET", "/v1/sys/metrics?format=prometheus", "", ""); r.Status == 200 {
		t.Errorf("sys/metrics without a token on the TLS listener: 200, want a refusal")
	}

	s.stop()
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid_file after stop: %v, want it removed", err)
	}
}

// TestVaultHAConfigStarts starts a Vault HA configuration (PostgreSQL with
// ha_enabled, a listener with cluster_address, no cluster_addr) and checks
// that the node announces the cluster listener it bound there.
func TestVaultHAConfigStarts(t *testing.T) {
	t.Parallel()
	db := testdb.New(t, testdb.Postgres)
	addr, cluster := freeAddr(t), freeAddr(t)
	src := fmt.Sprintf(`
api_addr = "http://%s"

storage "postgresql" {
  connection_url       = "postgres://postgres@127.0.0.1:5432/%s?sslmode=disable"
  ha_enabled           = "true"
  ha_table             = "vault_ha_locks"
  max_idle_connections = 4
}

listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
`, addr, db.Name, addr, cluster)
	s := startProcess(t, []string{"server", "-config", writeConfig(t, src)}, []string{"COFFER_CLUSTER_ADDR=", "VAULT_CLUSTER_ADDR="}, "http://"+addr)
	if want := "Cluster:     https://" + cluster + "\n"; !strings.Contains(s.Stdout.String(), want) {
		t.Errorf("banner does not contain %q:\n%s", want, s.Stdout)
	}
	wantLogOnce(t, s.Stderr.String(), "ha_table")
	wantLogOnce(t, s.Stderr.String(), "max_idle_connections")
	initUnseal(t, s)
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := s.Client.Sys().Leader()
		if err == nil && l.IsSelf && l.LeaderClusterAddress == "https://"+cluster {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sys/leader = %+v, %v; want this node active with leader_cluster_address https://%s", l, err, cluster)
		}
		time.Sleep(50 * time.Millisecond) // polling for the election
	}
}

// TestConfigErrorsStopTheServer: a typo, or a Vault key Coffer cannot
// honour, stops the server with an error naming the file, line and key.
func TestConfigErrorsStopTheServer(t *testing.T) {
	t.Parallel()
	const base = "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n}\n"
	tests := []struct {
		name, src string
		words     []string
	}{
		{"block typo", "storage \"inmem\" {}\nlistner \"tcp\" {}\nlistener \"tcp\" {}\n", []string{`coffer.hcl:2,1-8: unknown block "listner"; did you mean "listener"?`}},
		{"top-level typo", base + "disable_mlok = true\n", []string{`coffer.hcl:5,1-13: unknown key "disable_mlok"; did you mean "disable_mlock"?`}},
		{"listener typo", "storage \"inmem\" {}\nlistener \"tcp\" {\n  cluster_adress = \"127.0.0.1:0\"\n}\n", []string{`coffer.hcl:3,3-17: unknown key "cluster_adress" in listener "tcp"; did you mean "cluster_address"?`}},
		{"telemetry typo", base + "telemetry {\n  statsd_adress = \"x:1\"\n}\n", []string{`unknown key "statsd_adress" in telemetry; did you mean "statsd_address"?`}},
		{"cloud seal", base + "seal \"awskms\" {\n  region = \"us-east-1\"\n  kms_key_id = \"k\"\n}\n", []string{`coffer.hcl:5,6-14: seal type "awskms" is not supported`, `shamir, static, transit or pkcs11`}},
		{"ha_storage", base + "ha_storage \"consul\" {}\n", []string{`ha_storage is not supported`}},
		{"raft", "storage \"raft\" {\n  path = \"/x\"\n}\nlistener \"tcp\" {}\n", []string{`storage type "raft" is not supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCoffer(t, "", nil, "server", "-config", writeConfig(t, tt.src))
			if code != 1 {
				t.Errorf("exit code %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, w := range tt.words {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestDevWithConfig: -dev with -config (in both flag forms) runs dev mode
// with the file's TLS listener and audit device, on in-memory storage.
func TestDevWithConfig(t *testing.T) {
	t.Parallel()
	for _, form := range [][]string{{"-dev", "-config"}, {"--dev", "--config"}} {
		t.Run(strings.Join(form, " "), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tlsAddr := freeAddr(t)
			auditLog := filepath.Join(dir, "audit.log")
			src := fmt.Sprintf(`
storage "bolt" {
  path = %q
}
listener "tcp" {
  address = %q
}
audit "file" "main" {
  file_path = %q
}
`, filepath.Join(dir, "never.db"), tlsAddr, auditLog)
			cfg := writeConfig(t, src)
			devAddr := freeAddr(t)
			args := []string{"server", form[0], form[1], cfg, "-dev-root-token-id=" + rootToken, "-listen=" + devAddr}
			if strings.HasPrefix(form[1], "--") {
				args = []string{"server", form[0], form[1] + "=" + cfg, "--dev-root-token-id=" + rootToken, "--dev-listen-address=" + devAddr}
			}
			s := startProcess(t, args, nil, "http://"+devAddr)
			s.Client.SetToken(rootToken)
			if _, err := s.Client.KVv2("secret").Put(t.Context(), "dev", map[string]any{"a": "1"}); err != nil {
				t.Fatalf("kv put on the dev listener: %v", err)
			}
			// The file's TLS listener (local CA) serves the same server.
			tl := &server{Addr: "https://" + tlsAddr}
			if r := tl.raw(t, "GET", "/v1/secret/data/dev", rootToken, ""); r.Status != 200 || !strings.Contains(r.Body, `"a":"1"`) {
				t.Errorf("read over the file's TLS listener: %d %s", r.Status, r.Body)
			}
			audits, err := s.Client.Sys().ListAudit()
			if err != nil || audits["main/"] == nil {
				t.Errorf("audit devices = %v, %v; want the file's main/", audits, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "never.db")); !os.IsNotExist(err) {
				t.Errorf("the file's bolt storage was opened in dev mode: %v", err)
			}
			if !strings.Contains(s.Stderr.String(), "storage is replaced by in-memory storage") {
				t.Errorf("no log line says the storage was replaced:\n%s", s.Stderr)
			}
			for _, want := range []string{"Root Token:  " + rootToken, "Listener:    https://" + tlsAddr} {
				if !strings.Contains(s.Stdout.String(), want) {
					t.Errorf("banner does not contain %q:\n%s", want, s.Stdout)
				}
			}
		})
	}
}

// TestUserLockoutFromConfig: the server-wide user_lockout blocks apply, a
// method's block over "all", and an auth mount's tune over both.
func TestUserLockoutFromConfig(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, fmt.Sprintf(`
storage "inmem" {}
listener "tcp" {
  address     = %q
  tls_disable = true
}
user_lockout "all" {
  lockout_threshold = 7
}
user_lockout "userpass" {
  lockout_threshold = 2
  lockout_duration  = "1h"
}
`, freeAddr(t)))
	s := startDev(t, "-config="+cfg)
	if strings.Contains(s.Stderr.String(), "user_lockout") {
		t.Errorf("user_lockout was reported as ignored:\n%s", s.Stderr)
	}
	c := s.Client
	for _, path := range []string{"userpass", "tuned"} {
		if err := c.Sys().EnableAuthWithOptions(path, &api.EnableAuthOptions{Type: "userpass"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Logical().Write("auth/"+path+"/users/ann", map[string]any{"password": "right-password"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Logical().Write("sys/auth/tuned/tune", map[string]any{"user_lockout_config": map[string]any{"lockout_threshold": 4}}); err != nil {
		t.Fatal(err)
	}
	login := func(path, pw string) error {
		_, err := c.Logical().Write("auth/"+path+"/login/ann", map[string]any{"password": pw})
		return err
	}
	tests := []struct {
		path  string
		fails int // failed logins that lock ann out
	}{
		{"userpass", 2}, // the userpass block over "all"
		{"tuned", 4},    // the mount's tune over the blocks
	}
	for _, tt := range tests {
		for i := 1; i < tt.fails; i++ {
			wantError(t, tt.path+": failed login", login(tt.path, "wrong"), 400, "invalid username or password")
		}
		if err := login(tt.path, "right-password"); err != nil {
			t.Errorf("%s: a good login after %d failures (one short of the threshold): %v", tt.path, tt.fails-1, err)
		}
		for i := 0; i < tt.fails; i++ {
			wantError(t, tt.path+": failed login", login(tt.path, "wrong"), 400, "invalid username or password")
		}
		wantError(t, tt.path+": right password while locked out", login(tt.path, "right-password"), 403, "permission denied")
	}
}
