package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// FuzzSignCSR sends arbitrary CSR bytes to sign/:role. It must never
// panic, refuse anything it cannot use with ErrInvalidRequest, and return
// only certificates for the CSR's key that the role allows.
func FuzzSignCSR(f *testing.F) {
	good := newCSR(f, false, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, DNSNames: []string{"b.example.com"}})
	block, _ := pem.Decode([]byte(good))
	f.Add([]byte(good))
	f.Add(block.Bytes)
	f.Add([]byte(newCSR(f, true, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "evil.com"}})))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte(""))

	h := newHarness(f)
	h.genRoot(`,"ttl":"20h"`)
	h.Must(opUpdate, "roles/web", `{"allowed_domains":"example.com","allow_subdomains":true,"key_type":"any"}`)

	f.Fuzz(func(t *testing.T, in []byte) {
		csrPEM := string(in)
		if _, err := x509.ParseCertificateRequest(in); err == nil {
			// Raw DER: wrap it so that the fuzzer reaches the DER parser.
			csrPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: in}))
		}
		body, err := json.Marshal(map[string]string{"csr": csrPEM})
		if err != nil {
			t.Fatal(err)
		}
		req := &logical.Request{Operation: logical.UpdateOperation, Path: "sign/web", Body: body}
		resp, err := h.Backend.HandleRequest(t.Context(), req)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("sign error = %v, want ErrInvalidRequest", err)
			}
			return
		}
		d := resp.Data.(*signedResponse)
		c := parseCert(t, d.Certificate)
		csr, err := parseCSR(csrPEM)
		if err != nil {
			t.Fatalf("sign accepted a CSR that parseCSR refuses: %v", err)
		}
		if !publicKeysEqual(c.PublicKey, csr.PublicKey) {
			t.Fatalf("certificate key is not the CSR's")
		}
		for _, name := range c.DNSNames {
			if name != "example.com" && !hasSuffix(name, ".example.com") {
				t.Fatalf("certificate for %q outside the role", name)
			}
		}
	})
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

// FuzzParsePEMCerts checks that certificate bundles from clients never
// panic the parser and that whatever it accepts are certificates.
func FuzzParsePEMCerts(f *testing.F) {
	h := newHarness(f)
	r, _ := h.genRoot("")
	f.Add(r.Certificate)
	f.Add(r.Certificate + "\n" + r.Certificate)
	f.Add("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		certs, err := parsePEMCerts(in)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("parsePEMCerts error = %v, want ErrInvalidRequest", err)
			}
			return
		}
		if len(certs) == 0 || len(certs) > maxBundleCerts {
			t.Fatalf("parsePEMCerts returned %d certificates", len(certs))
		}
	})
}
