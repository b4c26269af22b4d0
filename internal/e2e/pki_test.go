package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// pkiSetUp builds root -> intermediate -> role "svc" on s and returns the
// root certificate.
func pkiSetUp(t *testing.T, cl *api.Client) *x509.Certificate {
	t.Helper()
	for _, m := range []string{"pki", "pki_int"} {
		if err := cl.Sys().Mount(m, &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "87600h"}}); err != nil {
			t.Fatal(err)
		}
	}
	root := mustWrite(t, cl, "pki/root/generate/internal", map[string]any{"common_name": "Coffer Test Root", "key_type": "ec", "ttl": "87600h"})
	csr := mustWrite(t, cl, "pki_int/intermediate/generate/internal", map[string]any{"common_name": "Coffer Test Intermediate", "key_type": "ec"})
	signed := mustWrite(t, cl, "pki/root/sign-intermediate", map[string]any{"csr": csr.Data["csr"], "ttl": "43800h", "format": "pem_bundle"})
	mustWrite(t, cl, "pki_int/intermediate/set-signed", map[string]any{"certificate": signed.Data["certificate"]})
	mustWrite(t, cl, "pki_int/roles/svc", map[string]any{
		"allowed_domains": "svc.local", "allow_subdomains": true, "allow_ip_sans": true,
		"allowed_uri_sans": "spiffe://cluster/ns/*/sa/*",
		"server_flag":      true, "client_flag": true, "key_type": "ec", "key_bits": 256, "ttl": "1h",
	})
	return parseCert(t, root.Data["certificate"].(string))
}

func parseCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		t.Fatalf("no PEM in %q", p)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issued is a certificate from the PKI engine with its chain and key.
type issued struct {
	cert   tls.Certificate
	leaf   *x509.Certificate
	serial string
}

func issue(t *testing.T, cl *api.Client, data map[string]any) issued {
	t.Helper()
	sec := mustWrite(t, cl, "pki_int/issue/svc", data)
	chain := sec.Data["certificate"].(string) + "\n" + sec.Data["issuing_ca"].(string)
	kp, err := tls.X509KeyPair([]byte(chain), []byte(sec.Data["private_key"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	return issued{cert: kp, leaf: parseCert(t, sec.Data["certificate"].(string)), serial: sec.Data["serial_number"].(string)}
}

// TestServicesTalkOverMutualTLS has two services get certificates from
// the PKI engine and talk over mutual TLS; a third without a certificate
// from the CA is refused.
func TestServicesTalkOverMutualTLS(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := pkiSetUp(t, s.Client)
	roots := x509.NewCertPool()
	roots.AddCert(root)

	a := issue(t, s.Client, map[string]any{"common_name": "a.svc.local", "ip_sans": "127.0.0.1", "uri_sans": "spiffe://cluster/ns/prod/sa/a"})
	b := issue(t, s.Client, map[string]any{"common_name": "b.svc.local", "uri_sans": "spiffe://cluster/ns/prod/sa/b"})

	// Check the chain and the usages independently of the engine.
	inter := x509.NewCertPool()
	inter.AddCert(a.cert.Leaf)
	if len(a.cert.Certificate) > 1 {
		ic, _ := x509.ParseCertificate(a.cert.Certificate[1])
		inter.AddCert(ic)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := a.leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: "a.svc.local", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Fatalf("leaf does not verify for %v: %v", usage, err)
		}
	}
	if got := a.leaf.URIs[0].String(); got != "spiffe://cluster/ns/prod/sa/a" {
		t.Errorf("URI SAN = %q", got)
	}

	// Service A serves mutual TLS and names its caller.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{a.cert}, ClientCAs: roots, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	url := srv.URL

	call := func(certs []tls.Certificate) (string, error) {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs, ServerName: "a.svc.local"}}}
		defer cl.CloseIdleConnections()
		resp, err := cl.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}
	if got, err := call([]tls.Certificate{b.cert}); err != nil || got != "hello b.svc.local" {
		t.Fatalf("B calling A = %q, %v", got, err)
	}
	if _, err := call(nil); err == nil {
		t.Error("a caller without a certificate got through")
	}
	// A certificate from another CA (another Coffer's PKI) is refused.
	other := testserver.Start(t)
	pkiSetUp(t, other.Client)
	c := issue(t, other.Client, map[string]any{"common_name": "c.svc.local"})
	if _, err := call([]tls.Certificate{c.cert}); err == nil {
		t.Error("a caller with a certificate from another CA got through")
	}

	// Names outside the role are refused with the reason.
	for name, data := range map[string]map[string]any{
		"domain": {"common_name": "evil.example.com"},
		"uri":    {"common_name": "d.svc.local", "uri_sans": "spiffe://other/ns/x/sa/y"},
	} {
		_, err := s.Client.Logical().Write("pki_int/issue/svc", data)
		if statusCode(err) != 400 || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s outside the role: %v, want a 400 saying why", name, err)
		}
	}

	// The CRL is public; rotating it is not.
	if code := httpStatus(t, "POST", s.Addr+"/v1/pki_int/crl/rotate"); code != 403 {
		t.Errorf("crl/rotate without a token = %d, want 403", code)
	}
	// Revoke B: its serial shows up in the signed CRL.
	mustWrite(t, s.Client, "pki_int/revoke", map[string]any{"serial_number": b.serial})
	resp, err := http.Get(s.Addr + "/v1/pki_int/crl")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	issuer := parseCert(t, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Certificate[1]})))
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	want := b.leaf.SerialNumber
	found := false
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(want) == 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("serial %s not in the CRL (%d entries)", new(big.Int).Set(want).Text(16), len(crl.RevokedCertificateEntries))
	}
}

func httpStatus(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
