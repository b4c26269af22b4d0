package jwt

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// config is the stored mount configuration. Exactly one of
// OIDCDiscoveryURL, JWKSURL and JWTValidationPubKeys is set.
type config struct {
	OIDCDiscoveryURL     string   `json:"oidc_discovery_url,omitempty"`
	OIDCDiscoveryCAPEM   string   `json:"oidc_discovery_ca_pem,omitempty"`
	JWKSURL              string   `json:"jwks_url,omitempty"`
	JWKSCAPEM            string   `json:"jwks_ca_pem,omitempty"`
	JWTValidationPubKeys []string `json:"jwt_validation_pubkeys,omitempty"`
	JWTSupportedAlgs     []string `json:"jwt_supported_algs,omitempty"`
	BoundIssuer          string   `json:"bound_issuer,omitempty"`
	DefaultRole          string   `json:"default_role,omitempty"`
}

// configInput is the body of a config write. A write replaces the whole
// configuration, as in Vault: absent fields are cleared.
type configInput struct {
	OIDCDiscoveryURL     string                 `json:"oidc_discovery_url"`
	OIDCDiscoveryCAPEM   string                 `json:"oidc_discovery_ca_pem"`
	JWKSURL              string                 `json:"jwks_url"`
	JWKSCAPEM            string                 `json:"jwks_ca_pem"`
	JWTValidationPubKeys framework.CommaStrings `json:"jwt_validation_pubkeys"`
	JWTSupportedAlgs     framework.CommaStrings `json:"jwt_supported_algs"`
	BoundIssuer          string                 `json:"bound_issuer"`
	DefaultRole          string                 `json:"default_role"`
}

// configResponse is the data of a config read.
type configResponse struct {
	OIDCDiscoveryURL     string   `json:"oidc_discovery_url"`
	OIDCDiscoveryCAPEM   string   `json:"oidc_discovery_ca_pem"`
	JWKSURL              string   `json:"jwks_url"`
	JWKSCAPEM            string   `json:"jwks_ca_pem"`
	JWTValidationPubKeys []string `json:"jwt_validation_pubkeys"`
	JWTSupportedAlgs     []string `json:"jwt_supported_algs"`
	BoundIssuer          string   `json:"bound_issuer"`
	DefaultRole          string   `json:"default_role"`
}

// asymmetricAlgs returns every signing algorithm a token may use: RSA
// PKCS#1 v1.5, RSA-PSS, ECDSA and Ed25519. Symmetric (HS*) algorithms and
// "none" are never accepted, whatever the configuration says.
func asymmetricAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512,
		jose.EdDSA,
	}
}

// allowedAlgs returns the algorithms tokens may use under c.
func (c *config) allowedAlgs() []jose.SignatureAlgorithm {
	if len(c.JWTSupportedAlgs) == 0 {
		return asymmetricAlgs()
	}
	out := make([]jose.SignatureAlgorithm, 0, len(c.JWTSupportedAlgs))
	for _, a := range c.JWTSupportedAlgs {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out
}

func (b *backend) loadConfig(ctx context.Context) (*config, error) {
	var c config
	found, err := framework.GetJSON(ctx, b.storage, configKey, &c)
	if err != nil || !found {
		return nil, err
	}
	return &c, nil
}

// digest identifies the configuration c, to tell whether the cached key
// source was built from it.
func (c *config) digest() [sha256.Size]byte {
	// A config is strings and string slices: it always encodes.
	raw, _ := json.Marshal(c)
	return sha256.Sum256(raw)
}

// readConfig answers config; an unconfigured mount is (nil, nil), which
// core answers with 404.
func (b *backend) readConfig(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	c, err := b.loadConfig(ctx)
	if err != nil || c == nil {
		return nil, err
	}
	return &logical.Response{Data: &configResponse{
		OIDCDiscoveryURL:     c.OIDCDiscoveryURL,
		OIDCDiscoveryCAPEM:   c.OIDCDiscoveryCAPEM,
		JWKSURL:              c.JWKSURL,
		JWKSCAPEM:            c.JWKSCAPEM,
		JWTValidationPubKeys: nonNil(c.JWTValidationPubKeys),
		JWTSupportedAlgs:     nonNil(c.JWTSupportedAlgs),
		BoundIssuer:          c.BoundIssuer,
		DefaultRole:          c.DefaultRole,
	}}, nil
}

// writeConfig validates and stores a new configuration. For a remote key
// source it fetches the discovery document and the JWKS first, so that a
// wrong URL or CA is reported now rather than at the first login.
func (b *backend) writeConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *configInput) (*logical.Response, error) {
	c, err := in.config()
	if err != nil {
		return nil, err
	}
	src, err := newKeySource(c, b.clock, b.logger)
	if err != nil {
		return nil, err
	}
	if r, ok := src.(*remoteKeys); ok {
		if err := r.refresh(ctx, b.clock.Now()); err != nil {
			src.close()
			return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "check key source: " + err.Error(), Err: err}
		}
	}
	if err := framework.PutJSON(ctx, b.storage, configKey, c); err != nil {
		src.close()
		return nil, err
	}
	b.installSource(src, c.digest())
	return nil, nil
}

