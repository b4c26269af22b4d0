package jwt

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)

// pubkeyHarness configures the mount with the public keys of signers and
// bound_issuer, and writes role "app".
func pubkeyHarness(t testing.TB, role map[string]any, signers ...signer) *harness {
	t.Helper()
	h := newHarness(t)
	var pems []string
	for _, s := range signers {
		pems = append(pems, s.pubPEM(t))
	}
	h.Must(opUpdate, "config", js(map[string]any{"jwt_validation_pubkeys": pems, "bound_issuer": "https://issuer.example"}))
	h.Must(opUpdate, "role/app", js(role))
	return h
}

func baseRole(extra map[string]any) map[string]any {
	r := map[string]any{
		"role_type":       "jwt",
		"bound_audiences": []string{"coffer"},
		"user_claim":      "sub",
		"token_policies":  "app-read,app-write",
		"token_ttl":       "10m",
	}
	for k, v := range extra {
		r[k] = v
	}
	return r
}

func TestLoginAcceptsEachKeyType(t *testing.T) {
	t.Parallel()
	k := keys()
	for _, s := range []signer{k.rsa, k.ec256, k.ec384, k.ed} {
		t.Run(string(s.alg), func(t *testing.T) {
			t.Parallel()
			h := pubkeyHarness(t, baseRole(map[string]any{
				"claim_mappings": map[string]string{"email": "email", "/org/team": "team"},
				"groups_claim":   "groups",
			}), s)
			tok := s.sign(t, claims(h.Clock.Now(), map[string]any{
				"email":  "dev@example.com",
				"org":    map[string]any{"team": "payments"},
				"groups": []string{"dev", "ops"},
			}), false)
			resp, err := h.login("app", tok)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			want := &logical.Auth{
				DisplayName:  "user-1",
				Policies:     []string{"app-read", "app-write"},
				Metadata:     map[string]string{"role": "app", "email": "dev@example.com", "team": "payments"},
				TTL:          10 * time.Minute,
				Renewable:    true,
				Alias:        &logical.Alias{Name: "user-1", Metadata: map[string]string{"role": "app", "email": "dev@example.com", "team": "payments"}},
				GroupAliases: []string{"dev", "ops"},
			}
			if diff := cmp.Diff(want, resp.Auth); diff != "" {
				t.Errorf("auth mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoginGroupAliases checks that the groups claim's values become the
// login's group aliases, and never its metadata.
func TestLoginGroupAliases(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := []struct {
		name   string
		role   map[string]any
		claims map[string]any
		want   []string
	}{
		{"list", map[string]any{"groups_claim": "groups"}, map[string]any{"groups": []string{"developers", "ops"}}, []string{"developers", "ops"}},
		{"one string", map[string]any{"groups_claim": "groups"}, map[string]any{"groups": "developers"}, []string{"developers"}},
		{"nested by pointer", map[string]any{"groups_claim": "/org/groups"}, map[string]any{"org": map[string]any{"groups": []string{"a"}}}, []string{"a"}},
		{"no groups_claim", nil, map[string]any{"groups": []string{"developers"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := pubkeyHarness(t, baseRole(tt.role), k.ec256)
			resp, err := h.login("app", k.ec256.sign(t, claims(h.Clock.Now(), tt.claims), false))
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if diff := cmp.Diff(tt.want, resp.Auth.GroupAliases); diff != "" {
				t.Errorf("GroupAliases mismatch (-want +got):\n%s", diff)
			}
			if v, ok := resp.Auth.Metadata["groups"]; ok {
				t.Errorf("metadata has groups = %q, want none", v)
			}
		})
	}
}

func TestLoginUserClaim(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := []struct {
		name    string
		role    map[string]any
		claims  map[string]any
		want    string
		wantErr string
	}{
		{"email", map[string]any{"user_claim": "email"}, map[string]any{"email": "a@b.c"}, "a@b.c", ""},
		{"number", map[string]any{"user_claim": "uid"}, map[string]any{"uid": 1234}, "1234", ""},
		{"pointer", map[string]any{"user_claim": "/u/name", "user_claim_json_pointer": true}, map[string]any{"u": map[string]any{"name": "nested"}}, "nested", ""},
		{"missing", map[string]any{"user_claim": "email"}, nil, "", `claim "email" not found in token`},
		{"object", map[string]any{"user_claim": "u"}, map[string]any{"u": map[string]any{}}, "", `claim "u" could not be converted to string`},
		{"groups missing", map[string]any{"groups_claim": "groups"}, nil, "", `claim "groups" not found in token`},
		{"groups object", map[string]any{"groups_claim": "groups"}, map[string]any{"groups": map[string]any{"a": 1}}, "", `claim "groups" could not be converted to string list`},
		{"mapped claim missing is skipped", map[string]any{"claim_mappings": map[string]string{"email": "email"}}, nil, "user-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := pubkeyHarness(t, baseRole(tt.role), k.ec256)
			resp, err := h.login("app", k.ec256.sign(t, claims(h.Clock.Now(), tt.claims), false))
			if tt.wantErr != "" {
				logicaltest.WantError(t, "login", err, logical.ErrInvalidCredentials, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if resp.Auth.Alias.Name != tt.want {
				t.Errorf("alias = %q, want %q", resp.Auth.Alias.Name, tt.want)
			}
		})
	}
}

func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	k := keys()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC) // logicaltest's clock
	rsaPEM := k.rsa.pubPEM(t)
	tests := []struct {
		name   string
		role   map[string]any
		tok    func(t *testing.T) string
		kind   error
		substr string
	}{
		{"expired", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"exp": now.Add(-time.Hour).Unix()}), false)
		}, logical.ErrInvalidCredentials, "error validating token: invalid expiration time (exp) claim: token is expired"},
		{"not yet valid", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"nbf": now.Add(time.Hour).Unix()}), false)
		}, logical.ErrInvalidCredentials, "invalid not before (nbf) claim: token not yet valid"},
		{"issued in the future", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"iat": now.Add(time.Hour).Unix(), "nbf": nil}), false)
		}, logical.ErrInvalidCredentials, "invalid issued at (iat) claim: token issued in the future"},
		{"no time claims", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"iat": nil, "nbf": nil, "exp": nil}), false)
		}, logical.ErrInvalidCredentials, "no issued at (iat), not before (nbf), or expiration time (exp) claims in token"},
		{"string exp", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"exp": "tomorrow"}), false)
		}, logical.ErrInvalidCredentials, `"exp" is not a number`},
		{"wrong audience", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"aud": []string{"other", "another"}}), false)
		}, logical.ErrInvalidCredentials, "invalid audience (aud) claim: audience claim does not match any expected audience"},
		{"no audience", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"aud": nil}), false)
		}, logical.ErrInvalidCredentials, "invalid audience (aud) claim: audience claim does not match any expected audience"},
		{"audience without bound audiences", map[string]any{"bound_audiences": "", "bound_subject": "user-1"}, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, nil), false)
		}, logical.ErrInvalidCredentials, "audience claim found in JWT but no audiences bound to the role"},
		{"wrong issuer", nil, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"iss": "https://evil.example"}), false)
		}, logical.ErrInvalidCredentials, "error validating token: invalid issuer (iss) claim"},
		{"bound subject", map[string]any{"bound_subject": "user-2"}, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, nil), false)
		}, logical.ErrInvalidCredentials, "error validating token: invalid subject (sub) claim"},
		{"bound claim exact", map[string]any{"bound_claims": map[string]any{"env": []string{"prod", "stage"}}}, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"env": "production"}), false)
		}, logical.ErrInvalidCredentials, `error validating claims: claim "env" does not match any associated bound claim values`},
		{"bound claim missing", map[string]any{"bound_claims": map[string]any{"env": "prod"}}, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, nil), false)
		}, logical.ErrInvalidCredentials, `error validating claims: claim "env" is missing`},
		{"bound claim glob", map[string]any{"bound_claims_type": "glob", "bound_claims": map[string]any{"ref": "refs/heads/release-*"}}, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"ref": "refs/tags/release-1"}), false)
		}, logical.ErrInvalidCredentials, `error validating claims: claim "ref" does not match any associated bound claim values`},
		{"exact is not glob", map[string]any{"bound_claims": map[string]any{"ref": "refs/heads/*"}}, func(t *testing.T) string {
			return k.rsa.sign(t, claims(now, map[string]any{"ref": "refs/heads/main"}), false)
		}, logical.ErrInvalidCredentials, `error validating claims: claim "ref" does not match any associated bound claim values`},
		{"alg none", nil, func(t *testing.T) string {
			return unsigned(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(now, nil), nil)
		}, logical.ErrInvalidCredentials, `error verifying token signature: token signing algorithm "none" is not allowed`},
		{"HS256 keyed with the RSA public key", nil, func(t *testing.T) string {
			return unsigned(t, map[string]any{"alg": "HS256", "typ": "JWT"}, claims(now, nil), hs256([]byte(rsaPEM)))
		}, logical.ErrInvalidCredentials, `error verifying token signature: token signing algorithm "HS256" is not allowed`},
		{"signed by another key", nil, func(t *testing.T) string {
			return k.rsa2.sign(t, claims(now, nil), false)
		}, logical.ErrInvalidCredentials, "error verifying token signature: token signature is not valid"},
		{"algorithm without a fitting key", nil, func(t *testing.T) string {
			return k.ed.sign(t, claims(now, nil), false)
		}, logical.ErrInvalidCredentials, "error verifying token signature: no configured key fits"},
		{"tampered payload", nil, func(t *testing.T) string {
			tok := k.rsa.sign(t, claims(now, map[string]any{"sub": "user-1"}), false)
			parts := strings.Split(tok, ".")
			parts[1] = unsigned(t, nil, claims(now, map[string]any{"sub": "admin"}), nil)
			parts[1] = strings.Split(parts[1], ".")[1]
			return strings.Join(parts, ".")
		}, logical.ErrInvalidCredentials, "error verifying token signature: token signature is not valid"},
		{"garbage", nil, func(*testing.T) string { return "garbage-token.abc.def" }, logical.ErrInvalidRequest, "well-formed"},
		{"JSON serialization", nil, func(*testing.T) string { return `{"payload":"e30","signatures":[]}` }, logical.ErrInvalidRequest, "well-formed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := pubkeyHarness(t, baseRole(tt.role), k.rsa)
			tok := tt.tok(t)
			resp, err := h.login("app", tok)
			if err == nil {
				t.Fatalf("login succeeded: %+v", resp.Auth)
			}
			logicaltest.WantError(t, "login", err, tt.kind, tt.substr)
			if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), strings.Split(tok, ".")[0]) {
				t.Errorf("error %q echoes the token", err)
			}
		})
	}
}

