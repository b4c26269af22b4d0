package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one JWT backend through HandleRequest.
type harness struct{ *logicaltest.Harness }

func newHarness(t testing.TB) *harness {
	t.Helper()
	return &harness{logicaltest.NewHarness(t, Factory, logical.Env{})}
}

// login logs in to role with tok.
func (h *harness) login(role, tok string) (*logical.Response, error) {
	h.T.Helper()
	body, _ := json.Marshal(map[string]string{"role": role, "jwt": tok})
	return h.Do(logical.UpdateOperation, "login", string(body))
}

// signer is a test identity provider key.
type signer struct {
	alg jose.SignatureAlgorithm
	key crypto.Signer
	kid string
}

// The test keys, made once per test binary (RSA generation is slow).
type testKeys struct {
	rsa, rsa2, ec256, ec384, ed signer
}

// keys returns the test keys, made once per test binary because RSA key
// generation is slow; they are never modified.
var keys = sync.OnceValue(func() testKeys {
	r1, _ := rsa.GenerateKey(rand.Reader, 2048)
	r2, _ := rsa.GenerateKey(rand.Reader, 2048)
	e1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	e2, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	return testKeys{
		rsa:   signer{jose.RS256, r1, "rsa-1"},
		rsa2:  signer{jose.RS256, r2, "rsa-2"},
		ec256: signer{jose.ES256, e1, "ec-256"},
		ec384: signer{jose.ES384, e2, "ec-384"},
		ed:    signer{jose.EdDSA, ed, "ed-1"},
	}
})

// sign returns a compact JWT with claims signed by s, naming s.kid when
// withKID is set.
func (s signer) sign(t testing.TB, claims map[string]any, withKID bool) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	key := jose.JSONWebKey{Key: s.key, Algorithm: string(s.alg)}
	if withKID {
		key.KeyID = s.kid
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// pubPEM returns s's public key as a PKIX PEM block.
func (s signer) pubPEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// jwk returns s's public key as a JWK.
func (s signer) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}
}

// claims returns valid claims for now, with extra merged in (a nil value
// deletes a claim).
func claims(now time.Time, extra map[string]any) map[string]any {
	c := map[string]any{
		"iss": "https://issuer.example",
		"sub": "user-1",
		"aud": "coffer",
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// unsigned builds a compact JWS by hand with the given header and claims
// and signature function (nil for an empty signature).
func unsigned(t testing.TB, header, claims map[string]any, sig func(input []byte) []byte) string {
	t.Helper()
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	var s []byte
	if sig != nil {
		s = sig([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(s)
}

// hs256 signs with HMAC-SHA256 under key.
func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

// idp is a test identity provider over TLS serving a discovery document
// and a JWKS that tests can swap, counting JWKS fetches.
type idp struct {
	srv     *httptest.Server
	jwks    atomic.Pointer[jose.JSONWebKeySet]
	fetches atomic.Int64
	status  atomic.Int64 // when non-zero, the JWKS answers this status
}

func newIDP(t testing.TB, keys ...signer) *idp {
	t.Helper()
	p := &idp{}
	p.setKeys(keys...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		if s := p.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		_ = json.NewEncoder(w).Encode(p.jwks.Load())
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) setKeys(keys ...signer) {
	set := &jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	p.jwks.Store(set)
}

// caPEM returns the PEM of the server's certificate, to trust it.
func (p *idp) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}))
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
