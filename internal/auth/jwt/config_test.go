package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConfigReadBack(t *testing.T) {
	t.Parallel()
	k := keys()
	h := newHarness(t)
	if resp, err := h.Do(opRead, "config", ""); err != nil || resp != nil {
		t.Fatalf("read before write = %v, %v, want nil, nil", resp, err)
	}
	pemKey := k.rsa.pubPEM(t)
	h.Must(opUpdate, "config", js(map[string]any{
		"jwt_validation_pubkeys": pemKey, "jwt_supported_algs": "RS256, ES256", "bound_issuer": "https://i", "default_role": "App",
	}))
	want := logicaltest.JSON(t, js(map[string]any{
		"oidc_discovery_url": "", "oidc_discovery_ca_pem": "", "jwks_url": "", "jwks_ca_pem": "",
		"jwt_validation_pubkeys": []string{pemKey[:len(pemKey)-1]}, "jwt_supported_algs": []string{"RS256", "ES256"},
		"bound_issuer": "https://i", "default_role": "app",
	}))
	if diff := cmp.Diff(want, logicaltest.Data(t, h.Must(opRead, "config", ""))); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	k := keys()
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakDER, _ := x509.MarshalPKIXPublicKey(&weak.PublicKey)
	weakPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: weakDER}))
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalPKIXPublicKey(&p224.PublicKey)
	p224PEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p224DER}))
	good := k.rsa.pubPEM(t)
	tests := []struct {
		name   string
		config map[string]any
		substr string
	}{
		{"no source", map[string]any{"bound_issuer": "x"}, "exactly one of"},
		{"two sources", map[string]any{"jwks_url": "https://a/keys", "jwt_validation_pubkeys": good}, "exactly one of"},
		{"http jwks", map[string]any{"jwks_url": "http://a/keys"}, "https"},
		{"credentials in URL", map[string]any{"oidc_discovery_url": "https://u:p@a/"}, "credentials"},
		{"stray CA", map[string]any{"jwt_validation_pubkeys": good, "jwks_ca_pem": "x"}, "needs \"jwks_url\""},
		{"bad CA", map[string]any{"jwks_url": "https://a/keys", "jwks_ca_pem": "nope"}, "no certificate"},
		{"not PEM", map[string]any{"jwt_validation_pubkeys": "hello"}, "not PEM"},
		{"private key PEM", map[string]any{"jwt_validation_pubkeys": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, "PRIVATE KEY"},
		{"weak RSA", map[string]any{"jwt_validation_pubkeys": weakPEM}, "too short"},
		{"P-224", map[string]any{"jwt_validation_pubkeys": p224PEM}, "unsupported curve"},
		{"HS256", map[string]any{"jwt_validation_pubkeys": good, "jwt_supported_algs": "RS256,HS256"}, `"HS256" is not supported`},
		{"none", map[string]any{"jwt_validation_pubkeys": good, "jwt_supported_algs": []string{"none"}}, `"none" is not supported`},
		{"bad default role", map[string]any{"jwt_validation_pubkeys": good, "default_role": "a/b"}, "default_role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			_, err := h.Do(opUpdate, "config", js(tt.config))
			logicaltest.WantError(t, "config write", err, logical.ErrInvalidRequest, tt.substr)
		})
	}
}