func TestLoginLeeways(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := []struct {
		name   string
		role   map[string]any
		claims func(now time.Time) map[string]any
		ok     bool
	}{
		// Defaults: exp 150 s + skew 60 s; nbf 150 s + skew 60 s; iat 60 s.
		{"exp within default leeway", nil, func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-200 * time.Second).Unix()}
		}, true},
		{"exp past default leeway", nil, func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-220 * time.Second).Unix()}
		}, false},
		{"exp with leeways disabled", map[string]any{"expiration_leeway": -1, "clock_skew_leeway": "-1"}, func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-time.Second).Unix()}
		}, false},
		{"exp with a custom leeway", map[string]any{"expiration_leeway": "1h", "clock_skew_leeway": -1}, func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-59 * time.Minute).Unix()}
		}, true},
		{"nbf within default leeway", nil, func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(200 * time.Second).Unix(), "iat": nil}
		}, true},
		{"nbf past default leeway", nil, func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(220 * time.Second).Unix(), "iat": nil}
		}, false},
		{"nbf with leeways disabled", map[string]any{"not_before_leeway": -1, "clock_skew_leeway": -1}, func(now time.Time) map[string]any {
			return map[string]any{"nbf": now.Add(2 * time.Second).Unix(), "iat": nil}
		}, false},
		{"iat within skew", nil, func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(50 * time.Second).Unix(), "nbf": nil}
		}, true},
		{"iat past skew", nil, func(now time.Time) map[string]any {
			return map[string]any{"iat": now.Add(70 * time.Second).Unix(), "nbf": nil}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := pubkeyHarness(t, baseRole(tt.role), k.ec256)
			issued := h.Clock.Now()
			tok := k.ec256.sign(t, claims(issued, tt.claims(issued)), false)
			_, err := h.login("app", tok)
			if tt.ok && err != nil {
				t.Errorf("login: %v, want success", err)
			}
			if !tt.ok {
				logicaltest.WantError(t, "login", err, logical.ErrInvalidCredentials, "error validating token: invalid")
			}
		})
	}
	t.Run("clock moves past exp", func(t *testing.T) {
		t.Parallel()
		h := pubkeyHarness(t, baseRole(map[string]any{"expiration_leeway": -1, "clock_skew_leeway": -1}), k.ec256)
		tok := k.ec256.sign(t, claims(h.Clock.Now(), map[string]any{"exp": h.Clock.Now().Add(time.Minute).Unix()}), false)
		if _, err := h.login("app", tok); err != nil {
			t.Fatalf("login before exp: %v", err)
		}
		h.Clock.Advance(61 * time.Second)
		_, err := h.login("app", tok)
		logicaltest.WantError(t, "login after exp", err, logical.ErrInvalidCredentials, "token is expired")
	})
}

