package pki

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

const webRole = `{"allowed_domains":["example.com"],"allow_subdomains":true,"allowed_uri_sans":["spiffe://cluster/ns/*/sa/*"],"key_type":"ec","ttl":"1h","max_ttl":"4h","organization":"Coffer"}`

func TestIssueVerifiesThroughChain(t *testing.T) {
	t.Parallel()
	_, inter, rootCert := twoTier(t)
	inter.Must(opUpdate, "roles/web", webRole)
	inter.Must(opUpdate, "roles/client", `{"allowed_domains":"example.com","allow_subdomains":true,"server_flag":false,"key_type":"ed25519"}`)

	tests := []struct {
		role, body string
		dns        string
		wantIP     string
		wantURI    string
		wantEKU    []x509.ExtKeyUsage
		keyType    string
	}{
		{
			role:    "web",
			body:    `{"common_name":"api.example.com","alt_names":"www.example.com","ip_sans":"10.0.0.1","uri_sans":"spiffe://cluster/ns/prod/sa/api"}`,
			dns:     "www.example.com",
			wantIP:  "10.0.0.1",
			wantURI: "spiffe://cluster/ns/prod/sa/api",
			wantEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			keyType: "ec",
		},
		{
			role:    "client",
			body:    `{"common_name":"worker.example.com"}`,
			dns:     "worker.example.com",
			wantEKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			keyType: "ed25519",
		},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			r := decode[certResp](t, inter.Must(opUpdate, "issue/"+tt.role, tt.body))
			leaf := parseCert(t, r.Certificate)
			if r.PrivateKeyType != tt.keyType {
				t.Errorf("private_key_type = %q, want %q", r.PrivateKeyType, tt.keyType)
			}
			checkKeyMatches(t, r.PrivateKey, leaf)
			if len(r.CAChain) != 2 {
				t.Fatalf("ca_chain has %d entries, want intermediate and root", len(r.CAChain))
			}
			inters, roots := x509.NewCertPool(), x509.NewCertPool()
			inters.AddCert(parseCert(t, r.IssuingCA))
			roots.AddCert(rootCert)
			for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				_, err := leaf.Verify(x509.VerifyOptions{
					DNSName:       tt.dns,
					Intermediates: inters,
					Roots:         roots,
					CurrentTime:   inter.Clock.Now(),
					KeyUsages:     []x509.ExtKeyUsage{eku},
				})
				if want := slices.Contains(tt.wantEKU, eku); (err == nil) != want {
					t.Errorf("Verify(%s, EKU %v) = %v, want success %v", tt.dns, eku, err, want)
				}
			}
			if diff := cmp.Diff(tt.wantEKU, leaf.ExtKeyUsage); diff != "" {
				t.Errorf("ExtKeyUsage (-want +got):\n%s", diff)
			}
			if tt.wantIP != "" && (len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP(tt.wantIP))) {
				t.Errorf("IPAddresses = %v, want [%s]", leaf.IPAddresses, tt.wantIP)
			}
			if tt.wantURI != "" && (len(leaf.URIs) != 1 || leaf.URIs[0].String() != tt.wantURI) {
				t.Errorf("URIs = %v, want [%s]", leaf.URIs, tt.wantURI)
			}
			if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
				t.Errorf("leaf IsCA=%v KeyUsage=%b", leaf.IsCA, leaf.KeyUsage)
			}
			if leaf.SerialNumber.BitLen() > 159 || leaf.SerialNumber.Sign() <= 0 || formatSerial(leaf.SerialNumber) != r.SerialNumber {
				t.Errorf("serial %s (%d bits), response says %s", formatSerial(leaf.SerialNumber), leaf.SerialNumber.BitLen(), r.SerialNumber)
			}
		})
	}
	web := decode[certResp](t, inter.Must(opUpdate, "issue/web", `{"common_name":"a.example.com"}`))
	if c := parseCert(t, web.Certificate); !slices.Equal(c.Subject.Organization, []string{"Coffer"}) || c.Subject.CommonName != "a.example.com" || !slices.Equal(c.DNSNames, []string{"a.example.com"}) {
		t.Errorf("subject %v, DNS names %v", c.Subject, c.DNSNames)
	}
}

