package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/api"
)

// Failed logins answer as Vault does: 400 and Vault's words for invalid
// credentials (userpass, approle, jwt, cert), 403 "permission denied" for
// a user locked out after failed logins, and 403 for the refusals of the
// Kubernetes method, which Vault's Kubernetes method answers with 403.

// loginClient returns a client for s that sends no token, as a client about
// to log in.
func loginClient(t testing.TB, s *server) *api.Client {
	t.Helper()
	c, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	return c
}

// loginWrite writes data at path with c and fails the test on an error.
func loginWrite(t testing.TB, c *api.Client, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}

// loginEnable mounts an auth method of type typ at path.
func loginEnable(t testing.TB, c *api.Client, path, typ string) {
	t.Helper()
	if err := c.Sys().EnableAuthWithOptions(path, &api.EnableAuthOptions{Type: typ}); err != nil {
		t.Fatalf("enable %s at %s: %v", typ, path, err)
	}
}

// loginCase is one refused login: what to send where, and Vault's answer.
type loginCase struct {
	name   string
	path   string
	body   map[string]any
	status int
	words  string
}

// runLoginCases sends each case in order and checks the status and words of
// its refusal.
func runLoginCases(t *testing.T, c *api.Client, cases []loginCase) {
	t.Helper()
	for _, tc := range cases {
		_, err := c.Logical().Write(tc.path, tc.body)
		wantError(t, tc.name, err, tc.status, tc.words)
	}
}

func TestLoginUserpassRefusals(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	loginEnable(t, s.Client, "userpass", "userpass")
	loginWrite(t, s.Client, "auth/userpass/users/alice", map[string]any{"password": "first-password"})
	loginWrite(t, s.Client, "auth/userpass/users/gone", map[string]any{"password": "gone-password"})
	anon := loginClient(t, s)
	if _, err := anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "first-password"}); err != nil {
		t.Fatalf("login with the right password: %v", err)
	}
	loginWrite(t, s.Client, "auth/userpass/users/alice/password", map[string]any{"password": "second-password"})
	if _, err := s.Client.Logical().Delete("auth/userpass/users/gone"); err != nil {
		t.Fatal(err)
	}

	const words = "invalid username or password"
	runLoginCases(t, anon, []loginCase{
		{"wrong password", "auth/userpass/login/alice", map[string]any{"password": "wrong"}, 400, words},
		{"old password after a change", "auth/userpass/login/alice", map[string]any{"password": "first-password"}, 400, words},
		{"unknown user", "auth/userpass/login/nobody", map[string]any{"password": "first-password"}, 400, words},
		{"deleted user", "auth/userpass/login/gone", map[string]any{"password": "gone-password"}, 400, words},
	})
	if _, err := anon.Logical().Write("auth/userpass/login/alice", map[string]any{"password": "second-password"}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

// TestLoginUserpassLockout checks that failed logins still lock a user out
// (Vault's default: 5 failures) and that the locked-out user then gets
// Vault's 403 "permission denied", even with the right password.
func TestLoginUserpassLockout(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	loginEnable(t, s.Client, "userpass", "userpass")
	loginWrite(t, s.Client, "auth/userpass/users/bob", map[string]any{"password": "right-password"})
	anon := loginClient(t, s)
	for i := range 5 {
		_, err := anon.Logical().Write("auth/userpass/login/bob", map[string]any{"password": fmt.Sprintf("guess-%d", i)})
		wantError(t, fmt.Sprintf("failed login %d", i+1), err, 400, "invalid username or password")
	}
	_, err := anon.Logical().Write("auth/userpass/login/bob", map[string]any{"password": "right-password"})
	wantError(t, "right password while locked out", err, 403, "permission denied")
	locked, err := s.Client.Logical().Read("sys/locked-users")
	if err != nil || !strings.Contains(fmt.Sprint(locked.Data), "bob") {
		t.Errorf("sys/locked-users = %v, %v; want bob listed", locked, err)
	}
}

func TestLoginAppRoleRefusals(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	loginEnable(t, s.Client, "approle", "approle")
	roleID := func(name string) string {
		t.Helper()
		sec, err := s.Client.Logical().Read("auth/approle/role/" + name + "/role-id")
		if err != nil || sec == nil {
			t.Fatalf("read role-id of %s: %v", name, err)
		}
		return sec.Data["role_id"].(string)
	}
	secretID := func(name string) string {
		t.Helper()
		return loginWrite(t, s.Client, "auth/approle/role/"+name+"/secret-id", nil).Data["secret_id"].(string)
	}
	loginWrite(t, s.Client, "auth/approle/role/web", map[string]any{"token_policies": "default"})
	loginWrite(t, s.Client, "auth/approle/role/once", map[string]any{"secret_id_num_uses": 1})
	loginWrite(t, s.Client, "auth/approle/role/gone", nil)
	web, once, gone := roleID("web"), roleID("once"), roleID("gone")
	webSecret, destroyed, onceSecret, goneSecret := secretID("web"), secretID("web"), secretID("once"), secretID("gone")

	anon := loginClient(t, s)
	login := func(role, secret string) error {
		_, err := anon.Logical().Write("auth/approle/login", map[string]any{"role_id": role, "secret_id": secret})
		return err
	}
	for _, ok := range [][2]string{{web, webSecret}, {once, onceSecret}} {
		if err := login(ok[0], ok[1]); err != nil {
			t.Fatalf("login with a good secret ID: %v", err)
		}
	}
	loginWrite(t, s.Client, "auth/approle/role/web/secret-id/destroy", map[string]any{"secret_id": destroyed})
	if _, err := s.Client.Logical().Delete("auth/approle/role/gone"); err != nil {
		t.Fatal(err)
	}

	const words = "invalid role or secret ID"
	body := func(role, secret string) map[string]any { return map[string]any{"role_id": role, "secret_id": secret} }
	runLoginCases(t, anon, []loginCase{
		{"unknown role ID", "auth/approle/login", body("no-such-role-id", webSecret), 400, words},
		{"wrong secret ID", "auth/approle/login", body(web, "00000000-0000-0000-0000-000000000000"), 400, words},
		{"another role's secret ID", "auth/approle/login", body(web, onceSecret), 400, words},
		{"secret ID past secret_id_num_uses", "auth/approle/login", body(once, onceSecret), 400, words},
		{"destroyed secret ID", "auth/approle/login", body(web, destroyed), 400, words},
		{"deleted role", "auth/approle/login", body(gone, goneSecret), 400, words},
	})
}

// idpKey is an ECDSA P-256 signing key with a key ID, standing in for an
// identity provider's key.
type idpKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newIdPKey(t testing.TB, kid string) *idpKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &idpKey{kid: kid, priv: priv}
}

