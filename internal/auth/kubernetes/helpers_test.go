package kubernetes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)

// reviewerJWT is the token_reviewer_jwt the fake cluster accepts.
const reviewerJWT = "reviewer-jwt-0123456789abcdef"

// account is a service account the fake cluster knows.
type account struct {
	namespace, name, uid string
	audiences            []string
}

// cluster is a fake Kubernetes API server over TLS answering TokenReviews
// as the real one does. It knows some service account tokens; bearer
// tokens must be the reviewer JWT or a known service account token
// (which then reviews itself), else it answers 401.
type cluster struct {
	srv   *httptest.Server
	calls atomic.Int64

	mu      sync.Mutex
	tokens  map[string]account // guarded by mu: valid tokens
	bearers []string           // guarded by mu: Authorization headers received
	specs   []tokenReviewSpec  // guarded by mu: review specs received
	status  int                // guarded by mu: when non-zero, answer only this HTTP status
	lie     func(*tokenReviewStatus)
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{tokens: map[string]account{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+tokenReviewPath, c.serve)
	c.srv = httptest.NewUnstartedServer(mux)
	c.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cluster) serve(w http.ResponseWriter, r *http.Request) {
	c.calls.Add(1)
	var tr tokenReview
	if err := json.NewDecoder(r.Body).Decode(&tr); err != nil || tr.Kind != "TokenReview" || tr.APIVersion != "authentication.k8s.io/v1" {
		http.Error(w, `{"kind":"Status","code":400}`, http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	auth := r.Header.Get("Authorization")
	c.bearers = append(c.bearers, auth)
	c.specs = append(c.specs, tr.Spec)
	if c.status != 0 {
		w.WriteHeader(c.status)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure"}`))
		return
	}
	bearer, _ := strings.CutPrefix(auth, "Bearer ")
	if _, known := c.tokens[bearer]; bearer != reviewerJWT && !known {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`))
		return
	}
	var st tokenReviewStatus
	acct, ok := c.tokens[tr.Spec.Token]
	switch {
	case !ok:
		st.Error = "[invalid bearer token, service account token has been invalidated]"
	case len(tr.Spec.Audiences) > 0 && !slices.ContainsFunc(tr.Spec.Audiences, func(a string) bool { return slices.Contains(acct.audiences, a) }):
		st.Error = "token audiences are invalid for the target audiences"
	default:
		st.Authenticated = true
		st.User = userInfo{Username: "system:serviceaccount:" + acct.namespace + ":" + acct.name, UID: acct.uid}
		st.Audiences = acct.audiences
		if len(tr.Spec.Audiences) > 0 {
			st.Audiences = tr.Spec.Audiences
		}
	}
	if c.lie != nil {
		c.lie(&st)
	}
	tr.Status = st
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(&tr)
}

func (c *cluster) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw}))
}

// add makes tok a valid token of acct.
func (c *cluster) add(tok string, acct account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[tok] = acct
}

func (c *cluster) revoke(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tokens, tok)
}

func (c *cluster) setStatus(s int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = s
}

func (c *cluster) setLie(f func(*tokenReviewStatus)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lie = f
}

func (c *cluster) lastBearer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bearers) == 0 {
		return ""
	}
	return c.bearers[len(c.bearers)-1]
}

func (c *cluster) lastSpec() tokenReviewSpec {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.specs) == 0 {
		return tokenReviewSpec{}
	}
	return c.specs[len(c.specs)-1]
}

// issuer signs test service account tokens. The fake cluster never checks
// signatures (it knows its tokens), but the tokens are real JWS.
type issuer struct{ key *ecdsa.PrivateKey }

func newIssuer(t testing.TB) issuer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return issuer{k}
}

func (is issuer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: is.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// projected returns the claims of a projected token of acct.
func projected(acct account) map[string]any {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local",
		"sub": "system:serviceaccount:" + acct.namespace + ":" + acct.name,
		"aud": acct.audiences,
		"exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      acct.namespace,
			"serviceaccount": map[string]any{"name": acct.name, "uid": acct.uid},
			"pod":            map[string]any{"name": "pod-1", "uid": "pod-uid"},
		},
	}
}

// legacy returns the claims of a Secret-based token of acct.
func legacy(acct account, secretName string) map[string]any {
	return map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:" + acct.namespace + ":" + acct.name,
		"kubernetes.io/serviceaccount/namespace": acct.namespace,
		"kubernetes.io/serviceaccount/service-account.name": acct.name,
		"kubernetes.io/serviceaccount/service-account.uid":  acct.uid,
		"kubernetes.io/serviceaccount/secret.name":          secretName,
	}
}

// harness drives one backend against one fake cluster.
type harness struct {
	*logicaltest.Harness
	c  *cluster
	is issuer
}

// newHarness configures a mount for a fresh cluster with config (merged
// over host, CA and reviewer JWT) and writes role "app".
func newHarness(t testing.TB, config, role map[string]any) *harness {
	t.Helper()
	h := &harness{Harness: logicaltest.NewHarness(t, Factory, logical.Env{}), c: newCluster(t), is: newIssuer(t)}
	cfg := map[string]any{"kubernetes_host": h.c.srv.URL, "kubernetes_ca_cert": h.c.caPEM(), "token_reviewer_jwt": reviewerJWT}
	for k, v := range config {
		cfg[k] = v
	}
	h.Must(opUpdate, "config", js(cfg))
	r := map[string]any{"bound_service_account_names": "web", "bound_service_account_namespaces": "shop", "token_policies": "shop-web"}
	for k, v := range role {
		r[k] = v
	}
	h.Must(opUpdate, "role/app", js(r))
	return h
}

func (h *harness) login(role, tok string) (*logical.Response, error) {
	h.T.Helper()
	return h.Do(opUpdate, "login", js(map[string]string{"role": role, "jwt": tok}))
}

// valid returns a projected token of a service account the cluster knows.
func (h *harness) valid(acct account) string {
	h.T.Helper()
	tok := h.is.sign(h.T, projected(acct))
	h.c.add(tok, acct)
	return tok
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// webSA returns the service account the default role binds.
func webSA() account {
	return account{namespace: "shop", name: "web", uid: "11111111-2222-3333-4444-555555555555", audiences: []string{"https://kubernetes.default.svc"}}
}

func asError(err error, target **logical.Error) bool { return errors.As(err, target) }
