package pki

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readCRL fetches crl (DER), parses it and checks its signature with the
// issuer's public key.
func readCRL(t *testing.T, h *harness, issuer *x509.Certificate) *x509.RevocationList {
	t.Helper()
	resp := h.Must(opRead, "crl", "")
	if resp.Raw == nil || resp.Raw.ContentType != "application/pkix-crl" {
		t.Fatalf("crl response = %+v, want raw DER", resp)
	}
	crl, err := x509.ParseRevocationList(resp.Raw.Body)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		t.Fatalf("CRL signature does not verify with the issuer: %v", err)
	}
	return crl
}

func revokedSerials(crl *x509.RevocationList) []string {
	var out []string
	for _, e := range crl.RevokedCertificateEntries {
		out = append(out, formatSerial(e.SerialNumber))
	}
	slices.Sort(out)
	return out
}

func TestRevokeAndCRL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, root := h.genRoot(`,"ttl":"20h"`)
	h.Must(opUpdate, "roles/web", webRole)
	a := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"a.example.com"}`))
	b := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"b.example.com"}`))

	empty := readCRL(t, h, root)
	if len(empty.RevokedCertificateEntries) != 0 {
		t.Errorf("fresh CRL lists %d certificates", len(empty.RevokedCertificateEntries))
	}
	if !empty.NextUpdate.After(empty.ThisUpdate) || empty.Number.Sign() <= 0 {
		t.Errorf("CRL ThisUpdate %v NextUpdate %v Number %v", empty.ThisUpdate, empty.NextUpdate, empty.Number)
	}

	h.Clock.Advance(time.Minute)
	rev := decode[revokeData](t, h.Must(opUpdate, "revoke", `{"serial_number":"`+a.SerialNumber+`"}`))
	if rev.State != "revoked" || rev.RevocationTime != h.Clock.Now().Unix() {
		t.Errorf("revoke = %+v, want revoked at %d", rev, h.Clock.Now().Unix())
	}
	crl := readCRL(t, h, root)
	if diff := cmp.Diff([]string{a.SerialNumber}, revokedSerials(crl)); diff != "" {
		t.Errorf("CRL serials (-want +got):\n%s", diff)
	}
	if crl.Number.Cmp(empty.Number) <= 0 {
		t.Errorf("CRL number %v did not increase from %v", crl.Number, empty.Number)
	}
	if got := crl.RevokedCertificateEntries[0].RevocationTime; !got.Equal(h.Clock.Now().Truncate(time.Second)) {
		t.Errorf("revocation time on the CRL = %v, want %v", got, h.Clock.Now())
	}

	// Revoking again is idempotent: same time, CRL unchanged.
	h.Clock.Advance(time.Minute)
	again := decode[revokeData](t, h.Must(opUpdate, "revoke", `{"serial_number":"`+hyphens(a.SerialNumber)+`"}`))
	if again.RevocationTime != rev.RevocationTime {
		t.Errorf("second revoke time = %d, want %d", again.RevocationTime, rev.RevocationTime)
	}
	if n := readCRL(t, h, root).Number; n.Cmp(crl.Number) != 0 {
		t.Errorf("second revoke changed the CRL number to %v", n)
	}

	// cert/:serial reports the revocation; the other certificate is good.
	ra := decode[certData](t, h.Must(opRead, "cert/"+a.SerialNumber, ""))
	rb := decode[certData](t, h.Must(opRead, "cert/"+hyphens(b.SerialNumber), ""))
	if ra.RevocationTime != rev.RevocationTime || ra.RevocationTimeRFC3339 == "" || rb.RevocationTime != 0 {
		t.Errorf("revocation_time: revoked %d (%q), good %d", ra.RevocationTime, ra.RevocationTimeRFC3339, rb.RevocationTime)
	}
	if !parseCert(t, rb.Certificate).Equal(parseCert(t, b.Certificate)) {
		t.Errorf("cert/%s is not the issued certificate", b.SerialNumber)
	}
	if list := decode[map[string][]string](t, h.Must(opList, "certs/revoked", "")); !slices.Equal(list["keys"], []string{a.SerialNumber}) {
		t.Errorf("LIST certs/revoked = %v", list["keys"])
	}

	// crl/rotate re-signs with a higher number and the same entries.
	rot := decode[rotateData](t, h.Must(opRead, "crl/rotate", ""))
	if !rot.Success {
		t.Errorf("crl/rotate success = false")
	}
	rotated := readCRL(t, h, root)
	if rotated.Number.Cmp(crl.Number) <= 0 || !slices.Equal(revokedSerials(rotated), revokedSerials(crl)) {
		t.Errorf("after rotate: number %v (was %v), serials %v", rotated.Number, crl.Number, revokedSerials(rotated))
	}
	pemResp := h.Must(opRead, "crl/pem", "")
	block, _ := pem.Decode(pemResp.Raw.Body)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatalf("crl/pem is not a PEM CRL")
	}
	if c, err := x509.ParseRevocationList(block.Bytes); err != nil || c.Number.Cmp(rotated.Number) != 0 {
		t.Errorf("crl/pem = %v, %v; want the current CRL", c, err)
	}

	tests := []struct{ name, body, want string }{
		{"unknown serial", `{"serial_number":"01:02:03"}`, "certificate with serial number 01:02:03 not found"},
		{"malformed serial", `{"serial_number":"zz:top"}`, "invalid serial_number"},
		{"nothing", `{}`, "missing serial_number"},
		{"issuer itself", `{"serial_number":"` + formatSerial(root.SerialNumber) + `"}`, "cannot be revoked here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.Storage.Snapshot()
			_, err := h.Do(opUpdate, "revoke", tt.body)
			wantInvalid(t, tt.name, err, tt.want)
			if len(h.Storage.Snapshot()) != len(before) {
				t.Errorf("refused revoke changed storage")
			}
		})
	}
}

