package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// localCA creates a local CA in a temporary directory, valid now.
func localCA(t *testing.T, hosts ...string) Paths {
	t.Helper()
	p, err := EnsureLocalCA(t.TempDir(), hosts, time.Now())
	if err != nil {
		t.Fatalf("EnsureLocalCA: %v", err)
	}
	return p
}

// caPool returns a pool holding only the CA certificate in p.
func caPool(t *testing.T, p Paths) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(readCert(t, p.CACert))
	return pool
}

// serve runs a TLS server with cfg on a loopback port. After each
// successful handshake it writes "ok" and closes the connection. It
// returns the address.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("tls.Listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() == nil {
					_, _ = tc.Write([]byte("ok"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects to addr with cfg and reads the server's "ok", so that a
// client certificate the server rejects after a TLS 1.3 handshake shows up
// as an error too.
func dial(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	p := localCA(t, "coffer.test")
	serverCfg, _, err := ServerConfig(p.Cert, p.Key, ServerOptions{})
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	addr := serve(t, serverCfg)
	roots := caPool(t, p)

	tests := []struct {
		name        string
		client      *tls.Config
		wantVersion uint16 // 0: the handshake must fail
	}{
		{"by name", &tls.Config{RootCAs: roots, ServerName: "coffer.test"}, tls.VersionTLS13},
		{"localhost", &tls.Config{RootCAs: roots, ServerName: "localhost"}, tls.VersionTLS13},
		{"by IP", &tls.Config{RootCAs: roots}, tls.VersionTLS13},
		{"TLS 1.2 client", &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12}, tls.VersionTLS12},
		{"name not in certificate", &tls.Config{RootCAs: roots, ServerName: "other.test"}, 0},
		{"CA not trusted", &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "localhost"}, 0},
		{"TLS 1.1 client", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, 0},
		{
			name: "TLS 1.2 client with CBC suites only",
			client: &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state, err := dial(addr, tt.client)
			if tt.wantVersion == 0 {
				if err == nil {
					t.Fatalf("handshake succeeded with %s (suite %s), want failure", tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
				}
				t.Logf("handshake failed as it should: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if state.Version != tt.wantVersion {
				t.Errorf("version = %s, want %s", tls.VersionName(state.Version), tls.VersionName(tt.wantVersion))
			}
			if state.Version == tls.VersionTLS12 && !slices.Contains(cipherSuites(), state.CipherSuite) {
				t.Errorf("negotiated %s, not one of the configured suites", tls.CipherSuiteName(state.CipherSuite))
			}
		})
	}
}

func TestHandshakeTLS13Only(t *testing.T) {
	t.Parallel()
	p := localCA(t)
	serverCfg, _, err := ServerConfig(p.Cert, p.Key, ServerOptions{MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	addr := serve(t, serverCfg)
	roots := caPool(t, p)
	if _, err := dial(addr, &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12}); err == nil {
		t.Errorf("TLS 1.2 client accepted by a TLS 1.3-only server")
	}
	state, err := dial(addr, &tls.Config{RootCAs: roots})
	if err != nil || state.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3 client: version %s, error %v; want TLS 1.3", tls.VersionName(state.Version), err)
	}
}

// clientCert issues a client certificate from the local CA in p.
func clientCert(t *testing.T, p Paths) tls.Certificate {
	t.Helper()
	block, err := readPEM(filepath.Join(filepath.Dir(p.CACert), caKeyName), "PRIVATE KEY")
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, readCert(t, p.CACert), key.Public(), caKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestClientCertificates(t *testing.T) {
	t.Parallel()
	server := localCA(t)
	clients := localCA(t)  // the CA client certificates come from
	stranger := localCA(t) // a CA the server does not trust
	roots := caPool(t, server)
	good := clientCert(t, clients)
	bad := clientCert(t, stranger)

	tests := []struct {
		name   string
		opts   ServerOptions
		cert   *tls.Certificate
		wantOK bool
	}{
		{"no client CA, no cert", ServerOptions{}, nil, true},
		{"no client CA, any cert", ServerOptions{}, &bad, true},
		{"optional, no cert", ServerOptions{ClientCAFile: clients.CACert}, nil, true},
		{"optional, good cert", ServerOptions{ClientCAFile: clients.CACert}, &good, true},
		{"optional, untrusted cert", ServerOptions{ClientCAFile: clients.CACert}, &bad, false},
		{"required, no cert", ServerOptions{ClientCAFile: clients.CACert, RequireClientCert: true}, nil, false},
		{"required, good cert", ServerOptions{ClientCAFile: clients.CACert, RequireClientCert: true}, &good, true},
		{"required, untrusted cert", ServerOptions{ClientCAFile: clients.CACert, RequireClientCert: true}, &bad, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, _, err := ServerConfig(server.Cert, server.Key, tt.opts)
			if err != nil {
				t.Fatalf("ServerConfig(%+v): %v", tt.opts, err)
			}
			addr := serve(t, cfg)
			client := &tls.Config{RootCAs: roots, ServerName: "localhost"}
			if tt.cert != nil {
				client.Certificates = []tls.Certificate{*tt.cert}
			}
			_, err = dial(addr, client)
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Errorf("connection succeeded = %v (error %v), want %v", gotOK, err, tt.wantOK)
			}
		})
	}
}

