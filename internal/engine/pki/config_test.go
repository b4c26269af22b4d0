package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/google/go-cmp/cmp"
)

// crlIssuingURLs returns the caIssuers URLs of a CRL's Authority
// Information Access extension.
func crlIssuingURLs(t *testing.T, crl *x509.RevocationList) []string {
	t.Helper()
	var out []string
	for _, e := range crl.Extensions {
		if !e.Id.Equal(oidAuthorityInfoAccess) {
			continue
		}
		var ads []accessDescription
		if rest, err := asn1.Unmarshal(e.Value, &ads); err != nil || len(rest) != 0 {
			t.Fatalf("CRL AIA extension does not parse: %v", err)
		}
		for _, ad := range ads {
			if ad.Method.Equal(oidCAIssuers) && ad.Location.Tag == 6 {
				out = append(out, string(ad.Location.Bytes))
			}
		}
	}
	return out
}

func TestConfigURLs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	got := decode[aiaURLs](t, h.Must(opRead, "config/urls", ""))
	if diff := cmp.Diff(aiaURLs{IssuingCertificates: []string{}, CRLDistributionPoints: []string{}, OCSPServers: []string{}}, got); diff != "" {
		t.Errorf("default config/urls (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name, body, want string
	}{
		{"not a URL", `{"issuing_certificates":"not a url"}`, "invalid URL found in Authority Information Access (AIA) parameter issuing_certificates"},
		{"no host", `{"crl_distribution_points":["http:///crl"]}`, "crl_distribution_points"},
		{"template without templating", `{"ocsp_servers":["{{cluster_path}}/ocsp"]}`, "enable_templating is false"},
		{"unknown placeholder", `{"enable_templating":true,"issuing_certificates":"{{cluster_path}}/{{nope}}"}`, "unknown placeholder"},
	} {
		_, err := h.Do(opUpdate, "config/urls", tt.body)
		wantInvalid(t, tt.name, err, tt.want)
	}

	_, root := h.genRoot(`,"ttl":"24h"`)
	h.Must(opUpdate, "roles/web", webRole)
	const (
		caURL   = "http://127.0.0.1:8200/v1/pki/ca"
		crlURL  = "http://127.0.0.1:8200/v1/pki/crl"
		ocspURL = "http://127.0.0.1:8200/v1/pki/ocsp"
	)
	w := decode[aiaURLs](t, h.Must(opUpdate, "config/urls", `{"issuing_certificates":"`+caURL+`","crl_distribution_points":["`+crlURL+`"],"ocsp_servers":["`+ocspURL+`"]}`))
	if !slices.Equal(w.IssuingCertificates, []string{caURL}) || !slices.Equal(w.CRLDistributionPoints, []string{crlURL}) {
		t.Errorf("config/urls write answered %+v", w)
	}
	leaf := parseCert(t, decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"a.example.com"}`)).Certificate)
	if !slices.Equal(leaf.IssuingCertificateURL, []string{caURL}) || !slices.Equal(leaf.CRLDistributionPoints, []string{crlURL}) || !slices.Equal(leaf.OCSPServer, []string{ocspURL}) {
		t.Errorf("leaf URLs: issuing %v, crl %v, ocsp %v", leaf.IssuingCertificateURL, leaf.CRLDistributionPoints, leaf.OCSPServer)
	}
	h.Must(opRead, "crl/rotate", "")
	if got := crlIssuingURLs(t, readCRL(t, h, root)); !slices.Equal(got, []string{caURL}) {
		t.Errorf("CRL AIA caIssuers = %v, want %v", got, []string{caURL})
	}

	// Templating: {{cluster_path}} needs config/cluster.
	rootID := decode[issuerData](t, h.Must(opRead, "issuer/default", "")).IssuerID
	h.Must(opUpdate, "config/urls", `{"enable_templating":true,"issuing_certificates":"{{cluster_aia_path}}/issuer/{{issuer_id}}/der","crl_distribution_points":"{{cluster_path}}/issuer/{{issuer_id}}/crl/der","ocsp_servers":""}`)
	_, err := h.Do(opUpdate, "issue/web", `{"common_name":"b.example.com"}`)
	wantInvalid(t, "templated URLs without config/cluster", err, "config/cluster")
	_, err = h.Do(opUpdate, "config/cluster", `{"path":"not a url"}`)
	wantInvalid(t, "config/cluster with a bad path", err, "path")
	h.Must(opUpdate, "config/cluster", `{"path":"https://pr.example/v1/pki/","aia_path":"http://aia.example/v1/pki"}`)
	if c := decode[clusterConfig](t, h.Must(opRead, "config/cluster", "")); c.Path != "https://pr.example/v1/pki" {
		t.Errorf("config/cluster = %+v", c)
	}
	leaf = parseCert(t, decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"b.example.com"}`)).Certificate)
	if want := []string{"http://aia.example/v1/pki/issuer/" + rootID + "/der"}; !slices.Equal(leaf.IssuingCertificateURL, want) {
		t.Errorf("templated issuing URL = %v, want %v", leaf.IssuingCertificateURL, want)
	}
	if want := []string{"https://pr.example/v1/pki/issuer/" + rootID + "/crl/der"}; !slices.Equal(leaf.CRLDistributionPoints, want) || len(leaf.OCSPServer) != 0 {
		t.Errorf("templated CRL URL = %v (want %v), OCSP %v", leaf.CRLDistributionPoints, want, leaf.OCSPServer)
	}

	// An issuer's own URLs replace the mount's.
	d := decode[issuerData](t, h.Must(opUpdate, "issuer/default", `{"issuing_certificates":["http://own.example/ca"]}`))
	if !slices.Equal(d.IssuingCertificates, []string{"http://own.example/ca"}) || d.CRLDistributionPoints == nil {
		t.Errorf("issuer update answered %+v", d)
	}
	leaf = parseCert(t, decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"c.example.com"}`)).Certificate)
	if !slices.Equal(leaf.IssuingCertificateURL, []string{"http://own.example/ca"}) || len(leaf.CRLDistributionPoints) != 0 {
		t.Errorf("with the issuer's URLs: issuing %v, crl %v", leaf.IssuingCertificateURL, leaf.CRLDistributionPoints)
	}
	_, err = h.Do(opUpdate, "issuer/default", `{"ocsp_servers":["bad"]}`)
	wantInvalid(t, "issuer with a bad URL", err, "ocsp_servers")
}

func TestSignIntermediateCarriesURLs(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.genRoot(`,"ttl":"24h"`)
	h.Must(opUpdate, "config/urls", `{"issuing_certificates":"http://r.example/ca","crl_distribution_points":"http://r.example/crl"}`)
	other := newHarness(t)
	csr := decode[certResp](t, other.Must(opUpdate, "intermediate/generate/internal", `{"common_name":"Int","key_type":"ec"}`)).CSR
	sig := decode[certResp](t, h.Must(opUpdate, "root/sign-intermediate", `{"csr":`+quote(csr)+`,"ttl":"12h"}`))
	c := parseCert(t, sig.Certificate)
	if !slices.Equal(c.IssuingCertificateURL, []string{"http://r.example/ca"}) || !slices.Equal(c.CRLDistributionPoints, []string{"http://r.example/crl"}) {
		t.Errorf("intermediate URLs: issuing %v, crl %v", c.IssuingCertificateURL, c.CRLDistributionPoints)
	}
}

func TestConfigCRL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, root := h.genRoot(`,"ttl":"240h"`)
	if c := decode[crlConfig](t, h.Must(opRead, "config/crl", "")); c != defaultCRLConfig() {
		t.Errorf("default config/crl = %+v", c)
	}
	_, err := h.Do(opUpdate, "config/crl", `{"expiry":"soon"}`)
	wantInvalid(t, "bad expiry", err, "expiry")
	resp := h.Must(opUpdate, "config/crl", `{"expiry":"48h","enable_delta":true}`)
	if c := decode[crlConfig](t, resp); c.Expiry != "48h" || !c.EnableDelta {
		t.Errorf("config/crl write answered %+v", c)
	}
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "enable_delta") {
		t.Errorf("warnings = %v, want one about enable_delta", resp.Warnings)
	}
	crl := readCRL(t, h, root)
	if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != 48*time.Hour {
		t.Errorf("CRL lifetime = %v, want 48h", got)
	}
	h.Must(opUpdate, "roles/web", webRole)
	a := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"a.example.com"}`))
	h.Must(opUpdate, "revoke", `{"serial_number":"`+a.SerialNumber+`"}`)
	if got := revokedSerials(readCRL(t, h, root)); !slices.Equal(got, []string{a.SerialNumber}) {
		t.Fatalf("CRL = %v, want the revoked serial", got)
	}
	h.Must(opUpdate, "config/crl", `{"disable":true}`)
	if got := revokedSerials(readCRL(t, h, root)); len(got) != 0 {
		t.Errorf("CRL with disable = %v, want empty", got)
	}
	h.Must(opUpdate, "config/crl", `{"disable":false}`)
	if got := revokedSerials(readCRL(t, h, root)); !slices.Equal(got, []string{a.SerialNumber}) {
		t.Errorf("CRL enabled again = %v, want the revoked serial", got)
	}
}