// config validates in and returns the configuration to store.
func (in *configInput) config() (*config, error) {
	c := &config{
		OIDCDiscoveryURL:   strings.TrimSpace(in.OIDCDiscoveryURL),
		OIDCDiscoveryCAPEM: strings.TrimSpace(in.OIDCDiscoveryCAPEM),
		JWKSURL:            strings.TrimSpace(in.JWKSURL),
		JWKSCAPEM:          strings.TrimSpace(in.JWKSCAPEM),
		BoundIssuer:        strings.TrimSpace(in.BoundIssuer),
		DefaultRole:        strings.ToLower(strings.TrimSpace(in.DefaultRole)),
	}
	for _, k := range in.JWTValidationPubKeys {
		if k = strings.TrimSpace(k); k != "" {
			c.JWTValidationPubKeys = append(c.JWTValidationPubKeys, k)
		}
	}
	sources := 0
	for _, set := range []bool{c.OIDCDiscoveryURL != "", c.JWKSURL != "", len(c.JWTValidationPubKeys) > 0} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, logical.InvalidRequest("exactly one of \"oidc_discovery_url\", \"jwks_url\" and \"jwt_validation_pubkeys\" must be set")
	}
	if c.OIDCDiscoveryCAPEM != "" && c.OIDCDiscoveryURL == "" {
		return nil, logical.InvalidRequest("\"oidc_discovery_ca_pem\" needs \"oidc_discovery_url\"")
	}
	if c.JWKSCAPEM != "" && c.JWKSURL == "" {
		return nil, logical.InvalidRequest("\"jwks_ca_pem\" needs \"jwks_url\"")
	}
	for field, u := range map[string]string{"oidc_discovery_url": c.OIDCDiscoveryURL, "jwks_url": c.JWKSURL} {
		if u == "" {
			continue
		}
		if err := checkHTTPSURL(u); err != nil {
			return nil, logical.InvalidRequest("invalid value for %q: %v", field, err)
		}
	}
	if c.DefaultRole != "" {
		if _, err := framework.Name("role", c.DefaultRole); err != nil {
			return nil, logical.InvalidRequest("invalid value for \"default_role\": not a valid role name")
		}
	}
	allowed := asymmetricAlgs()
	for _, a := range in.JWTSupportedAlgs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !slices.Contains(allowed, jose.SignatureAlgorithm(a)) {
			return nil, logical.InvalidRequest("invalid value for \"jwt_supported_algs\": %q is not supported: only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 and EdDSA are (symmetric algorithms and \"none\" are never accepted)", truncate(a, 32))
		}
		if !slices.Contains(c.JWTSupportedAlgs, a) {
			c.JWTSupportedAlgs = append(c.JWTSupportedAlgs, a)
		}
	}
	return c, nil
}

// checkHTTPSURL accepts an absolute https URL with a host and without
// credentials, query or fragment.
func checkHTTPSURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL")
	case u.Scheme != "https":
		return fmt.Errorf("must be an https URL")
	case u.Host == "":
		return fmt.Errorf("has no host")
	case u.User != nil:
		return fmt.Errorf("must not hold credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("must not have a query or fragment")
	}
	return nil
}

// source returns the key source for the stored config c, building it
// when the config changed since the last call (for example written by
// another node).
func (b *backend) source(c *config) (keySource, error) {
	sum := c.digest()
	b.srcMu.Lock()
	defer b.srcMu.Unlock()
	if b.src != nil && b.srcFor == sum {
		return b.src, nil
	}
	src, err := newKeySource(c, b.clock, b.logger)
	if err != nil {
		return nil, err
	}
	if b.src != nil {
		b.src.close()
	}
	b.src, b.srcFor = src, sum
	return src, nil
}

// installSource makes src the key source for the stored config whose
// digest is sum.
func (b *backend) installSource(src keySource, sum [sha256.Size]byte) {
	b.srcMu.Lock()
	defer b.srcMu.Unlock()
	if b.src != nil {
		b.src.close()
	}
	b.src, b.srcFor = src, sum
}

// nonNil returns a copy of s that is never nil, so that it marshals as [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// truncate cuts s to at most n bytes, for quoting client input in errors.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
