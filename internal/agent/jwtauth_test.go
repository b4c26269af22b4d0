package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// signer signs test JWTs with a fresh P-256 key.
type signer struct {
	key *ecdsa.PrivateKey
	sig jose.Signer
}

func newSigner(t *testing.T) *signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: key, sig: sig}
}

// sign returns the compact JWT of claims.
func (s *signer) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	raw, err := josejwt.Signed(s.sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// publicPEM is the PEM of the signer's public key.
func (s *signer) publicPEM(t *testing.T) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// serviceAccount is who a fake cluster's token belongs to.
type serviceAccount struct {
	Namespace, Name, UID string
	Audiences            []string
}

// saToken mints a projected service account token for sa, as the kubelet
// writes it, valid for an hour.
func saToken(t *testing.T, s *signer, sa serviceAccount) string {
	t.Helper()
	now := time.Now()
	return s.sign(t, map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		"aud": sa.Audiences,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"jti": rand.Text(),
		"kubernetes.io": map[string]any{
			"namespace":      sa.Namespace,
			"serviceaccount": map[string]any{"name": sa.Name, "uid": sa.UID},
			"pod":            map[string]any{"name": sa.Name + "-0", "uid": rand.Text()},
		},
	})
}

// fakeCluster serves the TokenReview API over TLS as a Kubernetes API
// server does: it authenticates the caller's bearer token, and answers
// 201 with the review's status, authenticated only for the service
// account tokens it currently knows.
type fakeCluster struct {
	srv      *httptest.Server
	reviewer string // the bearer token allowed to create reviews

	mu      sync.Mutex
	valid   map[string]serviceAccount // guarded by mu: the tokens the cluster accepts
	reviews []review                  // guarded by mu: every review answered, in order
}

// review is one TokenReview the fake answered.
type review struct {
	token         string
	authenticated bool
	at            time.Time
}

func newFakeCluster(t *testing.T, reviewer string) *fakeCluster {
	t.Helper()
	f := &fakeCluster{reviewer: reviewer, valid: make(map[string]serviceAccount)}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(f.srv.Close)
	return f
}

// caPEM is the PEM of the fake's TLS certificate.
func (f *fakeCluster) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}))
}

// rotate makes the cluster accept next for sa and refuse old, as when the
// kubelet replaces a projected token and the old one expires.
func (f *fakeCluster) rotate(old, next string, sa serviceAccount) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old != "" {
		delete(f.valid, old)
	}
	f.valid[next] = sa
}

// firstAuthenticated returns when the fake first authenticated tok.
func (f *fakeCluster) firstAuthenticated(tok string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.reviews {
		if r.token == tok && r.authenticated {
			return r.at, true
		}
	}
	return time.Time{}, false
}

func (f *fakeCluster) serveHTTP(w http.ResponseWriter, r *http.Request) {
	status := func(code int, reason string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code})
	}
	if r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		status(http.StatusNotFound, "NotFound")
		return
	}
	if r.Method != http.MethodPost {
		status(http.StatusMethodNotAllowed, "MethodNotAllowed")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.reviewer {
		status(http.StatusUnauthorized, "Unauthorized")
		return
	}
	var in struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       struct {
			Token     string   `json:"token"`
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Kind != "TokenReview" || in.APIVersion != "authentication.k8s.io/v1" {
		status(http.StatusBadRequest, "BadRequest")
		return
	}
	f.mu.Lock()
	sa, known := f.valid[in.Spec.Token]
	st := map[string]any{"user": map[string]any{}}
	authenticated := false
	switch {
	case !known:
		st["error"] = "invalid bearer token, token lookup failed"
	default:
		// With audiences asked for, the token must hold one of them and
		// the answer lists those it holds; otherwise the token must be
		// for the API server, whose audience tests do not model.
		auds := sa.Audiences
		if len(in.Spec.Audiences) > 0 {
			auds = nil
			for _, a := range in.Spec.Audiences {
				if slices.Contains(sa.Audiences, a) {
					auds = append(auds, a)
				}
			}
		}
		if len(auds) == 0 {
			st["error"] = "token audiences are invalid for the target audiences"
			break
		}
		authenticated = true
		st["authenticated"] = true
		st["audiences"] = auds
		st["user"] = map[string]any{
			"username": "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
			"uid":      sa.UID,
			"groups":   []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.Namespace, "system:authenticated"},
		}
	}
	f.reviews = append(f.reviews, review{token: in.Spec.Token, authenticated: authenticated, at: time.Now()})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
		"metadata": map[string]any{"creationTimestamp": nil},
		"spec":     in.Spec,
		"status":   st,
	})
}

