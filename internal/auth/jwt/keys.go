package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Limits and timings of remote key fetches.
const (
	// maxKeyAge is how long fetched keys are used before they are fetched
	// again.
	maxKeyAge = time.Hour
	// minRefreshInterval is the shortest time between two fetches, so that
	// tokens naming unknown key IDs cannot make the server fetch on every
	// request.
	minRefreshInterval = 5 * time.Second
	// maxDocumentBytes bounds a discovery document or a JWKS.
	maxDocumentBytes = 1 << 20
	// fetchTimeout bounds one fetch, redirects included.
	fetchTimeout = 15 * time.Second
	// minRSABits is the smallest RSA key accepted.
	minRSABits = 2048
)

// errRateLimited reports a refresh skipped because the last one was too
// recent.
var errRateLimited = errors.New("key refresh rate-limited")

// keySource yields the keys a token may be verified with.
type keySource interface {
	// keys returns the candidate keys for a token naming key ID kid (""
	// when it names none). An empty result means no key fits; an error
	// means none could be obtained at all.
	keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error)
	// close releases idle connections.
	close()
}

// newKeySource builds the key source c configures. It does no I/O.
func newKeySource(c *config, clock logical.Clock, logger *slog.Logger) (keySource, error) {
	if len(c.JWTValidationPubKeys) > 0 {
		keys, err := parsePublicKeys(c.JWTValidationPubKeys)
		if err != nil {
			return nil, err
		}
		return staticKeys(keys), nil
	}
	r := &remoteKeys{clock: clock, logger: logger}
	caPEM := c.JWKSCAPEM
	if c.OIDCDiscoveryURL != "" {
		r.discoveryURL, caPEM = c.OIDCDiscoveryURL, c.OIDCDiscoveryCAPEM
	} else {
		r.jwksURL = c.JWKSURL
	}
	client, err := newHTTPClient(caPEM)
	if err != nil {
		return nil, err
	}
	r.client = client
	return r, nil
}

// staticKeys are the keys of jwt_validation_pubkeys; they have no key IDs,
// so every one is a candidate for every token.
type staticKeys []jose.JSONWebKey

func (s staticKeys) keys(context.Context, string) ([]jose.JSONWebKey, error) { return s, nil }
func (s staticKeys) close()                                                  {}

// parsePublicKeys parses PEM public keys ("PUBLIC KEY", "RSA PUBLIC KEY")
// or certificates ("CERTIFICATE", whose key is used). Each list entry may
// hold several blocks.
func parsePublicKeys(list []string) (staticKeys, error) {
	var out staticKeys
	for i, entry := range list {
		rest := []byte(entry)
		found := false
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			found = true
			var pub any
			var err error
			switch block.Type {
			case "PUBLIC KEY":
				pub, err = x509.ParsePKIXPublicKey(block.Bytes)
			case "RSA PUBLIC KEY":
				pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
			case "CERTIFICATE":
				var cert *x509.Certificate
				if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
					pub = cert.PublicKey
				}
			default:
				return nil, logical.InvalidRequest("invalid value for \"jwt_validation_pubkeys\": entry %d holds a %q PEM block, want \"PUBLIC KEY\" or \"CERTIFICATE\"", i, truncate(block.Type, 40))
			}
			if err != nil {
				return nil, logical.InvalidRequest("invalid value for \"jwt_validation_pubkeys\": entry %d does not parse: %v", i, err)
			}
			if err := checkKey(pub); err != nil {
				return nil, logical.InvalidRequest("invalid value for \"jwt_validation_pubkeys\": entry %d: %v", i, err)
			}
			out = append(out, jose.JSONWebKey{Key: pub})
		}
		if !found {
			return nil, logical.InvalidRequest("invalid value for \"jwt_validation_pubkeys\": entry %d is not PEM", i)
		}
	}
	return out, nil
}

// checkKey accepts RSA keys of at least 2048 bits, ECDSA keys on P-256,
// P-384 or P-521 and Ed25519 keys.
func checkKey(pub any) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too short, want at least %d", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return errors.New("ECDSA key on an unsupported curve")
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("malformed Ed25519 key")
		}
	default:
		return fmt.Errorf("unsupported key type %T: want RSA, ECDSA or Ed25519", pub)
	}
	return nil
}