func TestRefusedNames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.genRoot(`,"ttl":"20h"`)
	roles := map[string]string{
		"web":    `{"allowed_domains":"example.com","key_type":"ec"}`,
		"sub":    `{"allowed_domains":"example.com","allow_subdomains":true,"allow_ip_sans":false,"key_type":"ec"}`,
		"bare":   `{"allowed_domains":"example.com","allow_bare_domains":true,"key_type":"ec"}`,
		"glob":   `{"allowed_domains":"*.svc.example.com","allow_glob_domains":true,"key_type":"ec","allowed_uri_sans":"spiffe://cluster/ns/*/sa/*"}`,
		"noglob": `{"allowed_domains":"*.svc.example.com","key_type":"ec"}`,
		"nolh":   `{"allow_localhost":false,"allowed_domains":"example.com","key_type":"ec"}`,
		"nowild": `{"allowed_domains":"example.com","allow_subdomains":true,"allow_wildcard_certificates":false,"key_type":"ec"}`,
		"any":    `{"allow_any_name":true,"key_type":"ec"}`,
	}
	for name, body := range roles {
		h.Must(opUpdate, "roles/"+name, body)
	}
	tests := []struct {
		role, body string
		want       []string // substrings of the error; nil means allowed
	}{
		{"web", `{"common_name":"foo.evil.com"}`, []string{"common name foo.evil.com not allowed by role web", "not in allowed_domains [example.com]"}},
		{"web", `{"common_name":"a.example.com"}`, []string{"common name a.example.com not allowed by role web", "subdomains of example.com need allow_subdomains"}},
		{"web", `{"common_name":"example.com"}`, []string{"the bare domain example.com needs allow_bare_domains"}},
		{"sub", `{"common_name":"a.b.example.com"}`, nil},
		{"sub", `{"common_name":"a.example.com","alt_names":"x.evil.com"}`, []string{"DNS SAN x.evil.com not allowed by role sub"}},
		{"sub", `{"common_name":"a.example.com","ip_sans":"10.1.2.3"}`, []string{"IP SAN 10.1.2.3 not allowed by role sub", "allow_ip_sans"}},
		{"sub", `{"common_name":"10.1.2.3"}`, []string{"common name 10.1.2.3 not allowed by role sub"}},
		{"sub", `{"common_name":"a.example.com","uri_sans":"spiffe://cluster/ns/a/sa/b"}`, []string{"URI SAN spiffe://cluster/ns/a/sa/b not allowed by role sub", "no allowed_uri_sans"}},
		{"sub", `{"common_name":"*.example.com"}`, nil},
		{"sub", `{"common_name":"bad_name.example.com"}`, []string{"not a valid hostname"}},
		{"sub", `{}`, []string{"common_name field is required"}},
		{"bare", `{"common_name":"example.com"}`, nil},
		{"bare", `{"common_name":"a.example.com"}`, []string{"subdomains of example.com need allow_subdomains"}},
		{"glob", `{"common_name":"api.svc.example.com","uri_sans":"spiffe://cluster/ns/prod/sa/api"}`, nil},
		{"glob", `{"common_name":"api.other.example.com"}`, []string{"not in allowed_domains"}},
		{"glob", `{"common_name":"api.svc.example.com","uri_sans":"spiffe://cluster/ns/prod/sa/api/extra"}`, []string{"URI SAN spiffe://cluster/ns/prod/sa/api/extra not allowed by role glob", "one path segment"}},
		{"glob", `{"common_name":"api.svc.example.com","uri_sans":"spiffe://cluster/ns/a/b/sa/c"}`, []string{"URI SAN", "matches none of allowed_uri_sans"}},
		{"glob", `{"common_name":"api.svc.example.com","uri_sans":"spiffe://other/ns/a/sa/c"}`, []string{"URI SAN spiffe://other/ns/a/sa/c not allowed"}},
		{"glob", `{"common_name":"api.svc.example.com","uri_sans":"spiffe://cluster/ns/../sa/c"}`, []string{"dot segment"}},
		{"noglob", `{"common_name":"api.svc.example.com"}`, []string{"the pattern *.svc.example.com matches only with allow_glob_domains"}},
		{"nolh", `{"common_name":"localhost"}`, []string{"localhost needs allow_localhost"}},
		{"web", `{"common_name":"localhost"}`, nil},
		{"nowild", `{"common_name":"*.example.com"}`, []string{"allow_wildcard_certificates"}},
		{"any", `{"common_name":"anything.at.all"}`, nil},
		{"any", `{"common_name":"x","alt_names":"no spaces allowed"}`, []string{"not a valid hostname"}},
		{"missing", `{"common_name":"a.example.com"}`, []string{"unknown role missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.role+" "+tt.body, func(t *testing.T) {
			before := h.Storage.Snapshot()
			resp, err := h.Do(opUpdate, "issue/"+tt.role, tt.body)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("issue/%s %s: %v, want success", tt.role, tt.body, err)
				}
				decode[certResp](t, resp)
				return
			}
			wantInvalid(t, "issue/"+tt.role+" "+tt.body, err, tt.want...)
			if len(h.Storage.Snapshot()) != len(before) {
				t.Errorf("a refused request changed storage")
			}
		})
	}
}