// replaceFile swaps path's content atomically, as the kubelet does.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tokenClient is a client of s authenticated with tok.
func tokenClient(t *testing.T, addr, tok string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: addr, MaxRetries: 0})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

// lookup looks tok up with the root client; nil when it is not valid
// (expired, or not a token yet).
func lookup(root *api.Client, tok string) *api.Secret {
	sec, err := root.Auth().Token().Lookup(tok)
	if err != nil || sec == nil {
		return nil
	}
	return sec
}

// issuedAfter reports whether tok is valid and was issued after at.
func issuedAfter(t *testing.T, root *api.Client, tok string, at time.Time) bool {
	t.Helper()
	sec := lookup(root, tok)
	if sec == nil {
		return false
	}
	s, _ := sec.Data["issue_time"].(string)
	issued, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("issue_time %q: %v", s, err)
	}
	return issued.After(at)
}

// refused reports whether err is the server's 403 (how Vault's Kubernetes
// method refuses a token).
func refused(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// invalidCredentials reports whether err is the server's 400 for a refused
// login (how Vault's JWT method refuses a token).
func invalidCredentials(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusBadRequest
}

const kvTemplate = `{{ with secret "secret/data/app" }}{{ .Data.data.password }}{{ end }}`

// k8sSetUp is a Kubernetes auth mount on a test server backed by a fake
// cluster, with a role "web" for the service account shop/web.
type k8sSetUp struct {
	fake     *fakeCluster
	cluster  *signer
	web      serviceAccount
	reviewer string
}

// setUpKubernetes mounts the kubernetes auth method on cl, pointed at a
// new fake cluster, with a role "web" (policy web-kv reading
// secret/data/app) whose tokens live 2s, renewable up to 4s: the agent
// renews once, then must log in again, reading the token file again.
func setUpKubernetes(t *testing.T, cl *api.Client) *k8sSetUp {
	t.Helper()
	k := &k8sSetUp{
		cluster: newSigner(t),
		web:     serviceAccount{Namespace: "shop", Name: "web", UID: "6f1c1a3e-0d1b-4d7e-9a55-1d2b3c4d5e6f", Audiences: []string{"coffer"}},
	}
	k.reviewer = saToken(t, k.cluster, serviceAccount{Namespace: "kube-system", Name: "coffer-reviewer", UID: "0b7d9e2c-5b8e-4c9a-8a1f-3e2d1c0b9a87", Audiences: []string{"https://kubernetes.default.svc"}})
	k.fake = newFakeCluster(t, k.reviewer)
	if err := cl.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("auth/kubernetes/config", map[string]any{
		"kubernetes_host": k.fake.srv.URL, "kubernetes_ca_cert": k.fake.caPEM(), "token_reviewer_jwt": k.reviewer,
	}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().PutPolicy("web-kv", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("auth/kubernetes/role/web", map[string]any{
		"bound_service_account_names": "web", "bound_service_account_namespaces": "shop", "audience": "coffer",
		"token_policies": "web-kv", "token_ttl": "2s", "token_max_ttl": "4s",
	}); err != nil {
		t.Fatal(err)
	}
	return k
}

// k8sAgentConfig is an agent configuration logging in with the kubernetes
// method as role "web", writing its token to sink and rendering
// secret/data/app's password to out.
func k8sAgentConfig(addr, tokenPath, sink, out string) string {
	return fmt.Sprintf(`
vault {
  address = %q
  retry { num_retries = 0 }
}
auto_auth {
  method "kubernetes" {
    config = {
      role       = "web"
      token_path = %q
    }
  }
  sink "file" {
    config = { path = %q }
  }
}
template_config {
  static_secret_render_interval = "1s"
}
template {
  contents    = %q
  destination = %q
}
`, addr, tokenPath, sink, kvTemplate, out)
}

func TestAgentKubernetesTokenRotation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	dir := t.TempDir()
	k := setUpKubernetes(t, cl)
	fake, web, reviewer := k.fake, k.web, k.reviewer
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "k8s-pass-one"}); err != nil {
		t.Fatal(err)
	}

	tokenPath, sink, out := filepath.Join(dir, "sa-token"), filepath.Join(dir, "sink"), filepath.Join(dir, "out.txt")
	first := saToken(t, k.cluster, web)
	fake.rotate("", first, web)
	writeFile(t, tokenPath, first+"\n")
	logs := &logBuffer{}
	startAgent(t, k8sAgentConfig(s.Addr, tokenPath, sink, out), logs)

	// The first login: the sink's token reads the secret as the role's
	// service account, and the template rendered it.
	sink1 := readFile(t, sink)
	self, err := tokenClient(t, s.Addr, sink1).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self with the sink's token: %v", err)
	}
	meta, _ := self.Data["meta"].(map[string]any)
	if self.Data["path"] != "auth/kubernetes/login" || meta["service_account_name"] != "web" || meta["service_account_namespace"] != "shop" || meta["service_account_uid"] != web.UID {
		t.Errorf("sink token: path %v, meta %v; want a kubernetes login as shop/web", self.Data["path"], meta)
	}
	if _, err := tokenClient(t, s.Addr, sink1).KVv2("secret").Get(t.Context(), "app"); err != nil {
		t.Errorf("the sink's token cannot read the secret: %v", err)
	}
	if got := readFile(t, out); got != "k8s-pass-one" {
		t.Errorf("rendered file = %q, want k8s-pass-one", got)
	}
	if _, ok := fake.firstAuthenticated(first); !ok {
		t.Fatal("the cluster never reviewed the first service account token")
	}

	// The kubelet rotates the token: the file gets a new one and the
	// cluster refuses the old one from now on.
	second := saToken(t, k.cluster, web)
	fake.rotate(first, second, web)
	replaceFile(t, tokenPath, second+"\n")
	if _, err := tokenClient(t, s.Addr, "").Logical().Write("auth/kubernetes/login", map[string]any{"role": "web", "jwt": first}); !refused(err) {
		t.Fatalf("login with the rotated-out token: error %v, want a 403", err)
	}

	// When its token reaches its max TTL the agent logs in again, reading
	// the new file. Logins are sequential and the cluster now refuses the
	// old token, so a sink token issued after the cluster first
	// authenticated the new one comes from a login with the new one (that
	// login's or, when the server stamps tokens with the time their login
	// request arrived, the next one's).
	var reviewed time.Time
	waitFor(t, 30*time.Second, "a login with the rotated service account token", func() bool {
		at, ok := fake.firstAuthenticated(second)
		reviewed = at
		return ok
	})
	var sink2 string
	waitFor(t, 30*time.Second, "the sink token of the login with the rotated service account token", func() bool {
		sink2 = readFile(t, sink)
		return sink2 != sink1 && issuedAfter(t, cl, sink2, reviewed)
	})
	if _, err := tokenClient(t, s.Addr, sink2).KVv2("secret").Get(t.Context(), "app"); err != nil {
		t.Errorf("the new sink token cannot read the secret: %v", err)
	}

	// Templates keep working with the new token.
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "k8s-pass-two"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the KV change rendered with the new token", func() bool { return readFile(t, out) == "k8s-pass-two" })

	assertNoSecrets(t, "agent log", logs.String(), first, second, reviewer, sink1, sink2, "k8s-pass-one", "k8s-pass-two", s.RootToken)
}