// keyFits reports whether key can verify signatures made with alg, and so
// whether alg may be tried with it: RS* and PS* need RSA, ES256, ES384 and
// ES512 need ECDSA on P-256, P-384 and P-521, EdDSA needs Ed25519.
func keyFits(alg string, key any) bool {
	switch alg {
	case string(jose.RS256), string(jose.RS384), string(jose.RS512),
		string(jose.PS256), string(jose.PS384), string(jose.PS512):
		_, ok := key.(*rsa.PublicKey)
		return ok
	case string(jose.ES256), string(jose.ES384), string(jose.ES512):
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		switch alg {
		case string(jose.ES256):
			return k.Curve == elliptic.P256()
		case string(jose.ES384):
			return k.Curve == elliptic.P384()
		}
		return k.Curve == elliptic.P521()
	case string(jose.EdDSA):
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}

// remoteKeys is a JWKS fetched over HTTPS, directly from jwks_url or from
// the jwks_uri of an OIDC discovery document, and cached. It is safe for
// concurrent use.
type remoteKeys struct {
	client       *http.Client
	discoveryURL string // the oidc_discovery_url, or ""
	jwksURL      string // the jwks_url, or "" in discovery mode
	clock        logical.Clock
	logger       *slog.Logger

	fetchMu sync.Mutex // serialises fetches; taken before mu

	mu        sync.Mutex
	set       []jose.JSONWebKey // guarded by mu: the usable keys of the last good fetch
	fetched   time.Time         // guarded by mu: when set was fetched; zero before the first success
	attempted time.Time         // guarded by mu: when the last fetch started
}

func (r *remoteKeys) close() { r.client.CloseIdleConnections() }

func (r *remoteKeys) snapshot() ([]jose.JSONWebKey, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set, r.fetched
}

// keys returns the cached keys with key ID kid (all of them when kid is
// ""). It refreshes the cache first when the keys are older than
// maxKeyAge or none has kid, at most once every minRefreshInterval. When a
// refresh fails, the cached keys are used, however old.
func (r *remoteKeys) keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	now := r.clock.Now()
	set, fetched := r.snapshot()
	if !fetched.IsZero() && now.Sub(fetched) < maxKeyAge {
		if m := matchKID(set, kid); len(m) > 0 {
			return m, nil
		}
	}
	err := r.refresh(ctx, now)
	set, fetched = r.snapshot()
	if fetched.IsZero() {
		if err == nil || errors.Is(err, errRateLimited) {
			err = errors.New("no keys fetched yet")
		}
		return nil, err
	}
	if err != nil && !errors.Is(err, errRateLimited) {
		r.logger.Warn("refresh JWKS; using the cached keys", "error", err)
	}
	return matchKID(set, kid), nil
}

// refresh fetches the keys again, unless a fetch started less than
// minRefreshInterval before now (then it returns errRateLimited).
func (r *remoteKeys) refresh(ctx context.Context, now time.Time) error {
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()
	r.mu.Lock()
	if !r.attempted.IsZero() {
		if since := now.Sub(r.attempted); since >= 0 && since < minRefreshInterval {
			r.mu.Unlock()
			return errRateLimited
		}
	}
	r.attempted = now
	r.mu.Unlock()

	set, err := r.fetch(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.set, r.fetched = set, now
	r.mu.Unlock()
	return nil
}

// discoveryDoc is the part of an OpenID Provider configuration document
// that is used.
type discoveryDoc struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// fetch downloads the JWKS (after the discovery document, in discovery
// mode) and returns its usable keys.
func (r *remoteKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	jwksURL := r.jwksURL
	if r.discoveryURL != "" {
		var doc discoveryDoc
		if err := getJSON(ctx, r.client, strings.TrimSuffix(r.discoveryURL, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return nil, fmt.Errorf("fetch discovery document: %w", err)
		}
		if doc.Issuer != r.discoveryURL {
			return nil, fmt.Errorf("discovery document names issuer %q, want the discovery URL %q", truncate(doc.Issuer, 200), r.discoveryURL)
		}
		if err := checkHTTPSURL(doc.JWKSURI); err != nil {
			return nil, fmt.Errorf("discovery document's jwks_uri: %w", err)
		}
		jwksURL = doc.JWKSURI
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, r.client, jwksURL, &raw); err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	set := usableKeys(raw.Keys)
	if len(set) == 0 {
		return nil, errors.New("the JWKS holds no usable public signing key (RSA of 2048 bits or more, ECDSA P-256/384/521 or Ed25519)")
	}
	return set, nil
}

// usableKeys parses JWKs and keeps the public signature keys checkKey
// accepts. Keys that do not parse (unknown types, say) are skipped, as are
// symmetric keys and keys marked for encryption. Private keys have their
// private part dropped.
func usableKeys(raw []json.RawMessage) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, r := range raw {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			if _, symmetric := k.Key.([]byte); symmetric {
				continue
			}
			k = k.Public()
		}
		if !k.Valid() || checkKey(k.Key) != nil {
			continue
		}
		out = append(out, jose.JSONWebKey{Key: k.Key, KeyID: k.KeyID, Algorithm: k.Algorithm, Use: k.Use})
	}
	return out
}

// matchKID returns the keys with key ID kid, or all keys when kid is "".
func matchKID(set []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return set
	}
	var out []jose.JSONWebKey
	for _, k := range set {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// newHTTPClient returns a client for fetching keys over HTTPS, trusting
// the certificates in caPEM or, when it is empty, the system's roots.
// Redirects are followed only to https URLs.
func newHTTPClient(caPEM string) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, logical.InvalidRequest("the CA PEM holds no certificate")
		}
		tlsConf.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != "https" {
				return errors.New("redirect to a non-https URL")
			}
			return nil
		},
	}, nil
}

// getJSON GETs url and decodes a 200 response of at most maxDocumentBytes
// into v.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("%s answered more than %d bytes", url, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}