func TestRevokeNoStoreByCertificate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, root := h.genRoot("")
	h.Must(opUpdate, "roles/eph", `{"allow_any_name":true,"key_type":"ec","no_store":true}`)
	r := decode[certResp](t, h.Must(opUpdate, "issue/eph", `{"common_name":"x.internal"}`))
	_, err := h.Do(opUpdate, "revoke", `{"serial_number":"`+r.SerialNumber+`"}`)
	wantInvalid(t, "revoke unstored by serial", err, "not found")
	h.Must(opUpdate, "revoke", `{"certificate":`+quote(r.Certificate)+`}`)
	if got := revokedSerials(readCRL(t, h, root)); !slices.Equal(got, []string{r.SerialNumber}) {
		t.Errorf("CRL serials = %v, want [%s]", got, r.SerialNumber)
	}
	// A certificate from another CA is refused.
	other := newHarness(t)
	other.genRoot("")
	other.Must(opUpdate, "roles/eph", `{"allow_any_name":true,"key_type":"ec"}`)
	foreign := decode[certResp](t, other.Must(opUpdate, "issue/eph", `{"common_name":"x.internal"}`))
	_, err = h.Do(opUpdate, "revoke", `{"certificate":`+quote(foreign.Certificate)+`}`)
	wantInvalid(t, "revoke foreign", err, "not issued by an issuer of this mount")
}

func TestCRLOfIntermediate(t *testing.T) {
	t.Parallel()
	_, inter, _ := twoTier(t)
	inter.Must(opUpdate, "roles/web", webRole)
	r := decode[certResp](t, inter.Must(opUpdate, "issue/web", `{"common_name":"a.example.com"}`))
	inter.Must(opUpdate, "revoke", `{"serial_number":"`+r.SerialNumber+`"}`)
	crl := readCRL(t, inter, parseCert(t, r.IssuingCA))
	if got := revokedSerials(crl); !slices.Equal(got, []string{r.SerialNumber}) {
		t.Errorf("intermediate CRL serials = %v", got)
	}
}

func TestCertsListAndRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	root, rootCert := h.genRoot("")
	h.Must(opUpdate, "roles/web", webRole)
	want := []string{root.SerialNumber}
	for _, cn := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		want = append(want, decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"`+cn+`"}`)).SerialNumber)
	}
	slices.Sort(want)
	got := decode[map[string][]string](t, h.Must(opList, "certs", ""))["keys"]
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LIST certs (-want +got):\n%s", diff)
	}
	ca := decode[certData](t, h.Must(opRead, "cert/ca", ""))
	if !parseCert(t, ca.Certificate).Equal(rootCert) || ca.IssuerID != root.IssuerID {
		t.Errorf("cert/ca = %+v", ca)
	}
	chain := h.Must(opRead, "ca_chain", "")
	if c := parseCert(t, string(chain.Raw.Body)); !c.Equal(rootCert) {
		t.Errorf("ca_chain is not the root")
	}
	if resp, err := h.Do(opRead, "cert/00:11", ""); resp != nil || err != nil {
		t.Errorf("unknown serial = %v, %v; want nothing (404)", resp, err)
	}
	if _, err := h.Do(opRead, "cert/0:1", ""); err == nil {
		t.Errorf("malformed serial accepted")
	}
}

func TestTidy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, root := h.genRoot(`,"ttl":"24h"`)
	h.Must(opUpdate, "roles/web", webRole)
	short := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"short.example.com","ttl":"1h"}`))
	shortRevoked := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"gone.example.com","ttl":"1h"}`))
	long := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"long.example.com","ttl":"4h"}`))
	longRevoked := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"kept.example.com","ttl":"4h"}`))
	h.Must(opUpdate, "revoke", `{"serial_number":"`+shortRevoked.SerialNumber+`"}`)
	h.Must(opUpdate, "revoke", `{"serial_number":"`+longRevoked.SerialNumber+`"}`)

	_, err := h.Do(opUpdate, "tidy", `{}`)
	wantInvalid(t, "tidy with nothing to do", err, "no tidy operation")

	// Two hours later, with a 30 minute buffer, only the 1h certificates go.
	h.Clock.Advance(2 * time.Hour)
	d := decode[tidyData](t, h.Must(opUpdate, "tidy", `{"tidy_cert_store":true,"tidy_revoked_certs":true,"safety_buffer":"30m"}`))
	if d.CertStoreDeletedCount != 2 || d.RevokedCertDeletedCount != 1 {
		t.Errorf("tidy = %+v, want 2 certificates and 1 revocation deleted", d)
	}
	for _, tt := range []struct {
		serial string
		kept   bool
	}{{short.SerialNumber, false}, {shortRevoked.SerialNumber, false}, {long.SerialNumber, true}, {longRevoked.SerialNumber, true}} {
		resp, _ := h.Do(opRead, "cert/"+tt.serial, "")
		if (resp != nil) != tt.kept {
			t.Errorf("cert/%s present = %v, want %v", tt.serial, resp != nil, tt.kept)
		}
	}
	if got := revokedSerials(readCRL(t, h, root)); !slices.Equal(got, []string{longRevoked.SerialNumber}) {
		t.Errorf("CRL after tidy = %v, want only the unexpired revocation", got)
	}
	// The default safety buffer is 72h: nothing more goes yet.
	h.Clock.Advance(3 * time.Hour)
	d = decode[tidyData](t, h.Must(opUpdate, "tidy", `{"tidy_cert_store":true}`))
	if d.CertStoreDeletedCount != 0 {
		t.Errorf("tidy inside the default buffer deleted %d", d.CertStoreDeletedCount)
	}
}

func TestPeriodicRefreshesCRL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, root := h.genRoot(`,"ttl":"24h"`)
	first := readCRL(t, h, root)
	p := h.Backend.(*Backend)
	if err := p.Periodic(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := readCRL(t, h, root).Number; n.Cmp(first.Number) != 0 {
		t.Errorf("a fresh CRL was rebuilt by Periodic")
	}
	h.Clock.Advance(crlLifetime/2 + time.Minute)
	if err := p.Periodic(t.Context()); err != nil {
		t.Fatal(err)
	}
	next := readCRL(t, h, root)
	if next.Number.Cmp(first.Number) <= 0 || !next.ThisUpdate.After(first.ThisUpdate) {
		t.Errorf("Periodic did not rebuild a CRL past half its life: number %v, this update %v", next.Number, next.ThisUpdate)
	}
}

func hyphens(serial string) string {
	b := []byte(serial)
	for i := range b {
		if b[i] == ':' {
			b[i] = '-'
		}
	}
	return string(b)
}