func TestLoginBoundClaimsMatch(t *testing.T) {
	t.Parallel()
	k := keys()
	tests := []struct {
		name   string
		role   map[string]any
		claims map[string]any
	}{
		{"exact any-of", map[string]any{"bound_claims": map[string]any{"env": []string{"prod", "stage"}}}, map[string]any{"env": "stage"}},
		{"list claim", map[string]any{"bound_claims": map[string]any{"groups": "admins"}}, map[string]any{"groups": []string{"dev", "admins"}}},
		{"number and bool", map[string]any{"bound_claims": map[string]any{"level": 3, "verified": true}}, map[string]any{"level": 3, "verified": true}},
		{"glob", map[string]any{"bound_claims_type": "glob", "bound_claims": map[string]any{"ref": "refs/heads/*"}}, map[string]any{"ref": "refs/heads/main"}},
		{"glob middle", map[string]any{"bound_claims_type": "glob", "bound_claims": map[string]any{"repo": "org/*-svc/*"}}, map[string]any{"repo": "org/pay-svc/x"}},
		{"json pointer", map[string]any{"bound_claims": map[string]any{"/ctx/env": "prod"}}, map[string]any{"ctx": map[string]any{"env": "prod"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := pubkeyHarness(t, baseRole(tt.role), k.rsa)
			if _, err := h.login("app", k.rsa.sign(t, claims(h.Clock.Now(), tt.claims), false)); err != nil {
				t.Errorf("login: %v", err)
			}
		})
	}
}

func TestLoginRequestErrors(t *testing.T) {
	t.Parallel()
	k := keys()
	h := pubkeyHarness(t, baseRole(nil), k.rsa)
	tok := k.rsa.sign(t, claims(h.Clock.Now(), nil), false)
	tests := []struct {
		name, body, substr string
		kind               error
	}{
		{"missing jwt", `{"role":"app"}`, "missing jwt", logical.ErrInvalidRequest},
		{"missing role", js(map[string]string{"jwt": tok}), "no default_role", logical.ErrInvalidRequest},
		{"unknown role", js(map[string]string{"role": "nope", "jwt": tok}), `"nope" could not be found`, logical.ErrInvalidRequest},
		{"huge jwt", js(map[string]string{"role": "app", "jwt": strings.Repeat("a", maxJWTBytes+1)}), "longer than", logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		_, err := h.Do(opUpdate, "login", tt.body)
		logicaltest.WantError(t, tt.name, err, tt.kind, tt.substr)
	}

	h.Must(opUpdate, "config", js(map[string]any{"jwt_validation_pubkeys": []string{k.rsa.pubPEM(t)}, "default_role": "app"}))
	if _, err := h.Do(opUpdate, "login", js(map[string]string{"jwt": tok})); err != nil {
		t.Errorf("login with default_role: %v", err)
	}

	unconfigured := newHarness(t)
	_, err := unconfigured.login("app", tok)
	logicaltest.WantError(t, "login before config", err, logical.ErrInvalidRequest, "not configured")
}

func TestLoginBoundCIDRs(t *testing.T) {
	t.Parallel()
	k := keys()
	h := pubkeyHarness(t, baseRole(map[string]any{"token_bound_cidrs": "10.0.0.0/8"}), k.rsa)
	_, err := h.login("app", k.rsa.sign(t, claims(h.Clock.Now(), nil), false))
	logicaltest.WantError(t, "login from outside", err, logical.ErrPermissionDenied, "permission denied")
	r := &logical.Request{Operation: opUpdate, Path: "login", Connection: &logical.Connection{RemoteAddr: "10.1.2.3:4"},
		Body: []byte(js(map[string]string{"role": "app", "jwt": k.rsa.sign(t, claims(h.Clock.Now(), nil), false)}))}
	resp, err := h.Backend.HandleRequest(t.Context(), r)
	if err != nil {
		t.Fatalf("login from inside: %v", err)
	}
	if diff := cmp.Diff([]string{"10.0.0.0/8"}, resp.Auth.BoundCIDRs); diff != "" {
		t.Errorf("BoundCIDRs (-want +got):\n%s", diff)
	}
}

func TestSupportedAlgsNarrow(t *testing.T) {
	t.Parallel()
	k := keys()
	h := newHarness(t)
	h.Must(opUpdate, "config", js(map[string]any{
		"jwt_validation_pubkeys": []string{k.rsa.pubPEM(t), k.ec256.pubPEM(t)},
		"jwt_supported_algs":     []string{"ES256"},
	}))
	h.Must(opUpdate, "role/app", js(baseRole(nil)))
	if _, err := h.login("app", k.ec256.sign(t, claims(h.Clock.Now(), nil), false)); err != nil {
		t.Errorf("ES256 login: %v", err)
	}
	_, err := h.login("app", k.rsa.sign(t, claims(h.Clock.Now(), nil), false))
	logicaltest.WantError(t, "RS256 login", err, logical.ErrInvalidCredentials, `"RS256" is not allowed`)
	// PS256 with an RSA key is a different algorithm from RS256.
	ps := signer{jose.PS256, k.rsa.key, ""}
	_, err = h.login("app", ps.sign(t, claims(h.Clock.Now(), nil), false))
	logicaltest.WantError(t, "PS256 login", err, logical.ErrInvalidCredentials, `"PS256" is not allowed`)
}
