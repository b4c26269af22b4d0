package tlsutil

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/atomicfile"
)

// Paths are the files of a local CA directory that a listener and its
// clients use.
type Paths struct {
	// CACert is the CA certificate (PEM). Clients trust it, for example
	// with VAULT_CACERT.
	CACert string
	// Cert is the server certificate (PEM), issued by the CA.
	Cert string
	// Key is the server's private key (PEM, PKCS #8), mode 0600.
	Key string
}

// The local CA's file names, validity periods and names.
const (
	caCertName = "ca.pem"
	caKeyName  = "ca-key.pem"
	certName   = "server.pem"
	keyName    = "server-key.pem"

	// CAName is the common name of the local CA certificate.
	CAName = "Coffer local CA"
	// CAValidity is how long a new local CA is valid.
	CAValidity = 10 * 365 * 24 * time.Hour
	// CertValidity is how long a server certificate from the local CA is
	// valid (never beyond the CA itself).
	CertValidity = 365 * 24 * time.Hour
	// RenewBefore is how long before its expiry a server certificate is
	// reissued.
	RenewBefore = 30 * 24 * time.Hour

	// backdate allows for clocks a little behind ours.
	backdate = 5 * time.Minute
)

// EnsureLocalCA makes sure dir holds a local CA and a server certificate
// from it that is valid at now for every name in hosts, and returns where
// the files are.
//
// On first use it creates dir (mode 0700), an ECDSA P-256 self-signed CA
// named [CAName] valid for [CAValidity], and a server certificate valid for
// [CertValidity]. hosts holds IP addresses (which become IP SANs) and DNS
// names (DNS SANs; "*.example.com" is allowed); 127.0.0.1, ::1 and
// localhost are always included, and empty or unspecified addresses (such
// as the 0.0.0.0 of a listener on every interface) are skipped. Private
// keys are written with mode 0600 and every file is replaced atomically.
//
// Later calls reuse the files as they are. Only the server certificate is
// reissued, with a fresh key and the same CA, when it is missing, does not
// load, was not issued by the CA, is not yet valid, expires within
// [RenewBefore], or lacks one of hosts. The CA is never replaced once its
// certificate exists: if the CA certificate is there but its key is
// missing, unreadable, expired or not yet valid, EnsureLocalCA fails and says so, because
// clients may trust that CA. (A CA key without its certificate is a
// creation interrupted before anything was issued, and is replaced.)
//
// A process serving the certificate should call [Reloader.Reload] after
// EnsureLocalCA reissues it. EnsureLocalCA must not run concurrently for
// the same dir.
func EnsureLocalCA(dir string, hosts []string, now time.Time) (Paths, error) {
	p := Paths{
		CACert: filepath.Join(dir, caCertName),
		Cert:   filepath.Join(dir, certName),
		Key:    filepath.Join(dir, keyName),
	}
	names, ips, err := sans(hosts)
	if err != nil {
		return Paths{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Paths{}, fmt.Errorf("local CA: %w", err)
	}
	ca, caKey, err := loadOrCreateCA(dir, now)
	if err != nil {
		return Paths{}, err
	}
	if certCurrent(p, ca, names, ips, now) {
		return p, nil
	}
	if err := issue(p, ca, caKey, names, ips, now); err != nil {
		return Paths{}, err
	}
	return p, nil
}

// sans splits hosts into sorted, de-duplicated DNS names and IP addresses,
// adding the loopback names.
func sans(hosts []string) ([]string, []net.IP, error) {
	var names []string
	var addrs []netip.Addr
	all := append([]string{"127.0.0.1", "::1", "localhost"}, hosts...)
	for _, h := range all {
		h = strings.TrimSpace(h)
		if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = h[1 : len(h)-1]
		}
		if h == "" {
			continue
		}
		if a, err := netip.ParseAddr(h); err == nil {
			a = a.WithZone("").Unmap()
			if !a.IsUnspecified() && !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(h, "."))
		if !validDNSName(name) {
			return nil, nil, fmt.Errorf("local CA: host %q is neither an IP address nor a DNS name", h)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	slices.SortFunc(addrs, netip.Addr.Compare)
	ips := make([]net.IP, len(addrs))
	for i, a := range addrs {
		ips[i] = net.IP(a.AsSlice())
	}
	return names, ips, nil
}

// validDNSName reports whether name is a lower-case DNS name, optionally
// with a leading "*." wildcard label.
func validDNSName(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z') {
				return false
			}
		}
	}
	return true
}

// loadOrCreateCA returns the CA in dir, creating it when its certificate
// does not exist.
func loadOrCreateCA(dir string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	certPath := filepath.Join(dir, caCertName)
	keyPath := filepath.Join(dir, caKeyName)
	ok, err := exists(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: %w", err)
	}
	if !ok {
		return createCA(certPath, keyPath, now)
	}
	block, err := readPEM(certPath, "CERTIFICATE")
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: %w", err)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: parse %s: %w", certPath, err)
	}
	keyBlock, err := readPEM(keyPath, "PRIVATE KEY")
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: the CA certificate exists but its key does not load (restore it, or remove %s to start a new CA that clients must trust again): %w", certPath, err)
	}
	key, err := parseSigner(keyBlock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: %s: %w", keyPath, err)
	}
	if !publicKeysEqual(ca.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("local CA: %s does not belong to %s", keyPath, certPath)
	}
	if !ca.IsCA {
		return nil, nil, fmt.Errorf("local CA: %s is not a CA certificate", certPath)
	}
	if now.Before(ca.NotBefore) {
		return nil, nil, fmt.Errorf("local CA: %s is not valid until %s; check the system clock", certPath, ca.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(ca.NotAfter) {
		return nil, nil, fmt.Errorf("local CA: %s expired at %s; remove it and %s to start a new CA", certPath, ca.NotAfter.UTC().Format(time.RFC3339), keyPath)
	}
	return ca, key, nil
}

func createCA(certPath, keyPath string, now time.Time) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: CAName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: create certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: parse new certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: encode key: %w", err)
	}
	// The key goes first: a certificate on disk means the CA exists.
	if err := atomicfile.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, nil, fmt.Errorf("local CA: %w", err)
	}
	if err := atomicfile.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, fmt.Errorf("local CA: %w", err)
	}
	return ca, key, nil
}

// certCurrent reports whether the server certificate in p loads, matches
// its key, was issued by ca, is valid from now until well after now, and
// names every one of names and ips.
func certCurrent(p Paths, ca *x509.Certificate, names []string, ips []net.IP, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil || pair.Leaf == nil {
		return false
	}
	leaf := pair.Leaf
	if leaf.CheckSignatureFrom(ca) != nil || !bytes.Equal(leaf.RawIssuer, ca.RawSubject) {
		return false
	}
	if now.Before(leaf.NotBefore) || !now.Add(RenewBefore).Before(leaf.NotAfter) {
		return false
	}
	for _, n := range names {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// issue writes a new server key and certificate signed by ca.
func issue(p Paths, ca *x509.Certificate, caKey crypto.Signer, names []string, ips []net.IP, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("local CA: generate server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	notAfter := now.Add(CertValidity)
	if ca.NotAfter.Before(notAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Coffer server"},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("local CA: issue server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("local CA: encode server key: %w", err)
	}
	if err := atomicfile.WriteFile(p.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	if err := atomicfile.WriteFile(p.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	return nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("local CA: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// parseSigner parses a PKCS #8 private key usable for signing.
func parseSigner(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS #8 private key")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%T cannot sign", k)
	}
	return s, nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
