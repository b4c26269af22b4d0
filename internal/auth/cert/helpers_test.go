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
	"math/big"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
type harness struct{ *logicaltest.Harness }

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	return &harness{logicaltest.NewHarness(tb, Factory, logical.Env{})}
}

// login sends a login with chain (leaf first) from addr.
func (h *harness) login(name string, chain ...*x509.Certificate) (*logical.Response, error) {
	h.T.Helper()
	return h.Send(loginRequest(name, chain...))
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

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)