func TestAgentJWTRotation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	dir := t.TempDir()
	idp := newSigner(t)
	const issuer = "https://ci.example.test"

	if err := cl.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("auth/jwt/config", map[string]any{
		"jwt_validation_pubkeys": []string{idp.publicPEM(t)}, "bound_issuer": issuer,
	}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().PutPolicy("ci-kv", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	// No leeway: an expired JWT is refused at once. jti goes into the
	// token's metadata, telling which JWT a login used.
	if _, err := cl.Logical().Write("auth/jwt/role/ci", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "coffer", "claim_mappings": map[string]string{"jti": "jwt_id"},
		"expiration_leeway": -1, "clock_skew_leeway": -1, "not_before_leeway": -1,
		"token_policies": "ci-kv", "token_ttl": "2s", "token_max_ttl": "4s",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "jwt-pass-one"}); err != nil {
		t.Fatal(err)
	}
	mint := func(jti string, ttl time.Duration) string {
		now := time.Now()
		return idp.sign(t, map[string]any{
			"iss": issuer, "sub": "deploy-bot", "aud": "coffer", "jti": jti,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(),
		})
	}

	jwtPath, sink, out := filepath.Join(dir, "jwt"), filepath.Join(dir, "sink"), filepath.Join(dir, "out.txt")
	// The first JWT expires within seconds: a login after that needs the
	// file to have been read again.
	first := mint("jwt-one", 3*time.Second)
	writeFile(t, jwtPath, first)
	logs := &logBuffer{}
	startAgent(t, fmt.Sprintf(`
vault {
  address = %q
  retry { num_retries = 0 }
}
auto_auth {
  method "jwt" {
    config = {
      role = "ci"
      path = %q
      # Keep the file, to check it is read again at each login.
      remove_jwt_after_reading = false
    }
  }
  sink "file" {
    config = { path = %q }
  }
}
template_config {
  static_secret_render_interval = "1s"
}
template {
  contents    = %q
  destination = %q
}
`, s.Addr, jwtPath, sink, kvTemplate, out), logs)

	// jwtID is the jti of the JWT tok's login used; "" when tok is not
	// valid.
	jwtID := func(tok string) string {
		sec := lookup(cl, tok)
		if sec == nil {
			return ""
		}
		meta, _ := sec.Data["meta"].(map[string]any)
		id, _ := meta["jwt_id"].(string)
		return id
	}
	sink1 := readFile(t, sink)
	if id := jwtID(sink1); id != "jwt-one" {
		t.Fatalf("first sink token's jwt_id = %q, want jwt-one", id)
	}
	if _, err := tokenClient(t, s.Addr, sink1).KVv2("secret").Get(t.Context(), "app"); err != nil {
		t.Errorf("the sink's token cannot read the secret: %v", err)
	}
	if got := readFile(t, out); got != "jwt-pass-one" {
		t.Errorf("rendered file = %q, want jwt-pass-one", got)
	}

	// Wait until the first JWT is refused (expired), then rotate the file.
	anon := tokenClient(t, s.Addr, "")
	waitFor(t, 20*time.Second, "the first JWT to expire", func() bool {
		_, err := anon.Logical().Write("auth/jwt/login", map[string]any{"role": "ci", "jwt": first})
		return invalidCredentials(err)
	})
	replaceFile(t, jwtPath, mint("jwt-two", time.Hour))

	// The agent's next login reads the new file.
	var sink2 string
	waitFor(t, 30*time.Second, "a login with the rotated JWT", func() bool {
		sink2 = readFile(t, sink)
		return jwtID(sink2) == "jwt-two"
	})
	if _, err := tokenClient(t, s.Addr, sink2).KVv2("secret").Get(t.Context(), "app"); err != nil {
		t.Errorf("the new sink token cannot read the secret: %v", err)
	}
	if _, err := cl.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "jwt-pass-two"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the KV change rendered with the new token", func() bool { return readFile(t, out) == "jwt-pass-two" })

	assertNoSecrets(t, "agent log", logs.String(), first, readFile(t, jwtPath), sink1, sink2, "jwt-pass-one", "jwt-pass-two", s.RootToken)
}

