package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// ServerOptions are the optional settings of [ServerConfig].
type ServerOptions struct {
	// MinVersion is tls.VersionTLS12 (what zero means) or
	// tls.VersionTLS13. Older versions are refused.
	MinVersion uint16
	// MaxVersion is tls.VersionTLS13 (what zero means) or
	// tls.VersionTLS12; it may not be below MinVersion.
	MaxVersion uint16
	// CipherSuites, when set, narrows the TLS 1.2 suites offered to those
	// listed; each must be one of the suites ServerConfig allows. TLS 1.3
	// suites in the list are skipped (they are not configurable).
	CipherSuites []uint16
	// ClientCAFile, when set, is a PEM bundle of CA certificates; client
	// certificates are verified against it. Without RequireClientCert a
	// client may still connect without one.
	ClientCAFile string
	// RequireClientCert refuses clients that present no certificate, or
	// one ClientCAFile does not verify. It needs ClientCAFile.
	RequireClientCert bool
}

// ServerConfig returns the TLS configuration for a listener serving the
// certificate chain in certFile with the key in keyFile (both PEM), and the
// [Reloader] that serves them: call its Reload method to pick up new files.
//
// The configuration allows TLS 1.2 and later (or 1.3 only, when asked) and,
// for TLS 1.2, only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305;
// TLS 1.3 suites are all AEAD already. The client CA bundle is read once.
// The caller owns the returned *tls.Config and may add to it (such as
// NextProtos) before use.
func ServerConfig(certFile, keyFile string, opts ServerOptions) (*tls.Config, *Reloader, error) {
	minVersion := opts.MinVersion
	switch minVersion {
	case 0:
		minVersion = tls.VersionTLS12
	case tls.VersionTLS12, tls.VersionTLS13:
	default:
		return nil, nil, fmt.Errorf("tls config: unsupported minimum version %#04x; want TLS 1.2 or 1.3", opts.MinVersion)
	}
	maxVersion := opts.MaxVersion
	switch maxVersion {
	case 0:
		maxVersion = tls.VersionTLS13
	case tls.VersionTLS12, tls.VersionTLS13:
	default:
		return nil, nil, fmt.Errorf("tls config: unsupported maximum version %#04x; want TLS 1.2 or 1.3", opts.MaxVersion)
	}
	if maxVersion < minVersion {
		return nil, nil, errors.New("tls config: maximum version is below the minimum version")
	}
	suites, err := narrowSuites(opts.CipherSuites)
	if err != nil {
		return nil, nil, err
	}
	if opts.RequireClientCert && opts.ClientCAFile == "" {
		return nil, nil, errors.New("tls config: requiring client certificates needs a client CA file")
	}
	r, err := NewReloader(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		MinVersion:     minVersion,
		MaxVersion:     maxVersion,
		CipherSuites:   suites,
		GetCertificate: r.GetCertificate,
		ClientAuth:     tls.NoClientCert,
	}
	if opts.ClientCAFile != "" {
		pem, err := os.ReadFile(opts.ClientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls config: read client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("tls config: no certificates in client CA file %s", opts.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if opts.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, r, nil
}

// narrowSuites returns the allowed TLS 1.2 suites in want, or all of them
// when want names none; a suite that is not allowed is an error.
func narrowSuites(want []uint16) ([]uint16, error) {
	allowed := cipherSuites()
	var out []uint16
	for _, id := range want {
		switch {
		case slices.Contains(allowed, id):
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		case tls13Suite(id):
		default:
			return nil, fmt.Errorf("tls config: cipher suite %s is not allowed; only ECDHE with AES-GCM or ChaCha20-Poly1305", tls.CipherSuiteName(id))
		}
	}
	if len(out) == 0 {
		return allowed, nil
	}
	return out, nil
}

// tls13Suite reports whether id is a TLS 1.3 suite.
func tls13Suite(id uint16) bool {
	for _, cs := range tls.CipherSuites() {
		if cs.ID == id {
			return slices.Equal(cs.SupportedVersions, []uint16{tls.VersionTLS13})
		}
	}
	return false
}

// cipherSuites are the TLS 1.2 suites offered: forward secret and AEAD.
// (TLS 1.3 suites are not configurable and are all AEAD.)
func cipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// Reloader serves a certificate and key loaded from files, and loads them
// again on request. It is safe for concurrent use: handshakes in progress
// keep the pair they started with.
type Reloader struct {
	certFile, keyFile string
	mu                sync.Mutex                      // serialises Reload
	cert              atomic.Pointer[tls.Certificate] // never nil after NewReloader
}

// NewReloader loads the PEM certificate chain in certFile and the key in
// keyFile, failing if they do not load or do not match.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads both files again. If they load and match, new handshakes use
// them; otherwise the error says why and the pair in use stays.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		// The error from crypto/tls never holds key material.
		return fmt.Errorf("load certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&pair)
	return nil
}

// GetCertificate returns the current pair; it is the
// tls.Config.GetCertificate hook.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Leaf returns the parsed leaf certificate of the current pair, for
// logging its expiry and names. The caller must not modify it.
func (r *Reloader) Leaf() *x509.Certificate {
	return r.cert.Load().Leaf
}