// pubPEM returns the public key in PEM, as jwt_validation_pubkeys takes it.
func (k *idpKey) pubPEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// jwk returns the public key as a JWK.
func (k *idpKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.ES256), Use: "sig"}
}

// sign returns claims signed with ES256 under k, naming k's key ID.
func (k *idpKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// handMadeJWT returns a compact JWT with header and claims, signed by mac
// (no signature when mac is nil): the forms a signing library refuses
// to make.
func handMadeJWT(t testing.TB, header, claims map[string]any, mac func([]byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	var sig []byte
	if mac != nil {
		sig = mac([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

const idpIssuer = "https://idp.example.test"

// idpClaims returns a token's claims valid now for the "ci" role, with
// changes applied (a nil value deletes the claim).
func idpClaims(changes map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": idpIssuer, "sub": "build-1", "aud": "coffer", "env": "prod", "ref": "refs/heads/release-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// idpRoles writes the roles the JWT tests log in with at mount.
func idpRoles(t testing.TB, c *api.Client, mount string) {
	t.Helper()
	loginWrite(t, c, "auth/"+mount+"/role/ci", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"coffer"},
		"bound_claims": map[string]any{"env": []string{"prod", "stage"}}, "token_policies": "default",
	})
	loginWrite(t, c, "auth/"+mount+"/role/release", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"coffer"},
		"bound_claims_type": "glob", "bound_claims": map[string]any{"ref": "refs/heads/release-*"},
	})
}

func TestLoginJWTRefusals(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	idp, stranger := newIdPKey(t, "idp-1"), newIdPKey(t, "idp-1")
	loginEnable(t, s.Client, "jwt", "jwt")
	loginWrite(t, s.Client, "auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{idp.pubPEM(t)}, "bound_issuer": idpIssuer})
	idpRoles(t, s.Client, "jwt")
	anon := loginClient(t, s)
	for _, role := range []string{"ci", "release"} {
		if _, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": role, "jwt": idp.sign(t, idpClaims(nil))}); err != nil {
			t.Fatalf("login to %s with a good token: %v", role, err)
		}
	}

	now := time.Now()
	login := func(role, tok string) map[string]any { return map[string]any{"role": role, "jwt": tok} }
	hs256 := func(input []byte) []byte {
		m := hmac.New(sha256.New, []byte(idp.pubPEM(t)))
		m.Write(input)
		return m.Sum(nil)
	}
	const path = "auth/jwt/login"
	runLoginCases(t, anon, []loginCase{
		{"expired", path, login("ci", idp.sign(t, idpClaims(map[string]any{
			"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix(),
		}))), 400, "error validating token: invalid expiration time (exp) claim: token is expired"},
		{"not yet valid", path, login("ci", idp.sign(t, idpClaims(map[string]any{
			"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix(),
		}))), 400, "error validating token: invalid not before (nbf) claim: token not yet valid"},
		{"wrong audience", path, login("ci", idp.sign(t, idpClaims(map[string]any{"aud": "someone-else"}))),
			400, "error validating token: invalid audience (aud) claim"},
		{"wrong issuer", path, login("ci", idp.sign(t, idpClaims(map[string]any{"iss": "https://evil.example.test"}))),
			400, "error validating token: invalid issuer (iss) claim"},
		{"bound claim mismatch", path, login("ci", idp.sign(t, idpClaims(map[string]any{"env": "dev"}))),
			400, `error validating claims: claim "env" does not match any associated bound claim values`},
		{"bound claim glob mismatch", path, login("release", idp.sign(t, idpClaims(map[string]any{"ref": "refs/tags/release-1"}))),
			400, `error validating claims: claim "ref" does not match any associated bound claim values`},
		{"bad signature", path, login("ci", stranger.sign(t, idpClaims(nil))),
			400, "error validating token: error verifying token signature"},
		{"alg none", path, login("ci", handMadeJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, idpClaims(nil), nil)),
			400, "error validating token: error verifying token signature"},
		{"HS256 keyed with the public key", path, login("ci", handMadeJWT(t, map[string]any{"alg": "HS256", "typ": "JWT"}, idpClaims(nil), hs256)),
			400, "error validating token: error verifying token signature"},
	})
}

// idpJWKS is an identity provider's JWKS endpoint over HTTPS whose keys
// the test can rotate.
type idpJWKS struct {
	srv *httptest.Server
	mu  sync.Mutex
	set jose.JSONWebKeySet // guarded by mu
}

func newIdPJWKS(t testing.TB, keys ...*idpKey) *idpJWKS {
	t.Helper()
	j := &idpJWKS{}
	j.rotate(keys...)
	j.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		j.mu.Lock()
		b, err := json.Marshal(j.set)
		j.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// rotate replaces the published keys.
func (j *idpJWKS) rotate(keys ...*idpKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.set = jose.JSONWebKeySet{}
	for _, k := range keys {
		j.set.Keys = append(j.set.Keys, k.jwk())
	}
}

// serverCAPEM returns the certificate of srv in PEM, for a client to trust.
func serverCAPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

// TestLoginJWKSRefusals checks the refusals that involve a JWKS: an
// unknown key ID, and a key the provider rotated out.
func TestLoginJWKSRefusals(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	oldKey, newKey, unknown := newIdPKey(t, "key-old"), newIdPKey(t, "key-new"), newIdPKey(t, "key-unknown")
	jwks := newIdPJWKS(t, oldKey)
	loginEnable(t, s.Client, "jwt", "jwt")
	loginWrite(t, s.Client, "auth/jwt/config", map[string]any{
		"jwks_url": jwks.srv.URL + "/keys", "jwks_ca_pem": serverCAPEM(jwks.srv), "bound_issuer": idpIssuer,
	})
	idpRoles(t, s.Client, "jwt")
	anon := loginClient(t, s)
	login := func(tok string) error {
		_, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": tok})
		return err
	}
	if err := login(oldKey.sign(t, idpClaims(nil))); err != nil {
		t.Fatalf("login with the published key: %v", err)
	}

	// The provider rotates its key. Coffer fetches the JWKS again for the
	// new key ID, at most once every few seconds, so poll.
	jwks.rotate(newKey)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := login(newKey.sign(t, idpClaims(nil)))
		if err == nil {
			break
		}
		if statusCode(err) != 400 || time.Now().After(deadline) {
			t.Fatalf("login with the rotated-in key: %v", err)
		}
		time.Sleep(250 * time.Millisecond) // polling for the next allowed JWKS fetch
	}
	err := login(oldKey.sign(t, idpClaims(nil)))
	wantError(t, "rotated-out key", err, 400, "error validating token: error verifying token signature")
	err = login(unknown.sign(t, idpClaims(nil)))
	wantError(t, "unknown key ID", err, 400, "error validating token: error verifying token signature")
}

// k8sAccount is who a fake cluster says a token belongs to.
type k8sAccount struct{ namespace, name, uid string }

// k8sCluster is a Kubernetes API server's TokenReview endpoint over
// HTTPS: it authenticates the tokens it was told about, and no other.
type k8sCluster struct {
	srv   *httptest.Server
	mu    sync.Mutex
	known map[string]k8sAccount // guarded by mu: token -> its account
}

func newK8sCluster(t testing.TB) *k8sCluster {
	t.Helper()
	f := &k8sCluster{known: map[string]k8sAccount{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		var review struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		sa, ok := f.known[review.Spec.Token]
		f.mu.Unlock()
		status := map[string]any{"authenticated": false, "error": "token has expired"}
		if ok {
			status = map[string]any{
				"authenticated": true, "audiences": review.Spec.Audiences,
				"user": map[string]any{"username": "system:serviceaccount:" + sa.namespace + ":" + sa.name, "uid": sa.uid},
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status,
		})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// token returns a projected service account token for sa signed by key,
// with changes to its claims, and makes the cluster vouch for it when
// valid is set.
func (f *k8sCluster) token(t testing.TB, key *idpKey, sa k8sAccount, valid bool, changes map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:" + sa.namespace + ":" + sa.name,
		"aud": []string{"coffer"}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": sa.namespace, "serviceaccount": map[string]any{"name": sa.name, "uid": sa.uid}},
	}
	for k, v := range changes {
		c[k] = v
	}
	tok := key.sign(t, c)
	if valid {
		f.mu.Lock()
		f.known[tok] = sa
		f.mu.Unlock()
	}
	return tok
}

// TestLoginKubernetesRefusals checks the Kubernetes method's refusals:
// Vault's Kubernetes method answers them with 403 (a permission denied or
// a coded 403 error), not the 400 of invalid credentials, and so does
// Coffer.
func TestLoginKubernetesRefusals(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	cluster := newK8sCluster(t)
	key := newIdPKey(t, "cluster")
	for mount, cfg := range map[string]map[string]any{
		"kubernetes": {},
		"k8s-iss":    {"disable_iss_validation": false, "issuer": "https://kubernetes.default.svc"},
	} {
		loginEnable(t, s.Client, mount, "kubernetes")
		cfg["kubernetes_host"] = cluster.srv.URL
		cfg["kubernetes_ca_cert"] = serverCAPEM(cluster.srv)
		cfg["token_reviewer_jwt"] = "reviewer-token"
		loginWrite(t, s.Client, "auth/"+mount+"/config", cfg)
		loginWrite(t, s.Client, "auth/"+mount+"/role/web", map[string]any{
			"bound_service_account_names": "web", "bound_service_account_namespaces": "shop", "audience": "coffer",
		})
	}
	loginWrite(t, s.Client, "auth/kubernetes/role/workers", map[string]any{
		"bound_service_account_names": "worker-*", "bound_service_account_namespaces": "batch-*",
	})
	web := k8sAccount{namespace: "shop", name: "web", uid: "uid-web"}
	anon := loginClient(t, s)
	if _, err := anon.Logical().Write("auth/kubernetes/login", map[string]any{"role": "web", "jwt": cluster.token(t, key, web, true, nil)}); err != nil {
		t.Fatalf("login with a good token: %v", err)
	}

	login := func(role, tok string) map[string]any { return map[string]any{"role": role, "jwt": tok} }
	runLoginCases(t, anon, []loginCase{
		{"service account name not bound", "auth/kubernetes/login",
			login("web", cluster.token(t, key, k8sAccount{"shop", "admin", "uid-admin"}, true, nil)), 403, "service account name not authorized"},
		{"namespace not bound", "auth/kubernetes/login",
			login("web", cluster.token(t, key, k8sAccount{"kube-system", "web", "uid-ks"}, true, nil)), 403, "namespace not authorized"},
		{"name glob mismatch", "auth/kubernetes/login",
			login("workers", cluster.token(t, key, k8sAccount{"batch-1", "web", "uid-b"}, true, nil)), 403, "service account name not authorized"},
		{"namespace glob mismatch", "auth/kubernetes/login",
			login("workers", cluster.token(t, key, k8sAccount{"shop", "worker-1", "uid-w"}, true, nil)), 403, "namespace not authorized"},
		{"wrong audience", "auth/kubernetes/login",
			login("web", cluster.token(t, key, web, true, map[string]any{"aud": []string{"other"}})), 403, "invalid audience (aud) claim"},
		{"token the cluster does not authenticate", "auth/kubernetes/login",
			login("web", cluster.token(t, key, web, false, nil)), 403, "permission denied"},
		{"wrong issuer", "auth/k8s-iss/login",
			login("web", cluster.token(t, key, web, true, nil)), 403, "invalid issuer (iss) claim"},
		{"unknown role", "auth/kubernetes/login",
			login("nope", cluster.token(t, key, web, true, nil)), 400, `invalid role name "nope"`},
	})
}

// loginCA is a certificate authority made for one test.
type loginCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newLoginCA(t testing.TB, name string) *loginCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &loginCA{cert: cert, key: key}
}

func (ca *loginCA) pem() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
}

// issue returns a leaf certificate for cn under ca: a server certificate
// for 127.0.0.1 when server is set, a client certificate otherwise.
func (ca *loginCA) issue(t testing.TB, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writeKeyPair writes c's certificate and key to dir and returns their
// paths.
func writeKeyPair(t testing.TB, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestLoginCertRefusals runs a server with a TLS listener that asks for
// client certificates from two CAs, and a cert auth entry that trusts only
// one of them.
func TestLoginCertRefusals(t *testing.T) {
	t.Parallel()
	trusted, other := newLoginCA(t, "trusted CA"), newLoginCA(t, "other CA")
	dir := t.TempDir()
	srvCert, srvKey := writeKeyPair(t, dir, "server", trusted.issue(t, "coffer.test", true))
	clientCAs := filepath.Join(dir, "client-cas.pem")
	if err := os.WriteFile(clientCAs, []byte(trusted.pem()+other.pem()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "coffer.hcl")
	hcl := fmt.Sprintf("storage \"inmem\" {}\nlistener \"tcp\" {\n  address = %q\n  tls_cert_file = %q\n  tls_key_file = %q\n  tls_client_ca_file = %q\n}\n",
		addr, srvCert, srvKey, clientCAs)
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startProcess(t, []string{"server", "-config", cfg}, nil, "https://"+addr)
	initResp, err := s.Client.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Sys().Unseal(initResp.Keys[0]); err != nil {
		t.Fatal(err)
	}
	s.Client.SetToken(initResp.RootToken)
	loginEnable(t, s.Client, "cert", "cert")
	loginWrite(t, s.Client, "auth/cert/certs/app", map[string]any{
		"certificate": trusted.pem(), "allowed_common_names": "app.test", "token_policies": "default",
	})

	// withCert returns a tokenless client presenting cert (none when nil).
	roots := x509.NewCertPool()
	roots.AddCert(trusted.cert)
	withCert := func(cert *tls.Certificate) *api.Client {
		t.Helper()
		conf := api.DefaultConfig()
		conf.Address = s.Addr
		conf.MaxRetries = 0
		tlsConf := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if cert != nil {
			tlsConf.Certificates = []tls.Certificate{*cert}
		}
		conf.HttpClient.Transport.(*http.Transport).TLSClientConfig = tlsConf
		c, err := api.NewClient(conf)
		if err != nil {
			t.Fatal(err)
		}
		c.ClearToken()
		return c
	}
	app := trusted.issue(t, "app.test", false)
	if _, err := withCert(&app).Logical().Write("auth/cert/login", nil); err != nil {
		t.Fatalf("login with a trusted certificate: %v", err)
	}
	stranger := other.issue(t, "app.test", false)
	outsider := trusted.issue(t, "db.test", false)
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		words  string
		status int
	}{
		{"no client certificate", nil, "client certificate must be supplied", 400},
		{"untrusted certificate", &stranger, "invalid certificate or no client certificate supplied", 400},
		{"certificate outside the entry's constraints", &outsider, "no chain matching all constraints could be found for this login certificate", 400},
	} {
		_, err := withCert(tc.cert).Logical().Write("auth/cert/login", nil)
		wantError(t, tc.name, err, tc.status, tc.words)
	}
}
