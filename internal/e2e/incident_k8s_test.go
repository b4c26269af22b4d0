package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// fakeTokenReview is a Kubernetes API server's TokenReview endpoint: it
// authenticates the service account tokens it issued.
type fakeTokenReview struct {
	srv   *httptest.Server
	key   *ecdsa.PrivateKey
	mu    sync.Mutex
	known map[string][3]string // guarded by mu: token -> namespace, name, uid
}

func newFakeTokenReview(t *testing.T) *fakeTokenReview {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTokenReview{key: key, known: map[string][3]string{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		status := map[string]any{"authenticated": false}
		if ok {
			status = map[string]any{"authenticated": true, "audiences": review.Spec.Audiences,
				"user": map[string]any{"username": "system:serviceaccount:" + sa[0] + ":" + sa[1], "uid": sa[2]}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// token issues a service account token for namespace/name.
func (f *fakeTokenReview) token(t *testing.T, namespace, name string) string {
	t.Helper()
	now := time.Now()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sig).Claims(map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:" + namespace + ":" + name,
		"aud": []string{"coffer"}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": namespace, "serviceaccount": map[string]any{"name": name, "uid": "uid-" + name}},
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.known[tok] = [3]string{namespace, name, "uid-" + name}
	f.mu.Unlock()
	return tok
}

// TestIncidentContainKubernetesRole contains a Kubernetes role: its
// tokens are refused at once, and a service account of that role that
// never logged in (so no entity to disable) cannot log in until release;
// another role keeps working.
func TestIncidentContainKubernetesRole(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	k8s := newFakeTokenReview(t)
	mustWrite(t, s.Client, "sys/auth/kubernetes", map[string]any{"type": "kubernetes"})
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k8s.srv.Certificate().Raw}))
	mustWrite(t, s.Client, "auth/kubernetes/config", map[string]any{"kubernetes_host": k8s.srv.URL, "kubernetes_ca_cert": caPEM, "token_reviewer_jwt": "reviewer"})
	if err := s.Client.Sys().PutPolicy("web", `path "secret/data/web/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for role, names := range map[string]string{"web": "web,web2", "batch": "batch"} {
		mustWrite(t, s.Client, "auth/kubernetes/role/"+role, map[string]any{
			"bound_service_account_names": names, "bound_service_account_namespaces": "shop", "audience": "coffer", "token_policies": "web",
		})
	}
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "web/key", map[string]any{"v": "x"}); err != nil {
		t.Fatal(err)
	}
	login := func(role, sa string) (string, error) {
		cl, err := s.Client.Clone()
		if err != nil {
			t.Fatal(err)
		}
		cl.ClearToken()
		sec, err := cl.Logical().Write("auth/kubernetes/login", map[string]any{"role": role, "jwt": k8s.token(t, "shop", sa)})
		if err != nil {
			return "", err
		}
		return sec.Auth.ClientToken, nil
	}
	read := func(tok string) error {
		_, err := clientWith(t, s, tok).Logical().Read("secret/data/web/key")
		return err
	}
	webTok, err := login("web", "web")
	if err != nil {
		t.Fatal(err)
	}
	batchTok, err := login("batch", "batch")
	if err != nil {
		t.Fatal(err)
	}
	sec := mustWrite(t, s.Client, "sys/incident/contain", map[string]any{"role": "auth/kubernetes/role/web"})
	id, _ := sec.Data["id"].(string)
	if err := read(webTok); statusCode(err) != 403 {
		t.Errorf("read with the contained role's token error = %v, want 403", err)
	}
	if err := read(batchTok); err != nil {
		t.Errorf("the other role's token stopped working: %v", err)
	}
	if _, err := login("web", "web2"); statusCode(err) != 403 {
		t.Errorf("login with the blocked role error = %v, want 403", err)
	}
	if _, err := login("batch", "batch"); err != nil {
		t.Errorf("login with another role: %v", err)
	}
	mustWrite(t, s.Client, "sys/incident/release", map[string]any{"id": id})
	if _, err := login("web", "web2"); err != nil {
		t.Errorf("login after release: %v", err)
	}
}