func TestAutoTidy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.genRoot(`,"ttl":"240h"`)
	h.Must(opUpdate, "roles/web", webRole)
	def := decode[autoTidyConfig](t, h.Must(opRead, "config/auto-tidy", ""))
	if def.Enabled || def.IntervalDuration != 43200 || def.SafetyBuffer != 259200 || def.PauseDuration != "0s" {
		t.Errorf("default config/auto-tidy = %+v", def)
	}
	_, err := h.Do(opUpdate, "config/auto-tidy", `{"enabled":true}`)
	wantInvalid(t, "auto-tidy with nothing to tidy", err, "tidy_cert_store")
	c := decode[autoTidyConfig](t, h.Must(opUpdate, "config/auto-tidy", `{"enabled":true,"tidy_cert_store":true,"interval_duration":"1h","safety_buffer":"1m"}`))
	if !c.Enabled || c.IntervalDuration != 3600 || c.SafetyBuffer != 60 {
		t.Errorf("config/auto-tidy write answered %+v", c)
	}
	a := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"a.example.com","ttl":"1h"}`))
	p := h.Backend.(*Backend)
	if err := p.Periodic(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(90 * time.Minute)
	if err := p.Periodic(t.Context()); err != nil {
		t.Fatal(err)
	}
	if resp, _ := h.Do(opRead, "cert/"+a.SerialNumber, ""); resp != nil {
		t.Error("auto-tidy kept a certificate that expired past the safety buffer")
	}
}

func TestGenerateLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, root := h.genRoot(`,"ttl":"240h"`)
	h.Must(opUpdate, "roles/web", webRole)
	if resp := h.Must(opUpdate, "issue/web", `{"common_name":"a.example.com"}`); resp.Secret != nil {
		t.Errorf("a role without generate_lease leased %+v", resp.Secret)
	}
	h.Must(opPatch, "roles/web", `{"generate_lease":true}`)
	resp := h.Must(opUpdate, "issue/web", `{"common_name":"b.example.com","ttl":"2h"}`)
	b := decode[certResp](t, resp)
	if resp.Secret == nil || resp.Secret.TTL != 2*time.Hour || resp.Secret.Renewable || resp.Secret.InternalData[dataSerial] != b.SerialNumber {
		t.Fatalf("lease = %+v, want a 2h non-renewable lease for serial %s", resp.Secret, b.SerialNumber)
	}
	p := h.Backend.(*Backend)
	ls := &logical.LeasedSecret{LeaseID: "pki/issue/web/x", Path: "issue/web", InternalData: resp.Secret.InternalData, IssueTime: h.Clock.Now()}
	if _, err := p.RenewSecret(t.Context(), ls); err == nil {
		t.Error("RenewSecret of a certificate lease succeeded")
	}
	for range 2 { // the second revocation finds it revoked already
		if err := p.RevokeSecret(t.Context(), ls); err != nil {
			t.Fatalf("RevokeSecret: %v", err)
		}
	}
	if got := revokedSerials(readCRL(t, h, root)); !slices.Equal(got, []string{b.SerialNumber}) {
		t.Errorf("CRL after the lease's revocation = %v, want %s", got, b.SerialNumber)
	}

	// With no_store the lease carries the certificate to revoke it.
	h.Must(opPatch, "roles/web", `{"no_store":true}`)
	resp = h.Must(opUpdate, "sign/web", `{"csr":`+quote(newCSR(t, false, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "c.example.com"}}))+`,"common_name":"c.example.com"}`)
	c := decode[certResp](t, resp)
	if resp.Secret == nil || resp.Secret.InternalData[dataCertificate] == "" {
		t.Fatalf("no_store lease = %+v, want the certificate in it", resp.Secret)
	}
	if err := p.RevokeSecret(t.Context(), &logical.LeasedSecret{InternalData: resp.Secret.InternalData}); err != nil {
		t.Fatalf("RevokeSecret with no_store: %v", err)
	}
	if got := revokedSerials(readCRL(t, h, root)); !slices.Contains(got, c.SerialNumber) {
		t.Errorf("CRL = %v, want %s too", got, c.SerialNumber)
	}
	// A certificate tidied away needs nothing more.
	if err := p.RevokeSecret(t.Context(), &logical.LeasedSecret{InternalData: map[string]string{dataSerial: "01:02:03"}}); err != nil {
		t.Errorf("RevokeSecret of a certificate that is gone: %v", err)
	}
}
