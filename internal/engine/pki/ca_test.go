package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestGenerateRoot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body string
		wantAlg          x509.PublicKeyAlgorithm
		wantKeyType      string
	}{
		{"ec internal", "root/generate/internal", `{"common_name":"Root EC","key_type":"ec","ttl":"10h","issuer_name":"root-ec"}`, x509.ECDSA, ""},
		{"ed25519 exported", "root/generate/exported", `{"common_name":"Root Ed","key_type":"ed25519","ttl":"10h"}`, x509.Ed25519, "ed25519"},
		{"ec384 exported pkcs8", "root/generate/exported", `{"common_name":"Root P384","key_type":"ec","key_bits":384,"private_key_format":"pkcs8"}`, x509.ECDSA, "ec"},
		{"rsa exported", "root/generate/exported", `{"common_name":"Root RSA","key_type":"rsa","key_bits":2048,"ttl":3600}`, x509.RSA, "rsa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			resp := h.Must(opUpdate, tt.path, tt.body)
			r := decode[certResp](t, resp)
			c := parseCert(t, r.Certificate)
			if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 || c.KeyUsage&x509.KeyUsageCRLSign == 0 {
				t.Errorf("root is not a CA: IsCA=%v KeyUsage=%b", c.IsCA, c.KeyUsage)
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Errorf("root is not self-signed: %v", err)
			}
			if c.PublicKeyAlgorithm != tt.wantAlg {
				t.Errorf("public key algorithm = %v, want %v", c.PublicKeyAlgorithm, tt.wantAlg)
			}
			if got := formatSerial(c.SerialNumber); got != r.SerialNumber {
				t.Errorf("serial_number = %q, certificate has %q", r.SerialNumber, got)
			}
			if r.Expiration != c.NotAfter.Unix() {
				t.Errorf("expiration = %d, NotAfter = %d", r.Expiration, c.NotAfter.Unix())
			}
			if r.IssuingCA != r.Certificate || r.IssuerID == "" || r.KeyID == "" {
				t.Errorf("issuing_ca/issuer_id/key_id wrong: %+v", r)
			}
			if r.PrivateKeyType != tt.wantKeyType {
				t.Errorf("private_key_type = %q, want %q", r.PrivateKeyType, tt.wantKeyType)
			}
			if tt.wantKeyType != "" {
				checkKeyMatches(t, r.PrivateKey, c)
			} else if r.PrivateKey != "" {
				t.Errorf("internal root returned a private key")
			}
			// The root is now the default issuer: ca and issuer/default.
			ca := h.Must(opRead, "ca", "")
			if ca.Raw == nil || !bytes.Equal(ca.Raw.Body, c.Raw) || ca.Raw.ContentType != "application/pkix-cert" {
				t.Errorf("ca = %+v, want the root's DER", ca.Raw)
			}
			iss := decode[issuerData](t, h.Must(opRead, "issuer/default", ""))
			if iss.IssuerID != r.IssuerID || iss.KeyID != r.KeyID || parseCert(t, iss.Certificate).Equal(c) == false {
				t.Errorf("issuer/default = %+v, want issuer %s", iss, r.IssuerID)
			}
		})
	}
}

// checkKeyMatches parses a PEM private key and checks it belongs to c.
func checkKeyMatches(t *testing.T, keyPEM string, c *x509.Certificate) {
	t.Helper()
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		t.Fatalf("private_key is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		t.Fatalf("unexpected private key block %q", block.Type)
	}
	if err != nil {
		t.Fatalf("parse private key: %v", err)
	}
	if !publicKeysEqual(key.(crypto.Signer).Public(), c.PublicKey) {
		t.Errorf("private key does not match the certificate")
	}
}

func TestGenerateRootRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.genRoot(`,"issuer_name":"taken"`)
	tests := []struct{ name, body, want string }{
		{"no common name", `{"key_type":"ec"}`, "missing common_name"},
		{"bad key type", `{"common_name":"x","key_type":"dsa"}`, "invalid key_type"},
		{"bad ec bits", `{"common_name":"x","key_type":"ec","key_bits":255}`, "invalid key_bits"},
		{"bad rsa bits", `{"common_name":"x","key_type":"rsa","key_bits":1024}`, "invalid key_bits"},
		{"bad format", `{"common_name":"x","key_type":"ec","format":"jks"}`, "invalid format"},
		{"bad ip", `{"common_name":"x","key_type":"ec","ip_sans":"10.0.0.300"}`, "invalid IP SAN"},
		{"bad uri", `{"common_name":"x","key_type":"ec","uri_sans":"not a uri"}`, "invalid URI SAN"},
		{"issuer name in use", `{"common_name":"x","key_type":"ec","issuer_name":"taken"}`, "already in use"},
		{"issuer name default", `{"common_name":"x","key_type":"ec","issuer_name":"default"}`, "invalid issuer_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Do(opUpdate, "root/generate/internal", tt.body)
			wantInvalid(t, tt.name, err, tt.want)
		})
	}

	// An unknown field is ignored with Vault's warning.
	resp := newHarness(t).Must(opUpdate, "root/generate/internal", `{"common_name":"x","key_type":"ec","colour":"red"}`)
	if !slices.Contains(resp.Warnings, "Endpoint ignored these unrecognized parameters: [colour]") {
		t.Errorf("root with an unknown field: warnings %q, want the ignored-parameters warning", resp.Warnings)
	}
}

