package conformance

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// mount enables a secrets engine of type typ at path on s.
func mount(t testing.TB, s *server, path, typ string) {
	t.Helper()
	if err := s.Client.Sys().MountWithContext(t.Context(), path, &api.MountInput{Type: typ}); err != nil {
		t.Fatalf("mount %s at %s: %v", typ, path, err)
	}
}

// TestTransitMissingKey checks that every transit operation on a key that
// does not exist answers 400 with Vault's words, and that encrypt creates
// the key unless config/keys disables upserts.
func TestTransitMissingKey(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	mount(t, s, "transit", "transit")
	c := s.Client.Logical()
	tests := []struct {
		path  string
		body  map[string]any
		words string
	}{
		{"transit/decrypt/nokey", map[string]any{"ciphertext": "vault:v1:AAAA"}, "encryption key not found"},
		{"transit/rewrap/nokey", map[string]any{"ciphertext": "vault:v1:AAAA"}, "encryption key not found"},
		{"transit/datakey/plaintext/nokey", nil, "encryption key not found"},
		{"transit/datakey/wrapped/nokey", nil, "encryption key not found"},
		{"transit/hmac/nokey", map[string]any{"input": "eA=="}, "encryption key not found"},
		{"transit/sign/nokey", map[string]any{"input": "eA=="}, "signing key not found"},
		{"transit/verify/nokey", map[string]any{"input": "eA==", "signature": "vault:v1:AAAA"}, "signature verification key not found"},
		{"transit/verify/nokey", map[string]any{"input": "eA==", "hmac": "vault:v1:AAAA"}, "encryption key not found"},
		{"transit/keys/nokey/rotate", nil, "key not found"},
	}
	for _, tt := range tests {
		_, err := c.WriteWithContext(t.Context(), tt.path, tt.body)
		wantError(t, tt.path, err, http.StatusBadRequest, tt.words)
	}
	if r := s.raw(t, "GET", "/v1/transit/export/encryption-key/nokey", rootToken, ""); r.Status != http.StatusNotFound {
		t.Errorf("export of a missing key: status %d, want 404 (%s)", r.Status, r.Body)
	}

	// A token that may create under encrypt/ upserts the key...
	if err := s.Client.Sys().PutPolicyWithContext(t.Context(), "encrypter", `path "transit/encrypt/*" { capabilities = ["create", "update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Client.Auth().Token().CreateWithContext(t.Context(), &api.TokenCreateRequest{Policies: []string{"encrypter"}})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	ec.SetToken(tok.Auth.ClientToken)
	if _, err := ec.Logical().WriteWithContext(t.Context(), "transit/encrypt/upserted", map[string]any{"plaintext": "eA=="}); err != nil {
		t.Fatalf("encrypt with upsert: %v", err)
	}
	sec, err := c.ReadWithContext(t.Context(), "transit/keys/upserted")
	if err != nil || sec == nil {
		t.Fatalf("read upserted key = %v, %v", sec, err)
	}
	// The root token upserts too: as in Vault, the existence check turns
	// its write into a create whatever its policies.
	if _, err := c.WriteWithContext(t.Context(), "transit/encrypt/by-root", map[string]any{"plaintext": "eA=="}); err != nil {
		t.Fatalf("encrypt with upsert as root: %v", err)
	}
	// ...unless the mount forbids it.
	if _, err := c.WriteWithContext(t.Context(), "transit/config/keys", map[string]any{"disable_upsert": true}); err != nil {
		t.Fatal(err)
	}
	sec, err = c.ReadWithContext(t.Context(), "transit/config/keys")
	if err != nil || sec == nil || sec.Data["disable_upsert"] != true {
		t.Fatalf("read config/keys = %v, %v, want disable_upsert true", sec, err)
	}
	_, err = ec.Logical().WriteWithContext(t.Context(), "transit/encrypt/refused", map[string]any{"plaintext": "eA=="})
	wantError(t, "encrypt with upsert disabled", err, http.StatusBadRequest, "encryption key not found")
	if _, err := ec.Logical().WriteWithContext(t.Context(), "transit/encrypt/upserted", map[string]any{"plaintext": "eA=="}); err != nil {
		t.Fatalf("encrypt with an existing key and upsert disabled: %v", err)
	}
}

// TestDatabaseRoleNotAllowed checks that a role the connection's
// allowed_roles excludes is stored with a warning, as Vault stores it, and
// that its credentials are refused with 400 naming allowed_roles.
func TestDatabaseRoleNotAllowed(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	mount(t, s, "database", "database")
	c := s.Client.Logical()
	// The connection is never used: nothing is issued for the role.
	if _, err := c.WriteWithContext(t.Context(), "database/config/pg", map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    "postgresql://{{username}}:{{password}}@127.0.0.1:1/postgres?sslmode=disable",
		"username":          "postgres",
		"password":          "unused-password",
		"verify_connection": false,
		"allowed_roles":     "other",
	}); err != nil {
		t.Fatal(err)
	}
	sec, err := c.WriteWithContext(t.Context(), "database/roles/app", map[string]any{
		"db_name":             "pg",
		"creation_statements": `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`,
	})
	if err != nil {
		t.Fatalf("write a role the connection does not allow: %v", err)
	}
	if sec == nil || len(sec.Warnings) == 0 || !strings.Contains(strings.Join(sec.Warnings, " "), "allowed_roles") {
		t.Errorf("write role = %+v, want a warning naming allowed_roles", sec)
	}
	if sec, err := c.ReadWithContext(t.Context(), "database/roles/app"); err != nil || sec == nil {
		t.Fatalf("read the stored role = %v, %v", sec, err)
	}
	_, err = c.ReadWithContext(t.Context(), "database/creds/app")
	wantError(t, "creds of a role not allowed", err, http.StatusBadRequest, "allowed_roles")
	wantError(t, "creds of a role not allowed", err, http.StatusBadRequest, `"app" is not an allowed role`)
}

// TestPKIRootIntermediateTutorial runs Vault's documented "build your own
// certificate authority" sequence (root, intermediate, role, issue,
// revoke, tidy) through the official client against a real process, plus
// the calls cert-manager's Vault issuer makes, and checks the chain with
// crypto/x509 and the URLs in the certificates and CRLs.
func TestPKIRootIntermediateTutorial(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	ctx := t.Context()
	c := s.Client.Logical()
	write := func(path string, body map[string]any) *api.Secret {
		t.Helper()
		sec, err := c.WriteWithContext(ctx, path, body)
		if err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
		return sec
	}
	read := func(path string) *api.Secret {
		t.Helper()
		sec, err := c.ReadWithContext(ctx, path)
		if err != nil || sec == nil {
			t.Fatalf("read %s = %v, %v", path, sec, err)
		}
		return sec
	}
	str := func(sec *api.Secret, key string) string {
		t.Helper()
		v, ok := sec.Data[key].(string)
		if !ok || v == "" {
			t.Fatalf("%q = %v in %v, want a string", key, sec.Data[key], sec.Data)
		}
		return v
	}

	// Root CA.
	mount(t, s, "pki", "pki")
	if err := s.Client.Sys().TuneMountAllowNilWithContext(ctx, "pki", api.TuneMountConfigInput{MaxLeaseTTL: ptr("87600h")}); err != nil {
		t.Fatal(err)
	}
	rootPEM := str(write("pki/root/generate/internal", map[string]any{"common_name": "example.com", "issuer_name": "root-2023", "ttl": "87600h"}), "certificate")
	root := parsePEMCert(t, rootPEM)
	issuers, err := c.ListWithContext(ctx, "pki/issuers")
	if err != nil || issuers == nil {
		t.Fatalf("list pki/issuers = %v, %v", issuers, err)
	}
	ids, _ := issuers.Data["keys"].([]any)
	if len(ids) != 1 {
		t.Fatalf("issuers = %v, want one", issuers.Data)
	}
	if name := str(read("pki/issuer/"+ids[0].(string)), "issuer_name"); name != "root-2023" {
		t.Errorf("root issuer_name = %q", name)
	}
	write("pki/roles/2023-servers", map[string]any{"allow_any_name": true})
	rootURLs := write("pki/config/urls", map[string]any{
		"issuing_certificates":    s.Addr + "/v1/pki/ca",
		"crl_distribution_points": s.Addr + "/v1/pki/crl",
	})
	if rootURLs == nil || fmt.Sprint(rootURLs.Data["issuing_certificates"]) != "["+s.Addr+"/v1/pki/ca]" {
		t.Errorf("config/urls write answered %v", rootURLs)
	}
	if got := read("pki/config/urls").Data["crl_distribution_points"]; fmt.Sprint(got) != "["+s.Addr+"/v1/pki/crl]" {
		t.Errorf("config/urls read crl_distribution_points = %v", got)
	}

	// Intermediate CA, signed by the root.
	mount(t, s, "pki_int", "pki")
	if err := s.Client.Sys().TuneMountAllowNilWithContext(ctx, "pki_int", api.TuneMountConfigInput{MaxLeaseTTL: ptr("43800h")}); err != nil {
		t.Fatal(err)
	}
	csr := str(write("pki_int/intermediate/generate/internal", map[string]any{"common_name": "example.com Intermediate Authority", "issuer_name": "example-dot-com-intermediate"}), "csr")
	signed := str(write("pki/root/sign-intermediate", map[string]any{"issuer_ref": "root-2023", "csr": csr, "format": "pem_bundle", "ttl": "43800h"}), "certificate")
	interm := parsePEMCert(t, signed) // the first certificate of the bundle
	if !slices.Equal(interm.IssuingCertificateURL, []string{s.Addr + "/v1/pki/ca"}) || !slices.Equal(interm.CRLDistributionPoints, []string{s.Addr + "/v1/pki/crl"}) {
		t.Errorf("intermediate URLs: issuing %v, crl %v", interm.IssuingCertificateURL, interm.CRLDistributionPoints)
	}
	write("pki_int/intermediate/set-signed", map[string]any{"certificate": signed})
	defaultIssuer := str(read("pki_int/config/issuers"), "default")
	write("pki_int/config/urls", map[string]any{
		"issuing_certificates":    []string{s.Addr + "/v1/pki_int/ca"},
		"crl_distribution_points": []string{s.Addr + "/v1/pki_int/crl"},
	})
	write("pki_int/config/crl", map[string]any{"expiry": "48h", "auto_rebuild": true})
	if got := read("pki_int/config/crl").Data["expiry"]; got != "48h" {
		t.Errorf("config/crl expiry = %v", got)
	}
	write("pki_int/config/auto-tidy", map[string]any{"enabled": true, "tidy_cert_store": true, "tidy_revoked_certs": true, "interval_duration": "12h"})
	if got := read("pki_int/config/auto-tidy").Data["enabled"]; got != true {
		t.Errorf("config/auto-tidy enabled = %v", got)
	}
	upd := write("pki_int/issuer/"+defaultIssuer, map[string]any{"issuer_name": "example-dot-com-intermediate", "leaf_not_after_behavior": "truncate"})
	if upd == nil || upd.Data["issuer_name"] != "example-dot-com-intermediate" {
		t.Errorf("issuer update answered %v", upd)
	}
	write("pki_int/roles/example-dot-com", map[string]any{"issuer_ref": defaultIssuer, "allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "720h"})
	if roles, err := c.ListWithContext(ctx, "pki_int/roles"); err != nil || roles == nil || fmt.Sprint(roles.Data["keys"]) != "[example-dot-com]" {
		t.Errorf("list roles = %v, %v", roles, err)
	}

	// Issue a leaf and verify it through the chain.
	leafSec := write("pki_int/issue/example-dot-com", map[string]any{"common_name": "test.example.com", "ttl": "24h"})
	leaf := parsePEMCert(t, str(leafSec, "certificate"))
	serial := str(leafSec, "serial_number")
	verifyChain(t, leaf, interm, root, "test.example.com")
	if !slices.Equal(leaf.IssuingCertificateURL, []string{s.Addr + "/v1/pki_int/ca"}) || !slices.Equal(leaf.CRLDistributionPoints, []string{s.Addr + "/v1/pki_int/crl"}) {
		t.Errorf("leaf URLs: issuing %v, crl %v", leaf.IssuingCertificateURL, leaf.CRLDistributionPoints)
	}
	// The issuing certificate URL serves the intermediate, without a token.
	if r := s.raw(t, "GET", "/v1/pki_int/ca", "", ""); r.Status != http.StatusOK || r.Body != string(interm.Raw) {
		t.Errorf("GET the leaf's issuing certificate URL: status %d, same certificate %v", r.Status, r.Body == string(interm.Raw))
	}
	chain := s.raw(t, "GET", "/v1/pki_int/ca_chain", "", "")
	if chain.Status != http.StatusOK || strings.Count(chain.Body, "BEGIN CERTIFICATE") != 2 {
		t.Errorf("ca_chain: status %d, body %q", chain.Status, chain.Body)
	}
	if got := str(read("pki_int/cert/"+serial), "certificate"); parsePEMCert(t, got).SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("cert/%s read back another certificate", serial)
	}
	if certs, err := c.ListWithContext(ctx, "pki_int/certs"); err != nil || certs == nil || !strings.Contains(fmt.Sprint(certs.Data["keys"]), serial) {
		t.Errorf("list certs = %v, %v, want %s in it", certs, err, serial)
	}

	// Revoke it: the CRL at the leaf's distribution point lists it.
	write("pki_int/revoke", map[string]any{"serial_number": serial})
	crl := fetchCRL(t, s, leaf.CRLDistributionPoints[0], interm)
	if !crlLists(crl, leaf) {
		t.Error("the CRL at the leaf's distribution point does not list the revoked leaf")
	}
	if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != 48*time.Hour {
		t.Errorf("CRL lifetime %v, want config/crl's 48h", got)
	}
	if !slices.Equal(crlAIAURLs(t, crl), []string{s.Addr + "/v1/pki_int/ca"}) {
		t.Errorf("CRL AIA = %v", crlAIAURLs(t, crl))
	}
	write("pki_int/tidy", map[string]any{"tidy_cert_store": true, "tidy_revoked_certs": true})

	// cert-manager's Vault issuer: string parameters, a Go duration, the
	// CSR's names repeated, exclude_cn_from_sans as a string.
	key, err := rsa.GenerateKey(rand.Reader, 2048) // cert-manager's default, the role's key_type

	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "app.example.com"}, DNSNames: []string{"app.example.com", "www.example.com"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	// The same JSON body cert-manager sends: every value a string.
	cm := write("pki_int/sign/example-dot-com", map[string]any{
		"common_name":          "app.example.com",
		"alt_names":            "app.example.com,www.example.com",
		"ip_sans":              "",
		"uri_sans":             "",
		"ttl":                  "2160h0m0s",
		"csr":                  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})),
		"exclude_cn_from_sans": "true",
	})
	cmLeaf := parsePEMCert(t, str(cm, "certificate"))
	verifyChain(t, cmLeaf, interm, root, "www.example.com")
	if cmLeaf.NotAfter.Sub(cmLeaf.NotBefore) > 721*time.Hour {
		t.Errorf("cert-manager's 2160h request was not capped at the role's 720h: %v", cmLeaf.NotAfter.Sub(cmLeaf.NotBefore))
	}
	if chain, _ := cm.Data["ca_chain"].([]any); len(chain) == 0 || str(cm, "issuing_ca") == "" {
		t.Errorf("sign answer lacks ca_chain or issuing_ca: %v", cm.Data)
	}

	// generate_lease: the certificate has a lease, and revoking the lease
	// puts the certificate on the CRL.
	write("pki_int/roles/leased", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "1h", "generate_lease": true})
	leased := write("pki_int/issue/leased", map[string]any{"common_name": "leased.example.com"})
	if leased.LeaseID == "" || leased.LeaseDuration <= 0 || leased.Renewable {
		t.Fatalf("issue under generate_lease: lease_id %q, lease_duration %d, renewable %v", leased.LeaseID, leased.LeaseDuration, leased.Renewable)
	}
	leasedCert := parsePEMCert(t, str(leased, "certificate"))
	if crlLists(fetchCRL(t, s, s.Addr+"/v1/pki_int/crl", interm), leasedCert) {
		t.Fatal("the leased certificate is on the CRL before its lease is revoked")
	}
	if err := s.Client.Sys().RevokeWithContext(ctx, leased.LeaseID); err != nil {
		t.Fatalf("revoke lease: %v", err)
	}
	if !crlLists(fetchCRL(t, s, s.Addr+"/v1/pki_int/crl", interm), leasedCert) {
		t.Error("revoking the lease did not put the certificate on the CRL")
	}

	// Root rotation, as the tutorial continues.
	write("pki/root/rotate/internal", map[string]any{"common_name": "example.com", "issuer_name": "root-2024"})
	if got := str(read("pki/config/issuers"), "default"); got != ids[0].(string) {
		t.Errorf("root/rotate changed the default issuer to %s", got)
	}
	write("pki/root/replace", map[string]any{"default": "root-2024"})
	if got := str(read("pki/issuer/default"), "issuer_name"); got != "root-2024" {
		t.Errorf("after root/replace the default issuer is %q", got)
	}
}

// parsePEMCert parses the first certificate of a PEM text.
func parsePEMCert(t testing.TB, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", s)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verifyChain checks leaf for dnsName through interm up to root.
func verifyChain(t testing.TB, leaf, interm, root *x509.Certificate, dnsName string) {
	t.Helper()
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(interm)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, DNSName: dnsName}); err != nil {
		t.Errorf("verify %s through the chain: %v", dnsName, err)
	}
}

// fetchCRL GETs a CRL (DER) at url without a token and checks it is
// signed by issuer.
func fetchCRL(t testing.TB, s *server, url string, issuer *x509.Certificate) *x509.RevocationList {
	t.Helper()
	r := s.raw(t, "GET", strings.TrimPrefix(url, s.Addr), "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: status %d %s", url, r.Status, r.Body)
	}
	crl, err := x509.ParseRevocationList([]byte(r.Body))
	if err != nil {
		t.Fatalf("parse CRL from %s: %v", url, err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Fatalf("CRL from %s is not signed by its issuer: %v", url, err)
	}
	return crl
}

// crlLists reports whether crl lists c's serial number.
func crlLists(crl *x509.RevocationList, c *x509.Certificate) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
			return true
		}
	}
	return false
}

// crlAIAURLs returns the caIssuers URLs of a CRL's Authority Information
// Access extension (RFC 5280, 5.2.7).
func crlAIAURLs(t testing.TB, crl *x509.RevocationList) []string {
	t.Helper()
	aia := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	caIssuers := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 2}
	var out []string
	for _, e := range crl.Extensions {
		if !e.Id.Equal(aia) {
			continue
		}
		var ads []struct {
			Method   asn1.ObjectIdentifier
			Location asn1.RawValue
		}
		if _, err := asn1.Unmarshal(e.Value, &ads); err != nil {
			t.Fatalf("CRL AIA does not parse: %v", err)
		}
		for _, ad := range ads {
			if ad.Method.Equal(caIssuers) && ad.Location.Tag == 6 {
				out = append(out, string(ad.Location.Bytes))
			}
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
