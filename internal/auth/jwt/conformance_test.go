package jwt

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConformance(t *testing.T) {
	k := keys()
	cfg := js(map[string]any{"jwt_validation_pubkeys": []string{k.rsa.pubPEM(t)}})
	logicaltest.Run(t, Factory, logicaltest.Options{
		Writes: []*logical.Request{
			{Operation: logical.UpdateOperation, Path: "config", Body: json.RawMessage(cfg)},
			{Operation: logical.UpdateOperation, Path: "role/app", Body: json.RawMessage(`{"bound_audiences":"coffer","token_policies":"p"}`)},
		},
		Reads: []*logical.Request{
			{Operation: logical.ReadOperation, Path: "config"},
			{Operation: logical.ReadOperation, Path: "role/app"},
			{Operation: logical.ListOperation, Path: "role/"},
		},
	})
}

// FuzzJWTLogin sends arbitrary jwt strings to a configured mount: no input
// may panic or log in.
func FuzzJWTLogin(f *testing.F) {
	k := keys()
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	valid := k.rsa.sign(f, claims(now, nil), false)
	parts := strings.Split(valid, ".")
	for _, s := range []string{
		"", ".", "..", "a.b.c", valid[:len(valid)-2], parts[0] + "." + parts[1] + ".",
		unsigned(f, map[string]any{"alg": "none"}, claims(now, nil), nil),
		unsigned(f, map[string]any{"alg": "HS256"}, claims(now, nil), hs256([]byte(k.rsa.pubPEM(f)))),
		unsigned(f, map[string]any{"alg": "RS256", "kid": strings.Repeat("k", 100)}, claims(now, nil), nil),
		unsigned(f, map[string]any{"alg": "ES256", "jwk": map[string]any{"kty": "EC"}}, nil, nil),
		`{"payload":"e30","signatures":[{"protected":"eyJhbGciOiJSUzI1NiJ9","signature":""}]}`,
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
	} {
		f.Add(s)
	}
	h := newHarness(f)
	h.Must(opUpdate, "config", js(map[string]any{"jwt_validation_pubkeys": []string{k.rsa.pubPEM(f), k.ec256.pubPEM(f), k.ed.pubPEM(f)}}))
	h.Must(opUpdate, "role/app", js(baseRole(nil)))
	f.Fuzz(func(t *testing.T, tok string) {
		if tok == valid {
			return
		}
		body, _ := json.Marshal(map[string]string{"role": "app", "jwt": tok})
		resp, err := h.Backend.HandleRequest(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: "login", Body: body})
		if err == nil {
			t.Fatalf("login with fuzzed jwt %q succeeded: %+v", tok, resp)
		}
		var le *logical.Error
		if !errors.As(err, &le) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func BenchmarkJWTLogin(b *testing.B) {
	k := keys()
	for _, s := range []signer{k.rsa, k.ec256, k.ed} {
		b.Run(string(s.alg), func(b *testing.B) {
			h := pubkeyHarness(b, baseRole(map[string]any{"claim_mappings": map[string]string{"email": "email"}}), s)
			tok := s.sign(b, claims(h.Clock.Now(), map[string]any{"email": "a@b.c"}), false)
			req := &logical.Request{
				Operation: logical.UpdateOperation, Path: "login",
				Body:       json.RawMessage(js(map[string]string{"role": "app", "jwt": tok})),
				Connection: &logical.Connection{RemoteAddr: "127.0.0.1:5000"},
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := h.Backend.HandleRequest(b.Context(), req)
				if err != nil || resp.Auth == nil {
					b.Fatalf("login = %v, %v", resp, err)
				}
			}
		})
	}
}