func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := EnsureLocalCA(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg, r, err := ServerConfig(p.Cert, p.Key, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, cfg)
	roots := caPool(t, p)
	serial := func(name string) string {
		t.Helper()
		state, err := dial(addr, &tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Fatalf("dial as %q: %v", name, err)
		}
		return state.PeerCertificates[0].SerialNumber.String()
	}
	first := serial("localhost")

	// New files on disk are not served until Reload.
	if _, err := EnsureLocalCA(dir, []string{"added.test"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := serial("localhost"); got != first {
		t.Errorf("serial before Reload = %s, want the first certificate's %s", got, first)
	}
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	second := serial("added.test")
	if second == first {
		t.Errorf("serial after Reload = %s, want a new certificate", second)
	}
	if got := r.Leaf().SerialNumber.String(); got != second {
		t.Errorf("Leaf().SerialNumber = %s, want %s", got, second)
	}

	// A broken key keeps the pair in use.
	keyPEM, err := os.ReadFile(p.Key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p.Key, []byte("not a key"))
	err = r.Reload()
	if err == nil {
		t.Fatalf("Reload with a broken key = nil, want an error")
	}
	if strings.Contains(err.Error(), string(keyPEM)) {
		t.Errorf("Reload error holds key material: %v", err)
	}
	if got := serial("added.test"); got != second {
		t.Errorf("serial after failed Reload = %s, want %s kept", got, second)
	}
}

func TestServerConfigSettings(t *testing.T) {
	t.Parallel()
	p := localCA(t)
	tests := []struct {
		name           string
		opts           ServerOptions
		wantMin        uint16
		wantClientAuth tls.ClientAuthType
	}{
		{"defaults", ServerOptions{}, tls.VersionTLS12, tls.NoClientCert},
		{"tls13", ServerOptions{MinVersion: tls.VersionTLS13}, tls.VersionTLS13, tls.NoClientCert},
		{"optional client certs", ServerOptions{ClientCAFile: p.CACert}, tls.VersionTLS12, tls.VerifyClientCertIfGiven},
		{"required client certs", ServerOptions{ClientCAFile: p.CACert, RequireClientCert: true}, tls.VersionTLS12, tls.RequireAndVerifyClientCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, _, err := ServerConfig(p.Cert, p.Key, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tt.wantMin || cfg.ClientAuth != tt.wantClientAuth {
				t.Errorf("MinVersion %s, ClientAuth %v; want %s, %v", tls.VersionName(cfg.MinVersion), cfg.ClientAuth, tls.VersionName(tt.wantMin), tt.wantClientAuth)
			}
			if (cfg.ClientCAs != nil) != (tt.opts.ClientCAFile != "") {
				t.Errorf("ClientCAs set = %v, want %v", cfg.ClientCAs != nil, tt.opts.ClientCAFile != "")
			}
			for _, s := range cfg.CipherSuites {
				name := tls.CipherSuiteName(s)
				if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
					t.Errorf("cipher suite %s is not ECDHE with an AEAD", name)
				}
			}
			if len(cfg.CipherSuites) == 0 {
				t.Errorf("no cipher suites configured; want an explicit AEAD list")
			}
		})
	}
}

func TestServerConfigErrors(t *testing.T) {
	t.Parallel()
	p := localCA(t)
	other := localCA(t)
	empty := filepath.Join(t.TempDir(), "empty.pem")
	writeFile(t, empty, pem.EncodeToMemory(&pem.Block{Type: "NOT A CERT", Bytes: []byte{1}}))
	tests := []struct {
		name    string
		cert    string
		key     string
		opts    ServerOptions
		wantErr string
	}{
		{"missing certificate", filepath.Join(t.TempDir(), "nope.pem"), p.Key, ServerOptions{}, "load certificate"},
		{"key of another certificate", p.Cert, other.Key, ServerOptions{}, "private key does not match public key"},
		{"TLS 1.1", p.Cert, p.Key, ServerOptions{MinVersion: tls.VersionTLS11}, "unsupported minimum version 0x0302"},
		{"required without CA", p.Cert, p.Key, ServerOptions{RequireClientCert: true}, "needs a client CA file"},
		{"CA file without certificates", p.Cert, p.Key, ServerOptions{ClientCAFile: empty}, "no certificates in client CA file"},
		{"CA file missing", p.Cert, p.Key, ServerOptions{ClientCAFile: filepath.Join(t.TempDir(), "nope.pem")}, "read client CA file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, r, err := ServerConfig(tt.cert, tt.key, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ServerConfig error = %v, want one containing %q", err, tt.wantErr)
			}
			if cfg != nil || r != nil {
				t.Errorf("ServerConfig returned a config or reloader with error %v", err)
			}
		})
	}
}

// BenchmarkEnsureLocalCAReuse measures the start-up cost when the files
// are already current.
func BenchmarkEnsureLocalCAReuse(b *testing.B) {
	dir := b.TempDir()
	if _, err := EnsureLocalCA(dir, []string{"coffer.test"}, time.Now()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := EnsureLocalCA(dir, []string{"coffer.test"}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMaxVersionAndSuites: a TLS 1.2 maximum and a narrowed suite list are
// what the server negotiates; suites outside the allowed set are refused.
func TestMaxVersionAndSuites(t *testing.T) {
	t.Parallel()
	p := localCA(t)
	want := tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	serverCfg, _, err := ServerConfig(p.Cert, p.Key, ServerOptions{
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256, want},
	})
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	addr := serve(t, serverCfg)
	state, err := dial(addr, &tls.Config{RootCAs: caPool(t, p)})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if state.Version != tls.VersionTLS12 || state.CipherSuite != want {
		t.Errorf("negotiated %s with %s, want TLS 1.2 with %s", tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite), tls.CipherSuiteName(want))
	}

	for _, tt := range []struct {
		name string
		opts ServerOptions
		want string
	}{
		{"CBC suite", ServerOptions{CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not allowed"},
		{"max below min", ServerOptions{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12}, "below the minimum"},
		{"TLS 1.1 max", ServerOptions{MaxVersion: tls.VersionTLS11}, "unsupported maximum version"},
	} {
		if _, _, err := ServerConfig(p.Cert, p.Key, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ServerConfig error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
