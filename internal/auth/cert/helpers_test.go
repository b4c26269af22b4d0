package cert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// testNow is the instant logicaltest.NewEnv's clock starts at.
var testNow = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)

// issuer is a CA certificate with its key.
type issuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// certSpec describes a certificate to make. Zero times mean "an hour
// before now" and "a day after now".
type certSpec struct {
	cn        string
	ous       []string
	dns       []string
	emails    []string
	uris      []string
	eku       []x509.ExtKeyUsage
	ca        bool
	notBefore time.Time
	notAfter  time.Time
}

// serials makes serial numbers unique within a test binary run.
type serials struct{ n atomic.Int64 }

func (s *serials) next() *big.Int { return big.NewInt(1000 + s.n.Add(1)) }

// pkiFor builds certificates valid around now.
type pkiFor struct {
	tb     testing.TB
	now    time.Time
	serial *serials
}

func newPKI(tb testing.TB, now time.Time) *pkiFor {
	tb.Helper()
	return &pkiFor{tb: tb, now: now, serial: &serials{}}
}

// make signs spec with parent (nil for a self-signed certificate) and
// returns the certificate and its new P-256 key.
func (p *pkiFor) make(spec certSpec, parent *issuer) (*x509.Certificate, *ecdsa.PrivateKey) {
	p.tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   p.serial.next(),
		Subject:        pkix.Name{CommonName: spec.cn, OrganizationalUnit: spec.ous},
		NotBefore:      spec.notBefore,
		NotAfter:       spec.notAfter,
		DNSNames:       spec.dns,
		EmailAddresses: spec.emails,
		ExtKeyUsage:    spec.eku,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		// Go derives a subject key ID only for CAs; give leaves one too.
		SubjectKeyId: subjectKeyID(p.tb, key),
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = p.now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = p.now.Add(24 * time.Hour)
	}
	for _, s := range spec.uris {
		u, err := url.Parse(s)
		if err != nil {
			p.tb.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	if spec.ca {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		p.tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		p.tb.Fatal(err)
	}
	return c, key
}

// subjectKeyID is the SHA-1 of the key's encoding, as RFC 5280 suggests.
func subjectKeyID(tb testing.TB, key *ecdsa.PrivateKey) []byte {
	tb.Helper()
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha1.Sum(pub)
	return sum[:]
}

// ca makes a CA under parent (nil for a root) valid for ten years.
func (p *pkiFor) ca(cn string, parent *issuer) *issuer {
	p.tb.Helper()
	c, k := p.make(certSpec{cn: cn, ca: true, notBefore: p.now.Add(-time.Hour), notAfter: p.now.AddDate(10, 0, 0)}, parent)
	return &issuer{cert: c, key: k}
}

// client makes a client certificate (client auth EKU unless spec says
// otherwise) under parent.
func (p *pkiFor) client(spec certSpec, parent *issuer) (*x509.Certificate, *ecdsa.PrivateKey) {
	p.tb.Helper()
	if spec.eku == nil {
		spec.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return p.make(spec, parent)
}

// crl returns a PEM CRL by iss listing serials.
func (p *pkiFor) crl(iss *issuer, revoked ...*big.Int) string {
	p.tb.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: p.now.Add(-time.Hour), NextUpdate: p.now.Add(time.Hour)}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: p.now.Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, iss.cert, iss.key)
	if err != nil {
		p.tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// pemOf encodes certs as PEM CERTIFICATE blocks.
func pemOf(certs ...*x509.Certificate) string {
	var sb strings.Builder
	for _, c := range certs {
		sb.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return sb.String()
}

// harness drives one cert backend through HandleRequest.
type harness struct {
	tb    testing.TB
	b     logical.Backend
	st    *logicaltest.Storage
	clock *logicaltest.Clock
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	env := logicaltest.NewEnv(nil)
	return &harness{
		tb: tb, b: logicaltest.New(tb, Factory, env),
		st: env.Storage.(*logicaltest.Storage), clock: env.Clock.(*logicaltest.Clock),
	}
}

func (h *harness) do(op logical.Operation, path string, body any) (*logical.Response, error) {
	h.tb.Helper()
	req := &logical.Request{Operation: op, Path: path}
	switch v := body.(type) {
	case nil:
	case string:
		req.Body = json.RawMessage(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			h.tb.Fatal(err)
		}
		req.Body = raw
	}
	return h.b.HandleRequest(h.tb.Context(), req)
}

func (h *harness) must(op logical.Operation, path string, body any) *logical.Response {
	h.tb.Helper()
	resp, err := h.do(op, path, body)
	if err != nil {
		h.tb.Fatalf("%s %q: %v", op, path, err)
	}
	return resp
}

// login sends a login with chain (leaf first) from addr.
func (h *harness) login(name string, chain ...*x509.Certificate) (*logical.Response, error) {
	h.tb.Helper()
	return h.b.HandleRequest(h.tb.Context(), loginRequest(name, chain...))
}

func loginRequest(name string, chain ...*x509.Certificate) *logical.Request {
	req := &logical.Request{
		Operation:  logical.UpdateOperation,
		Path:       "login",
		Connection: &logical.Connection{RemoteAddr: "192.0.2.10:44321", TLS: &tls.ConnectionState{PeerCertificates: chain}},
	}
	if name != "" {
		req.Body = json.RawMessage(`{"name":` + jsonString(name) + `}`)
	}
	return req
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// data returns the response data as generic JSON, or nil for none.
func data(tb testing.TB, resp *logical.Response) any {
	tb.Helper()
	if resp == nil || resp.Data == nil {
		return nil
	}
	raw, err := json.Marshal(resp.Data)
	if err != nil {
		tb.Fatalf("marshal response data: %v", err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func diffJSON(tb testing.TB, what, want string, resp *logical.Response) {
	tb.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatalf("bad test JSON %q: %v", want, err)
	}
	if diff := cmp.Diff(w, data(tb, resp)); diff != "" {
		tb.Errorf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

func wantKind(tb testing.TB, what string, err, kind error) {
	tb.Helper()
	if !errors.Is(err, kind) {
		tb.Fatalf("%s: error = %v, want %v", what, err, kind)
	}
}

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)
