package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestCertificateReloadOnSIGHUP replaces the listener's certificate files
// and sends SIGHUP: new connections get the new certificate, and a
// connection opened before keeps working.
func TestCertificateReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	ca := testserver.Start(t)
	root := pkiSetUp(t, ca.Client)
	newPair := func(cn string) (string, string) {
		sec := mustWrite(t, ca.Client, "pki_int/issue/svc", map[string]any{"common_name": cn, "ip_sans": "127.0.0.1"})
		return sec.Data["certificate"].(string) + "\n" + sec.Data["issuing_ca"].(string) + "\n", sec.Data["private_key"].(string) + "\n"
	}
	dir := t.TempDir()
	cert1, key1 := newPair("first.svc.local")
	certFile := writeFile(t, dir, "server.pem", cert1)
	keyFile := writeFile(t, dir, "server-key.pem", key1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := writeFile(t, dir, "coffer.hcl", fmt.Sprintf("storage \"inmem\" {}\nlistener \"tcp\" {\n address = %q\n tls_cert_file = %q\n tls_key_file = %q\n}\n", addr, certFile, keyFile))
	cmd := exec.Command(cofferBin, "server", "-config", cfg)
	cmd.Dir = dir // not the package's folder: the server may make its data directory there
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	roots := x509.NewCertPool()
	roots.AddCert(root)
	served := func() (string, error) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if cn, err := served(); err == nil {
			if cn != "first.svc.local" {
				t.Fatalf("served %q", cn)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond) // waiting for the child process to listen
	}
	// A keep-alive connection opened before the reload.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 1}
	cl := &http.Client{Transport: tr}
	get := func() error {
		resp, err := cl.Get("https://" + addr + "/v1/sys/seal-status")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	cert2, key2 := newPair("second.svc.local")
	writeFile(t, dir, "server.pem", cert2)
	writeFile(t, dir, "server-key.pem", key2)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		cn, err := served()
		if err == nil && cn == "second.svc.local" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still get %q (%v)", cn, err)
		}
		time.Sleep(20 * time.Millisecond) // the reload happens when the process handles SIGHUP
	}
	if err := get(); err != nil {
		t.Errorf("the connection opened before the reload broke: %v", err)
	}
}