// TestAgentKubernetesRefusedThenValid starts the agent with a service
// account token the cluster does not accept: the agent retries without
// writing its sink or logging the token, and logs in as soon as the file
// holds a valid one.
func TestAgentKubernetesRefusedThenValid(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	k := setUpKubernetes(t, s.Client)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "k8s-pass-refused"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenPath, sink, out := filepath.Join(dir, "sa-token"), filepath.Join(dir, "sink"), filepath.Join(dir, "out.txt")
	// Signed like a real one and naming the right service account, but
	// unknown to the cluster (its pod was deleted, say).
	unknown := saToken(t, k.cluster, k.web)
	writeFile(t, tokenPath, unknown)

	cfg, err := config.Parse([]byte(k8sAgentConfig(s.Addr, tokenPath, sink, out)), "agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	ready := make(chan struct{})
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		done <- Run(ctx, cfg, Options{Logger: logs.logger(), MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second, Ready: ready})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	waitFor(t, 30*time.Second, "two refused logins", func() bool {
		return strings.Count(logs.String(), "login failed; retrying") >= 2
	})
	if !strings.Contains(logs.String(), "did not authenticate the token") {
		t.Errorf("the log does not say why the login was refused:\n%s", logs)
	}
	if _, err := os.Stat(sink); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sink written without a login: %v", err)
	}

	valid := saToken(t, k.cluster, k.web)
	k.fake.rotate("", valid, k.web)
	replaceFile(t, tokenPath, valid)
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("agent stopped: %v\nlog:\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("agent not ready 30s after the token became valid; log:\n%s", logs)
	}
	if _, err := tokenClient(t, s.Addr, readFile(t, sink)).KVv2("secret").Get(t.Context(), "app"); err != nil {
		t.Errorf("the sink's token cannot read the secret: %v", err)
	}
	if got := readFile(t, out); got != "k8s-pass-refused" {
		t.Errorf("rendered file = %q, want k8s-pass-refused", got)
	}
	assertNoSecrets(t, "agent log", logs.String(), unknown, valid, k.reviewer, readFile(t, sink), "k8s-pass-refused", s.RootToken)
}