// twoTier builds a root mount and an intermediate mount whose issuer is
// signed by the root, and returns both with the root certificate.
func twoTier(t *testing.T) (root, inter *harness, rootCert *x509.Certificate) {
	t.Helper()
	root = newHarness(t)
	_, rootCert = root.genRoot(`,"ttl":"20h"`)
	inter = newHarness(t)
	gen := decode[certResp](t, inter.Must(opUpdate, "intermediate/generate/internal", `{"common_name":"Coffer Intermediate","key_type":"ec"}`))
	if gen.CSR == "" || gen.KeyID == "" {
		t.Fatalf("intermediate/generate = %+v", gen)
	}
	signed := decode[certResp](t, root.Must(opUpdate, "root/sign-intermediate", `{"csr":`+quote(gen.CSR)+`,"common_name":"Coffer Intermediate","ttl":"10h"}`))
	ic := parseCert(t, signed.Certificate)
	if !ic.IsCA || ic.CheckSignatureFrom(rootCert) != nil {
		t.Fatalf("signed intermediate is not a CA signed by the root")
	}
	if signed.IssuingCA != encodeCert(formatPEM, rootCert.Raw) {
		t.Errorf("sign-intermediate issuing_ca is not the root")
	}
	set := decode[setSignedResponse](t, inter.Must(opUpdate, "intermediate/set-signed", `{"certificate":`+quote(signed.Certificate+"\n"+signed.IssuingCA)+`}`))
	if len(set.ImportedIssuers) != 1 || set.Mapping[set.ImportedIssuers[0]] != gen.KeyID {
		t.Fatalf("set-signed = %+v, want one issuer mapped to key %s", set, gen.KeyID)
	}
	return root, inter, rootCert
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestIntermediate(t *testing.T) {
	t.Parallel()
	root, inter, rootCert := twoTier(t)

	iss := decode[issuerData](t, inter.Must(opRead, "issuer/default", ""))
	if len(iss.CAChain) != 2 || !parseCert(t, iss.CAChain[1]).Equal(rootCert) {
		t.Errorf("intermediate ca_chain has %d entries, want itself and the root", len(iss.CAChain))
	}
	// The signed intermediate is stored in the root mount's certificates.
	ic := parseCert(t, iss.Certificate)
	got := decode[certData](t, root.Must(opRead, "cert/"+formatSerial(ic.SerialNumber), ""))
	if !parseCert(t, got.Certificate).Equal(ic) {
		t.Errorf("root mount's cert/%s is not the intermediate", formatSerial(ic.SerialNumber))
	}
	// Importing the same certificate again changes nothing.
	again := decode[setSignedResponse](t, inter.Must(opUpdate, "intermediate/set-signed", `{"certificate":`+quote(iss.Certificate)+`}`))
	if len(again.ImportedIssuers) != 0 || len(again.ExistingIssuers) != 1 || again.ExistingIssuers[0] != iss.IssuerID {
		t.Errorf("second set-signed = %+v, want the existing issuer", again)
	}
	// A certificate whose key the mount does not hold is refused.
	_, err := inter.Do(opUpdate, "intermediate/set-signed", `{"certificate":`+quote(encodeCert(formatPEM, rootCert.Raw))+`}`)
	wantInvalid(t, "set-signed foreign", err, "no key in this mount")
	_, err = inter.Do(opUpdate, "intermediate/set-signed", `{"certificate":"junk"}`)
	wantInvalid(t, "set-signed junk", err, "not a PEM bundle")

	// LIST issuers and config/issuers.
	list := decode[listIssuersData](t, inter.Must(opList, "issuers", ""))
	if diff := cmp.Diff([]string{iss.IssuerID}, list.Keys); diff != "" {
		t.Errorf("LIST issuers keys (-want +got):\n%s", diff)
	}
	if !list.KeyInfo[iss.IssuerID].IsDefault {
		t.Errorf("LIST issuers: the only issuer is not the default")
	}
	cfg := decode[issuersConfig](t, inter.Must(opRead, "config/issuers", ""))
	if cfg.Default != iss.IssuerID {
		t.Errorf("config/issuers default = %q, want %q", cfg.Default, iss.IssuerID)
	}
}

func TestIssuersConfigAndNames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first, _ := h.genRoot(`,"issuer_name":"first"`)
	second, secondCert := h.genRoot(`,"issuer_name":"second"`)
	cfg := decode[issuersConfig](t, h.Must(opRead, "config/issuers", ""))
	if cfg.Default != first.IssuerID {
		t.Fatalf("default = %q, want the first issuer %q", cfg.Default, first.IssuerID)
	}
	h.Must(opUpdate, "config/issuers", `{"default":"second"}`)
	ca := h.Must(opRead, "ca/pem", "")
	if got := parseCert(t, string(ca.Raw.Body)); !got.Equal(secondCert) {
		t.Errorf("ca/pem after changing the default is not the second root")
	}
	if ca.Raw.ContentType != "application/pem-file" {
		t.Errorf("ca/pem content type = %q", ca.Raw.ContentType)
	}
	_, err := h.Do(opUpdate, "config/issuers", `{"default":"nope"}`)
	wantInvalid(t, "unknown default", err, "unknown issuer")

	renamed := decode[issuerData](t, h.Must(opUpdate, "issuer/second", `{"issuer_name":"renamed"}`))
	if renamed.IssuerName != "renamed" || renamed.IssuerID != second.IssuerID {
		t.Errorf("rename = %+v", renamed)
	}
	if resp, _ := h.Do(opRead, "issuer/second", ""); resp != nil {
		t.Errorf("old name still resolves")
	}
	byName := decode[issuerData](t, h.Must(opRead, "issuer/renamed", ""))
	if byName.IssuerID != second.IssuerID {
		t.Errorf("issuer/renamed = %s, want %s", byName.IssuerID, second.IssuerID)
	}
	_, err = h.Do(opUpdate, "issuer/renamed", `{"issuer_name":"first"}`)
	wantInvalid(t, "rename to taken", err, "already in use")
	der := h.Must(opRead, "issuer/"+first.IssuerID+"/der", "")
	if c, err := x509.ParseCertificate(der.Raw.Body); err != nil || c.Subject.CommonName != "Coffer Test Root" {
		t.Errorf("issuer/:id/der = %v, %v", c, err)
	}
}

