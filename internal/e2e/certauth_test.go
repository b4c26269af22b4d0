package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCertLoginOverTLS runs a Coffer server process whose listener asks
// for client certificates, with certificates from another Coffer's PKI
// engine, and logs in with the cert auth method over that connection.
func TestCertLoginOverTLS(t *testing.T) {
	t.Parallel()
	ca := testserver.Start(t)
	root := pkiSetUp(t, ca.Client)
	rootPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}))
	srvCert := mustWrite(t, ca.Client, "pki_int/issue/svc", map[string]any{"common_name": "coffer.svc.local", "ip_sans": "127.0.0.1"})
	clientCert := issue(t, ca.Client, map[string]any{"common_name": "app.svc.local", "uri_sans": "spiffe://cluster/ns/prod/sa/app"})

	dir := t.TempDir()
	certFile := writeFile(t, dir, "server.pem", srvCert.Data["certificate"].(string)+"\n"+srvCert.Data["issuing_ca"].(string)+"\n")
	keyFile := writeFile(t, dir, "server-key.pem", srvCert.Data["private_key"].(string)+"\n")
	caFile := writeFile(t, dir, "ca.pem", rootPEM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := writeFile(t, dir, "coffer.hcl", fmt.Sprintf(`storage "inmem" {}
listener "tcp" {
  address            = %q
  tls_cert_file      = %q
  tls_key_file       = %q
  tls_client_ca_file = %q
}
`, addr, certFile, keyFile, caFile))
	cmd := exec.Command(cofferBin, "server", "-config", cfg)
	cmd.Dir = dir // not the package's folder: the server may make its data directory there
	logf, _ := os.Create(filepath.Join(dir, "server.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	roots := x509.NewCertPool()
	roots.AddCert(root)
	newClient := func(certs []tls.Certificate) *api.Client {
		conf := api.DefaultConfig()
		conf.Address = "https://" + addr
		conf.MaxRetries = 0
		tr := conf.HttpClient.Transport.(*http.Transport)
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12}
		cl, err := api.NewClient(conf)
		if err != nil {
			t.Fatal(err)
		}
		cl.ClearToken()
		return cl
	}
	admin := newClient(nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := admin.Sys().SealStatus(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("server did not start:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond) // waiting for the child process to listen
	}
	init, err := admin.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Sys().Unseal(init.Keys[0]); err != nil {
		t.Fatal(err)
	}
	admin.SetToken(init.RootToken)
	if err := admin.Sys().EnableAuthWithOptions("cert", &api.EnableAuthOptions{Type: "cert"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, admin, "auth/cert/certs/workloads", map[string]any{
		"certificate": rootPEM, "allowed_uri_sans": "spiffe://cluster/ns/prod/sa/*", "token_policies": "default",
	})

	// Log in over the connection that presented the client certificate.
	sec, err := newClient([]tls.Certificate{clientCert.cert}).Logical().Write("auth/cert/login", nil)
	if err != nil {
		out, _ := os.ReadFile(logf.Name())
		t.Fatalf("cert login: %v\n%s", err, out)
	}
	if sec.Auth == nil || sec.Auth.Metadata["common_name"] != "app.svc.local" || !strings.HasPrefix(sec.Auth.ClientToken, "cfs.") {
		t.Fatalf("cert login auth = %+v", sec.Auth)
	}
	// Without a certificate: refused.
	if _, err := newClient(nil).Logical().Write("auth/cert/login", nil); statusCode(err) != 400 {
		t.Errorf("login without a certificate: %v, want 400", err)
	}
	// A certificate outside the allowed SPIFFE IDs: refused.
	other := issue(t, ca.Client, map[string]any{"common_name": "x.svc.local", "uri_sans": "spiffe://cluster/ns/dev/sa/app"})
	if _, err := newClient([]tls.Certificate{other.cert}).Logical().Write("auth/cert/login", nil); statusCode(err) != 400 ||
		!strings.Contains(err.Error(), "no chain matching all constraints") {
		t.Errorf("login with a certificate outside the role: %v, want Vault's 400", err)
	}
	// Incident response: containing the certificate's serial revokes its
	// token and denies the certificate at login until release.
	leaf, err := x509.ParseCertificate(clientCert.cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	certToken := sec.Auth.ClientToken
	inc := mustWrite(t, admin, "sys/incident/contain", map[string]any{"cert_serial": leaf.SerialNumber.String()})
	certUser := newClient(nil)
	certUser.SetToken(certToken)
	if _, err := certUser.Auth().Token().LookupSelf(); statusCode(err) != 403 {
		t.Errorf("the contained certificate's token: %v, want 403", err)
	}
	if _, err := newClient([]tls.Certificate{clientCert.cert}).Logical().Write("auth/cert/login", nil); statusCode(err) != 403 {
		t.Errorf("login with a denied certificate serial: %v, want 403", err)
	}
	mustWrite(t, admin, "sys/incident/release", map[string]any{"id": inc.Data["id"]})
	if _, err := newClient([]tls.Certificate{clientCert.cert}).Logical().Write("auth/cert/login", nil); err != nil {
		t.Errorf("cert login after release: %v", err)
	}
	// The listener refuses TLS 1.1.
	old := &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}
	if c, err := tls.Dial("tcp", addr, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 client was accepted")
	}
}