func TestTTLCapping(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // mount: default TTL 1h, max TTL 24h
	_, root := h.genRoot(`,"ttl":"10h"`)
	h.Must(opUpdate, "roles/short", `{"allow_any_name":true,"key_type":"ec","max_ttl":"2h"}`)
	h.Must(opUpdate, "roles/long", `{"allow_any_name":true,"key_type":"ec","ttl":"30m","max_ttl":"100h"}`)
	now := h.Clock.Now()
	tests := []struct {
		role, ttl   string
		wantExpires time.Time
		wantWarning string
	}{
		{"short", `"1h"`, now.Add(time.Hour), ""},
		{"short", `"5h"`, now.Add(2 * time.Hour), "capped"},
		{"long", `""`, now.Add(30 * time.Minute), ""},
		{"long", `"9h"`, now.Add(9 * time.Hour), ""},
		{"long", `"20h"`, root.NotAfter, "expires with it"}, // issuer's NotAfter
		{"long", `"50h"`, root.NotAfter, "expires with it"}, // mount max 24h, then issuer
		{"short", `7200`, now.Add(2 * time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.role+" "+tt.ttl, func(t *testing.T) {
			resp := h.Must(opUpdate, "issue/"+tt.role, `{"common_name":"svc.internal","ttl":`+tt.ttl+`}`)
			c := parseCert(t, decode[certResp](t, resp).Certificate)
			if !c.NotAfter.Equal(tt.wantExpires.Truncate(time.Second)) {
				t.Errorf("NotAfter = %v, want %v", c.NotAfter, tt.wantExpires)
			}
			if c.NotAfter.After(root.NotAfter) {
				t.Errorf("leaf outlives its issuer: %v > %v", c.NotAfter, root.NotAfter)
			}
			if !c.NotBefore.Equal(now.Add(-30 * time.Second).Truncate(time.Second)) {
				t.Errorf("NotBefore = %v, want 30s before now", c.NotBefore)
			}
			got := strings.Join(resp.Warnings, "; ")
			if (tt.wantWarning == "") != (got == "") || !strings.Contains(got, tt.wantWarning) {
				t.Errorf("warnings = %q, want one containing %q", got, tt.wantWarning)
			}
		})
	}
	// Once the issuer has expired, nothing more is issued.
	h.Clock.Advance(11 * time.Hour)
	_, err := h.Do(opUpdate, "issue/long", `{"common_name":"svc.internal"}`)
	wantInvalid(t, "issue after the issuer expired", err, "expired")
}

// newCSR makes a CSR with an EC P-256 or Ed25519 key.
func newCSR(t testing.TB, ed bool, tmpl *x509.CertificateRequest) string {
	t.Helper()
	var key any
	var err error
	if ed {
		_, key, err = ed25519.GenerateKey(rand.Reader)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestSignCSR(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, root := h.genRoot(`,"ttl":"20h"`)
	h.Must(opUpdate, "roles/web", webRole)
	h.Must(opUpdate, "roles/anykey", `{"allowed_domains":"example.com","allow_subdomains":true,"key_type":"any","use_csr_sans":false}`)
	spiffe, _ := url.Parse("spiffe://cluster/ns/prod/sa/api")
	good := newCSR(t, false, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "api.example.com"},
		DNSNames:    []string{"api-alt.example.com"},
		IPAddresses: []net.IP{net.ParseIP("192.0.2.7")},
		URIs:        []*url.URL{spiffe},
	})
	r := decode[certResp](t, h.Must(opUpdate, "sign/web", `{"csr":`+quote(good)+`}`))
	c := parseCert(t, r.Certificate)
	block, _ := pem.Decode([]byte(good))
	csr, _ := x509.ParseCertificateRequest(block.Bytes)
	if !publicKeysEqual(c.PublicKey, csr.PublicKey) {
		t.Errorf("signed certificate does not carry the CSR's key")
	}
	if r.PrivateKey != "" {
		t.Errorf("sign returned a private key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	for _, name := range []string{"api.example.com", "api-alt.example.com", "192.0.2.7"} {
		if _, err := c.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, CurrentTime: h.Clock.Now()}); err != nil {
			t.Errorf("Verify(%s): %v", name, err)
		}
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != spiffe.String() {
		t.Errorf("URIs = %v", c.URIs)
	}

	// use_csr_sans false: the SANs come from the request, not the CSR.
	ed := newCSR(t, true, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ed.example.com"}, DNSNames: []string{"sneaky.evil.com"}})
	r = decode[certResp](t, h.Must(opUpdate, "sign/anykey", `{"csr":`+quote(ed)+`,"alt_names":"ok.example.com"}`))
	if got := parseCert(t, r.Certificate).DNSNames; !slices.Equal(got, []string{"ed.example.com", "ok.example.com"}) {
		t.Errorf("DNS names = %v, want the CN and the requested SAN only", got)
	}

	tests := []struct {
		name, role, csr string
		want            string
	}{
		{"garbage", "web", "not a csr", "want one PEM block"},
		{"empty", "web", "", "missing csr"},
		{"wrong block", "web", encodeCert(formatPEM, root.Raw), "unexpected PEM block CERTIFICATE"},
		{"bad der", "web", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "csr does not parse"},
		{"wrong key type", "web", ed, "requires key_type ec"},
		{"bad name", "web", newCSR(t, false, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x.evil.com"}}), "common name x.evil.com not allowed by role web"},
		{"bad san", "web", newCSR(t, false, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a.example.com"}, DNSNames: []string{"b.evil.com"}}), "DNS SAN b.evil.com not allowed"},
		{"tampered", "web", tamper(t, good), "csr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Do(opUpdate, "sign/"+tt.role, `{"csr":`+quote(tt.csr)+`}`)
			wantInvalid(t, tt.name, err, tt.want)
		})
	}
}

// tamper flips a byte inside the CSR's subject so that its signature no
// longer verifies.
func tamper(t testing.TB, csrPEM string) string {
	t.Helper()
	block, _ := pem.Decode([]byte(csrPEM))
	der := slices.Clone(block.Bytes)
	i := strings.Index(string(der), "api.example.com")
	if i < 0 {
		t.Fatal("CN not found in CSR")
	}
	der[i] = 'b'
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestIssueFormats(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.genRoot("")
	h.Must(opUpdate, "roles/web", webRole)
	der := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"a.example.com","format":"der","private_key_format":"pkcs8"}`))
	raw, err := decodeBase64(der.Certificate)
	if err != nil {
		t.Fatalf("der certificate is not base64: %v", err)
	}
	c, err := x509.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := decodeBase64(der.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(keyDER); err != nil {
		t.Errorf("pkcs8 der key does not parse: %v", err)
	}
	if c.Subject.CommonName != "a.example.com" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	bundle := decode[certResp](t, h.Must(opUpdate, "issue/web", `{"common_name":"b.example.com","format":"pem_bundle"}`))
	var types []string
	for rest := []byte(bundle.Certificate); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		types = append(types, b.Type)
	}
	if diff := cmp.Diff([]string{"EC PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"}, types); diff != "" {
		t.Errorf("pem_bundle blocks (-want +got):\n%s", diff)
	}
	_, err = h.Do(opUpdate, "issue/web", `{"common_name":"b.example.com","format":"p12"}`)
	wantInvalid(t, "bad format", err, "invalid format")
}

func TestStorageWritesPerIssue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.genRoot("")
	h.Must(opUpdate, "roles/web", webRole)
	h.Must(opUpdate, "roles/ephemeral", `{"allowed_domains":"example.com","allow_subdomains":true,"key_type":"ec","no_store":true}`)
	for _, tt := range []struct {
		role   string
		writes int64
	}{{"web", 1}, {"ephemeral", 0}} {
		h.Must(opUpdate, "issue/"+tt.role, `{"common_name":"warm.example.com"}`) // load the issuer cache
		before := h.Storage.Counts()
		r := decode[certResp](t, h.Must(opUpdate, "issue/"+tt.role, `{"common_name":"a.example.com"}`))
		after := h.Storage.Counts()
		if got := (after.Puts + after.Txns + after.Deletes) - (before.Puts + before.Txns + before.Deletes); got != tt.writes {
			t.Errorf("issue/%s made %d storage writes, want %d", tt.role, got, tt.writes)
		}
		stored, _ := h.Do(opRead, "cert/"+r.SerialNumber, "")
		if (stored != nil) != (tt.writes == 1) {
			t.Errorf("issue/%s: cert/%s stored = %v", tt.role, r.SerialNumber, stored != nil)
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Must(opUpdate, "roles/web", `{"allowed_domains":"example.com, example.org","ttl":"1h","max_ttl":"2h","key_type":"ec","ext_key_usage":"CodeSigning","ou":"Platform"}`)
	got := decode[map[string]any](t, h.Must(opRead, "roles/web", ""))
	want := map[string]any{
		"allowed_domains": []any{"example.com", "example.org"}, "ttl": 3600.0, "max_ttl": 7200.0,
		"key_type": "ec", "key_bits": 256.0, "ext_key_usage": []any{"CodeSigning"}, "ou": []any{"Platform"},
		"allow_localhost": true, "allow_ip_sans": true, "server_flag": true, "client_flag": true,
		"enforce_hostnames": true, "require_cn": true, "issuer_ref": "default", "no_store": false,
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got[k]); diff != "" {
			t.Errorf("role field %s (-want +got):\n%s", k, diff)
		}
	}
	h.Must(opPatch, "roles/web", `{"no_store":true}`)
	got = decode[map[string]any](t, h.Must(opRead, "roles/web", ""))
	if got["no_store"] != true || got["key_type"] != "ec" {
		t.Errorf("after patch: no_store=%v key_type=%v", got["no_store"], got["key_type"])
	}
	h.Must(opUpdate, "roles/other", `{}`)
	list := decode[map[string][]string](t, h.Must(opList, "roles", ""))
	if diff := cmp.Diff([]string{"other", "web"}, list["keys"]); diff != "" {
		t.Errorf("LIST roles (-want +got):\n%s", diff)
	}
	h.Must(opDelete, "roles/other", "")
	if resp, _ := h.Do(opRead, "roles/other", ""); resp != nil {
		t.Errorf("deleted role still readable")
	}
	for _, tt := range []struct{ body, want string }{
		{`{"ttl":"3h","max_ttl":"1h"}`, "longer than max_ttl"},
		{`{"key_type":"dsa"}`, "invalid key_type"},
		{`{"key_type":"rsa","key_bits":1000}`, "invalid key_bits"},
		{`{"ext_key_usage":"Teleport"}`, "invalid ext_key_usage"},
		{`{"key_usage":"Everything"}`, "invalid key_usage"},
		{`{"allowed_domains":5}`, `invalid value for "allowed_domains"`},
	} {
		_, err := h.Do(opUpdate, "roles/bad", tt.body)
		wantInvalid(t, tt.body, err, tt.want)
	}
	_, err := h.Do(opPatch, "roles/nope", `{"no_store":true}`)
	if !errors.Is(err, logical.ErrNotFound) {
		t.Errorf("patch of a missing role: %v, want not found", err)
	}
}

func TestConformance(t *testing.T) {
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: opUpdate, Path: "root/generate/internal", Body: []byte(`{"common_name":"Conformance Root","key_type":"ec","ttl":"10h"}`)},
			{Operation: opUpdate, Path: "roles/web", Body: []byte(webRole)},
			{Operation: opUpdate, Path: "issue/web", Body: []byte(`{"common_name":"a.example.com"}`)},
			{Operation: opUpdate, Path: "crl/rotate", Body: []byte(`{}`)},
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "roles/web"},
			{Operation: opList, Path: "roles"},
			{Operation: opList, Path: "issuers"},
			{Operation: opList, Path: "certs"},
			{Operation: opRead, Path: "issuer/default"},
			{Operation: opRead, Path: "config/issuers"},
			{Operation: opRead, Path: "ca/pem"},
			{Operation: opRead, Path: "crl"},
			{Operation: opRead, Path: "cert/ca"},
		},
	})
}
