package jwt

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// jwksHarness configures the mount with p's JWKS URL and writes role "app".
func jwksHarness(t *testing.T, p *idp) *harness {
	t.Helper()
	h := newHarness(t)
	h.Must(opUpdate, "config", js(map[string]any{"jwks_url": p.srv.URL + "/keys", "jwks_ca_pem": p.caPEM()}))
	h.Must(opUpdate, "role/app", js(baseRole(nil)))
	return h
}

func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, k.rsa)
	h := jwksHarness(t, p)
	if got := p.fetches.Load(); got != 1 {
		t.Fatalf("JWKS fetches after config write = %d, want 1", got)
	}
	if _, err := h.login("app", k.rsa.sign(t, claims(h.Clock.Now(), nil), true)); err != nil {
		t.Fatalf("login with the first key: %v", err)
	}
	if got := p.fetches.Load(); got != 1 {
		t.Errorf("JWKS fetches after a login with a cached key = %d, want 1", got)
	}

	// A token from a key the provider has not published yet is refused,
	// even after the (rate-limited) refresh it triggers.
	h.Clock.Advance(10 * time.Second)
	newTok := k.ec256.sign(t, claims(h.Clock.Now(), nil), true)
	_, err := h.login("app", newTok)
	logicaltest.WantError(t, "login with an unknown kid", err, logical.ErrInvalidCredentials, "error verifying token signature: no configured key has the token's key ID (kid)")
	if got := p.fetches.Load(); got != 2 {
		t.Errorf("JWKS fetches after an unknown kid = %d, want 2", got)
	}

	// Rotation: the provider now publishes the new key. Within the rate
	// limit the cache is not refreshed and the token is still refused.
	p.setKeys(k.rsa, k.ec256)
	_, err = h.login("app", newTok)
	logicaltest.WantError(t, "login within the rate limit", err, logical.ErrInvalidCredentials, "error verifying token signature: no configured key has the token's key ID (kid)")
	if got := p.fetches.Load(); got != 2 {
		t.Errorf("JWKS fetches within the rate limit = %d, want 2", got)
	}
	h.Clock.Advance(minRefreshInterval)
	if _, err := h.login("app", newTok); err != nil {
		t.Fatalf("login with the rotated-in key: %v", err)
	}
	if got := p.fetches.Load(); got != 3 {
		t.Errorf("JWKS fetches after rotation = %d, want 3", got)
	}

	// The old key is retired; after an hour the cache is refreshed and
	// its tokens are refused.
	p.setKeys(k.ec256)
	if _, err := h.login("app", k.rsa.sign(t, claims(h.Clock.Now(), nil), true)); err != nil {
		t.Fatalf("login with the old key while cached: %v", err)
	}
	h.Clock.Advance(maxKeyAge)
	_, err = h.login("app", k.rsa.sign(t, claims(h.Clock.Now(), nil), true))
	logicaltest.WantError(t, "login with the retired key", err, logical.ErrInvalidCredentials, "error verifying token signature: no configured key has the token's key ID (kid)")
	if got := p.fetches.Load(); got != 4 {
		t.Errorf("JWKS fetches after an hour = %d, want 4", got)
	}
}

func TestJWKSUnknownKIDFloodIsRateLimited(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, k.rsa)
	h := jwksHarness(t, p)
	h.Clock.Advance(time.Minute)
	bad := signer{k.rsa2.alg, k.rsa2.key, "made-up"}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := h.login("app", bad.sign(t, claims(h.Clock.Now(), nil), true))
			if err == nil {
				t.Error("login with a made-up kid succeeded")
			}
		})
	}
	wg.Wait()
	if got := p.fetches.Load(); got != 2 {
		t.Errorf("JWKS fetches after 20 logins with unknown kids = %d, want 2 (one at config, one refresh)", got)
	}
}

func TestJWKSFailureKeepsCache(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, k.rsa)
	h := jwksHarness(t, p)
	p.status.Store(http.StatusInternalServerError)
	h.Clock.Advance(2 * maxKeyAge)
	if _, err := h.login("app", k.rsa.sign(t, claims(h.Clock.Now(), nil), true)); err != nil {
		t.Errorf("login while the JWKS endpoint fails, with cached keys: %v", err)
	}

	// A fresh backend (say after a restart) with no cache cannot verify.
	h2 := newHarness(t)
	p.status.Store(0)
	h2.Must(opUpdate, "config", js(map[string]any{"jwks_url": p.srv.URL + "/keys", "jwks_ca_pem": p.caPEM()}))
	h2.Must(opUpdate, "role/app", js(baseRole(nil)))
	h2.Backend.(logical.Cleaner).Cleanup(t.Context()) // drops the cache
	p.status.Store(http.StatusBadGateway)
	_, err := h2.login("app", k.rsa.sign(t, claims(h2.Clock.Now(), nil), true))
	logicaltest.WantError(t, "login with no keys", err, logical.ErrUpstream, "could not be fetched")
}

func TestJWKSTokenWithoutKID(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, k.rsa, k.ec256)
	h := jwksHarness(t, p)
	if _, err := h.login("app", k.ec256.sign(t, claims(h.Clock.Now(), nil), false)); err != nil {
		t.Errorf("login without kid: %v", err)
	}
}

func TestOIDCDiscovery(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, k.ed)
	h := newHarness(t)
	h.Must(opUpdate, "config", js(map[string]any{"oidc_discovery_url": p.srv.URL, "oidc_discovery_ca_pem": p.caPEM()}))
	h.Must(opUpdate, "role/app", js(baseRole(nil)))
	now := h.Clock.Now()
	if _, err := h.login("app", k.ed.sign(t, claims(now, map[string]any{"iss": p.srv.URL}), true)); err != nil {
		t.Fatalf("login: %v", err)
	}
	_, err := h.login("app", k.ed.sign(t, claims(now, map[string]any{"iss": "https://issuer.example"}), true))
	logicaltest.WantError(t, "login with another issuer", err, logical.ErrInvalidCredentials, "invalid issuer (iss) claim")
}

func TestConfigWriteChecksKeySource(t *testing.T) {
	t.Parallel()
	k := keys()
	p := newIDP(t, k.rsa)
	empty := newIDP(t)
	tests := []struct {
		name   string
		config map[string]any
		substr string
	}{
		{"untrusted CA", map[string]any{"jwks_url": p.srv.URL + "/keys"}, "certificate"},
		{"not found", map[string]any{"jwks_url": p.srv.URL + "/nope", "jwks_ca_pem": p.caPEM()}, "404"},
		{"no usable key", map[string]any{"jwks_url": empty.srv.URL + "/keys", "jwks_ca_pem": empty.caPEM()}, "no usable public signing key"},
		{"discovery issuer mismatch", map[string]any{"oidc_discovery_url": p.srv.URL + "/", "oidc_discovery_ca_pem": p.caPEM()}, "names issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			_, err := h.Do(opUpdate, "config", js(tt.config))
			logicaltest.WantError(t, "config write", err, logical.ErrInvalidRequest, tt.substr)
			if resp, err := h.Do(opRead, "config", ""); err != nil || resp != nil {
				t.Errorf("config read after a refused write = %v, %v, want nil, nil", resp, err)
			}
		})
	}
}