func TestNoIssuer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, p := range []string{"ca", "ca/pem", "ca_chain", "crl", "crl/pem", "issuer/default"} {
		if resp, err := h.Do(opRead, p, ""); resp != nil || err != nil {
			t.Errorf("read %s without an issuer = %v, %v; want nothing (404)", p, resp, err)
		}
	}
	h.Must(opUpdate, "roles/web", `{"allowed_domains":"example.com","allow_subdomains":true,"key_type":"ec"}`)
	_, err := h.Do(opUpdate, "issue/web", `{"common_name":"a.example.com"}`)
	wantInvalid(t, "issue without issuer", err, "no default issuer")
}

func TestSignIntermediatePathLength(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.genRoot(`,"max_path_length":1`)
	other := newHarness(t)
	gen := decode[certResp](t, other.Must(opUpdate, "intermediate/generate/internal", `{"common_name":"Int","key_type":"ec"}`))
	signed := decode[certResp](t, h.Must(opUpdate, "root/sign-intermediate", `{"csr":`+quote(gen.CSR)+`,"use_csr_values":true,"max_path_length":5}`))
	c := parseCert(t, signed.Certificate)
	if c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("intermediate under a root with max_path_length 1 has MaxPathLen %d (zero %v), want 0", c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.Subject.CommonName != "Int" {
		t.Errorf("use_csr_values: CN = %q, want the CSR's", c.Subject.CommonName)
	}
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, first := h.genRoot("")
	second, secondCert := h.genRoot("")
	if c := parseCert(t, string(h.Must(opRead, "ca/pem", "").Raw.Body)); !c.Equal(first) {
		t.Fatalf("default issuer is not the first root")
	}
	// Another node changes the default behind the backend's back.
	cfg := `{"default":"` + second.IssuerID + `","default_follows_latest_issuer":false}`
	if err := h.Storage.Put(t.Context(), &logical.StorageEntry{Key: configIssuersKey, Value: []byte(cfg)}); err != nil {
		t.Fatal(err)
	}
	if c := parseCert(t, string(h.Must(opRead, "ca/pem", "").Raw.Body)); !c.Equal(first) {
		t.Errorf("the default changed without an invalidation: reads are not served from the cache")
	}
	h.Backend.(*Backend).Invalidate(t.Context(), "role/unrelated")
	if c := parseCert(t, string(h.Must(opRead, "ca/pem", "").Raw.Body)); !c.Equal(first) {
		t.Errorf("an unrelated invalidation dropped the issuer cache")
	}
	h.Backend.(*Backend).Invalidate(t.Context(), configIssuersKey)
	if c := parseCert(t, string(h.Must(opRead, "ca/pem", "").Raw.Body)); !c.Equal(secondCert) {
		t.Errorf("after Invalidate(%q) the default is not the second root", configIssuersKey)
	}
}