func TestRoleCRUD(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if resp, err := h.Do(opRead, "role/app", ""); err != nil || resp != nil {
		t.Fatalf("read of a missing role = %v, %v, want nil, nil", resp, err)
	}
	h.Must(opUpdate, "role/App", js(map[string]any{
		"bound_audiences":   "a, b",
		"bound_claims":      map[string]any{"env": []string{"prod"}, "/x/y": 1},
		"claim_mappings":    map[string]string{"email": "mail"},
		"groups_claim":      "groups",
		"token_policies":    "p1",
		"not_before_leeway": -1,
		"expiration_leeway": "5m",
	}))
	want := logicaltest.JSON(t, `{
		"role_type": "jwt", "bound_audiences": ["a","b"], "bound_subject": "",
		"bound_claims": {"env": ["prod"], "/x/y": 1}, "bound_claims_type": "string",
		"claim_mappings": {"email": "mail"}, "user_claim": "sub", "user_claim_json_pointer": false,
		"groups_claim": "groups", "clock_skew_leeway": 60, "expiration_leeway": 300, "not_before_leeway": -1,
		"verbose_oidc_logging": false,
		"token_policies": ["p1"], "token_ttl": 0, "token_max_ttl": 0, "token_explicit_max_ttl": 0, "token_period": 0,
		"token_num_uses": 0, "token_type": "default", "token_bound_cidrs": [], "token_no_default_policy": false
	}`)
	if diff := cmp.Diff(want, logicaltest.Data(t, h.Must(opRead, "role/app", ""))); diff != "" {
		t.Errorf("role mismatch (-want +got):\n%s", diff)
	}

	// An update changes only the fields it names; leeway 0 means default.
	h.Must(opUpdate, "role/app", `{"bound_subject":"s","not_before_leeway":0,"bound_claims_type":"glob"}`)
	got := logicaltest.Data(t, h.Must(opRead, "role/app", "")).(map[string]any)
	for field, want := range map[string]any{"bound_subject": "s", "not_before_leeway": 150.0, "bound_claims_type": "glob", "expiration_leeway": 300.0, "groups_claim": "groups"} {
		if got[field] != want {
			t.Errorf("after update, %s = %v, want %v", field, got[field], want)
		}
	}

	h.Must(opUpdate, "role/other", `{"bound_subject":"x"}`)
	if diff := cmp.Diff(logicaltest.JSON(t, `{"keys":["app","other"]}`), logicaltest.Data(t, h.Must(opList, "role/", ""))); diff != "" {
		t.Errorf("list mismatch (-want +got):\n%s", diff)
	}
	ec := h.Backend.(logical.ExistenceChecker)
	if exists, handled, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: "role/app"}); !exists || !handled || err != nil {
		t.Errorf("ExistenceCheck(role/app) = %v, %v, %v, want true, true, nil", exists, handled, err)
	}
	h.Must(opDelete, "role/app", "")
	h.Must(opDelete, "role/app", "")
	if resp, err := h.Do(opRead, "role/app", ""); err != nil || resp != nil {
		t.Errorf("read after delete = %v, %v, want nil, nil", resp, err)
	}
}

func TestRoleValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		role   map[string]any
		substr string
	}{
		{"oidc", map[string]any{"role_type": "oidc", "bound_subject": "x"}, "browser"},
		{"unknown type", map[string]any{"role_type": "saml", "bound_subject": "x"}, "role_type"},
		{"no bound constraint", map[string]any{"user_claim": "sub"}, "at least one bound constraint"},
		{"bad claims type", map[string]any{"bound_subject": "x", "bound_claims_type": "regex"}, "bound_claims_type"},
		{"object bound claim", map[string]any{"bound_claims": map[string]any{"a": map[string]any{}}}, "bound_claims"},
		{"empty list bound claim", map[string]any{"bound_claims": map[string]any{"a": []string{}}}, "bound_claims"},
		{"reserved mapping", map[string]any{"bound_subject": "x", "claim_mappings": map[string]string{"r": "role"}}, "reserved"},
		{"duplicate mapping", map[string]any{"bound_subject": "x", "claim_mappings": map[string]string{"a": "m", "b": "m"}}, "more than one"},
		{"root policy", map[string]any{"bound_subject": "x", "token_policies": "root"}, "root"},
		{"bad leeway", map[string]any{"bound_subject": "x", "clock_skew_leeway": "soon"}, "clock_skew_leeway"},
		{"deprecated ttl", map[string]any{"bound_subject": "x", "ttl": "1h"}, `"ttl" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			_, err := h.Do(opUpdate, "role/r", js(tt.role))
			logicaltest.WantError(t, "role write", err, logical.ErrInvalidRequest, tt.substr)
			if resp, err := h.Do(opRead, "role/r", ""); resp != nil || err != nil {
				t.Errorf("a refused write stored the role: %v, %v", resp, err)
			}
		})
	}
}
