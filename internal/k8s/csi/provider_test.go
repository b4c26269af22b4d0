package csi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
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
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/coffer-secrets/coffer/internal/k8s/csi"
	"github.com/coffer-secrets/coffer/internal/k8s/csi/providerpb"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// fakeTokenReview is a Kubernetes API server's TokenReview endpoint: it
// authenticates the service account tokens it issued, for the audiences
// it issued them for.
type fakeTokenReview struct {
	srv   *httptest.Server
	key   *ecdsa.PrivateKey
	mu    sync.Mutex
	known map[string]issued // guarded by mu: token -> its account
}

type issued struct {
	namespace, name, audience string
}

func newFakeTokenReview(t testing.TB) *fakeTokenReview {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTokenReview{key: key, known: map[string]issued{}}
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
		if ok && len(review.Spec.Audiences) > 0 && !slices.Contains(review.Spec.Audiences, sa.audience) {
			ok = false
		}
		status := map[string]any{"authenticated": false}
		if ok {
			status = map[string]any{"authenticated": true, "audiences": []string{sa.audience},
				"user": map[string]any{"username": "system:serviceaccount:" + sa.namespace + ":" + sa.name, "uid": "uid-" + sa.name}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// token issues a service account token for namespace/name and audience.
func (f *fakeTokenReview) token(t testing.TB, namespace, name, audience string) string {
	t.Helper()
	now := time.Now()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.Signed(sig).Claims(map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:" + namespace + ":" + name,
		"aud": []string{audience}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": namespace, "serviceaccount": map[string]any{"name": name, "uid": "uid-" + name}},
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.known[tok] = issued{namespace, name, audience}
	f.mu.Unlock()
	return tok
}

// fixture is a Coffer server with auth/kubernetes against a fake cluster,
// and a provider serving on a unix socket.
type fixture struct {
	s      *testserver.Server
	k8s    *fakeTokenReview
	client providerpb.CSIDriverProviderClient
	log    *lockedBuffer // the provider's log
}

// lockedBuffer is a log destination safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder // guarded by mu
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkLog fails t if the provider's log holds any of secrets (tokens,
// secret values), and returns the log.
func (f *fixture) checkLog(t testing.TB, secrets ...string) string {
	t.Helper()
	log := f.log.String()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the provider's log holds a secret (%d bytes)", len(s))
		}
	}
	return log
}

func mustWrite(t testing.TB, cl *api.Client, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := cl.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}

// newFixture starts the server (KV version 2 at secret/, version 1 at
// kv1/) with two roles: web, for service account web in namespace shop,
// reading secret/data/web/* and kv1/web/*; and batch, for batch in shop.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	s := testserver.Start(t)
	k8s := newFakeTokenReview(t)
	mustWrite(t, s.Client, "sys/auth/kubernetes", map[string]any{"type": "kubernetes"})
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k8s.srv.Certificate().Raw}))
	mustWrite(t, s.Client, "auth/kubernetes/config", map[string]any{"kubernetes_host": k8s.srv.URL, "kubernetes_ca_cert": caPEM, "token_reviewer_jwt": "reviewer"})
	mustWrite(t, s.Client, "sys/mounts/kv1", map[string]any{"type": "kv", "options": map[string]any{"version": "1"}})
	if err := s.Client.Sys().PutPolicy("web", `
path "secret/data/web/*" { capabilities = ["read"] }
path "kv1/web/*" { capabilities = ["read"] }
`); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("batch", `path "secret/data/batch/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for role, sa := range map[string]string{"web": "web", "batch": "batch"} {
		mustWrite(t, s.Client, "auth/kubernetes/role/"+role, map[string]any{
			"bound_service_account_names": sa, "bound_service_account_namespaces": "shop", "audience": "coffer", "token_policies": role,
		})
	}
	log := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &fixture{s: s, k8s: k8s, log: log, client: startProvider(t, csi.Options{Client: providerClient(t, s.Addr), Logger: logger})}
}

// providerClient is an API client for addr with no token.
func providerClient(t testing.TB, addr string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cl, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.ClearToken()
	return cl
}

// startProvider serves a provider on a socket in a new directory and
// returns a driver's client of it.
func startProvider(t testing.TB, opts csi.Options) providerpb.CSIDriverProviderClient {
	t.Helper()
	p, err := csi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	// A short directory: a unix socket's path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "csi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "coffer.sock")
	l, err := csi.Listen("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, l) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return providerpb.NewCSIDriverProviderClient(conn)
}

// attrs builds a Mount request's attributes as the driver does: the
// SecretProviderClass's parameters, the pod's information and its tokens
// (audience -> token); a nil tokens map leaves the tokens out.
func attrs(t testing.TB, params map[string]string, tokens map[string]string) string {
	t.Helper()
	a := map[string]string{
		"csi.storage.k8s.io/pod.name":            "web-0",
		"csi.storage.k8s.io/pod.namespace":       "shop",
		"csi.storage.k8s.io/serviceAccount.name": "web",
		"csi.storage.k8s.io/ephemeral":           "false",
		"secretProviderClass":                    "web",
	}
	for k, v := range params {
		a[k] = v
	}
	if tokens != nil {
		m := map[string]any{}
		for aud, tok := range tokens {
			m[aud] = map[string]string{"token": tok, "expirationTimestamp": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		a["csi.storage.k8s.io/serviceAccount.tokens"] = string(b)
	}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mount calls Mount with the driver's default permission (0644).
func (f *fixture) mount(t testing.TB, params map[string]string, tokens map[string]string) (*providerpb.MountResponse, error) {
	t.Helper()
	return f.client.Mount(t.Context(), &providerpb.MountRequest{
		Attributes: attrs(t, params, tokens), Secrets: "{}", TargetPath: "/var/lib/kubelet/pods/x/volumes/y", Permission: "420",
	})
}

// files returns a response's files as path -> mode and contents.
func files(resp *providerpb.MountResponse) map[string]string {
	out := map[string]string{}
	for _, f := range resp.GetFiles() {
		out[f.Path] = fmt.Sprintf("%03o %s", f.Mode, f.Contents)
	}
	return out
}

func versions(resp *providerpb.MountResponse) map[string]string {
	out := map[string]string{}
	for _, v := range resp.GetObjectVersion() {
		out[v.Id] = v.Version
	}
	return out
}

// wantRefusal checks that err is a gRPC error with code gc, a MountResponse
// detail with code, and a message containing msg.
func wantRefusal(t testing.TB, err error, gc codes.Code, code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok {
		t.Fatalf("Mount error = %v, want a gRPC error %v", err, gc)
	}
	if st.Code() != gc || !strings.Contains(st.Message(), msg) {
		t.Errorf("Mount error = %v, want code %v and a message with %q", err, gc, msg)
	}
	var got string
	for _, d := range st.Details() {
		if r, ok := d.(*providerpb.MountResponse); ok {
			got = r.GetError().GetCode()
		}
	}
	if got != code {
		t.Errorf("Mount error detail code = %q, want %q", got, code)
	}
}

const webObjects = `
- objectName: password
  secretPath: secret/data/web/db
  secretKey: password
- objectName: config/db.json
  secretPath: secret/data/web/db
  filePermission: 0600
- objectName: cert
  secretPath: kv1/web/tls
  secretKey: cert
  encoding: base64
`

func TestMountGivesThePodItsFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.s.Client.KVv2("secret").Put(t.Context(), "web/db", map[string]any{"password": "hunter2", "port": 5432}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f.s.Client, "kv1/web/tls", map[string]any{"cert": "LS0tLS1CRUdJTg=="})
	tok := f.k8s.token(t, "shop", "web", "coffer")
	resp, err := f.mount(t, map[string]string{"roleName": "web", "objects": webObjects}, map[string]string{"coffer": tok})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	got := files(resp)
	var whole struct {
		Data     map[string]any `json:"data"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(got["config/db.json"], "600 ")), &whole); err != nil {
		t.Fatalf("config/db.json is not the secret's data as JSON: %v (%q)", err, got["config/db.json"])
	}
	if whole.Data["password"] != "hunter2" || whole.Metadata["version"] == nil {
		t.Errorf("config/db.json = %q, want the KV read's data and metadata", got["config/db.json"])
	}
	delete(got, "config/db.json")
	if diff := cmp.Diff(map[string]string{"password": "644 hunter2", "cert": "644 -----BEGIN"}, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	v := versions(resp)
	if v["password"] != "1" || v["config/db.json"] != "1" || len(v["cert"]) != 32 {
		t.Errorf("object versions = %v, want 1, 1 and a hash", v)
	}

	// The provider revoked the token it logged in with: nothing it read
	// holds a lease.
	list, err := f.s.Client.Logical().List("auth/token/accessors")
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := list.Data["keys"].([]any); len(keys) != 1 {
		t.Errorf("%d token accessors after the mount, want 1 (the root token's)", len(keys))
	}
	if log := f.checkLog(t, tok, "hunter2", "LS0tLS1CRUdJTg=="); !strings.Contains(log, "pod=shop/web-0") {
		t.Errorf("the log does not name the pod:\n%s", log)
	}
}

func TestMountRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kv := f.s.Client.KVv2("secret")
	if _, err := kv.Put(t.Context(), "web/db", map[string]any{"password": "one"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f.s.Client, "kv1/web/api", map[string]any{"key": "k1"})
	objects := `
- {objectName: password, secretPath: secret/data/web/db, secretKey: password}
- {objectName: api, secretPath: kv1/web/api, secretKey: key}
`
	params := map[string]string{"roleName": "web", "objects": objects}
	mount := func() *providerpb.MountResponse {
		t.Helper()
		resp, err := f.mount(t, params, map[string]string{"coffer": f.k8s.token(t, "shop", "web", "coffer")})
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
		return resp
	}
	first := mount()
	same := mount()
	if diff := cmp.Diff(first, same, protocmp.Transform()); diff != "" {
		t.Errorf("a second mount with nothing changed differs (-first +second):\n%s", diff)
	}
	if _, err := kv.Put(t.Context(), "web/db", map[string]any{"password": "two"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f.s.Client, "kv1/web/api", map[string]any{"key": "k2"})
	rotated := mount()
	if got := files(rotated); got["password"] != "644 two" || got["api"] != "644 k2" {
		t.Errorf("files after rotation = %v, want the new values", got)
	}
	v1, v2 := versions(first), versions(rotated)
	if v1["password"] != "1" || v2["password"] != "2" {
		t.Errorf("KV v2 object versions = %q then %q, want 1 then 2", v1["password"], v2["password"])
	}
	if v1["api"] == v2["api"] {
		t.Errorf("KV v1 object version %q did not change with the content", v1["api"])
	}
}

func TestMountRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.s.Client.KVv2("secret").Put(t.Context(), "web/db", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Client.KVv2("secret").Put(t.Context(), "web/big", map[string]any{"v": strings.Repeat("x", csi.MaxFileSize-16)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Client.KVv2("secret").Put(t.Context(), "web/gone", map[string]any{"v": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Client.KVv2("secret").Delete(t.Context(), "web/gone"); err != nil {
		t.Fatal(err)
	}
	one := `[{objectName: password, secretPath: secret/data/web/db, secretKey: password}]`
	web := func() map[string]string { return map[string]string{"coffer": f.k8s.token(t, "shop", "web", "coffer")} }
	tests := []struct {
		name   string
		params map[string]string
		tokens map[string]string
		gc     codes.Code
		code   string
		msg    string
	}{
		{
			name:   "a service account of another namespace",
			params: map[string]string{"roleName": "web", "objects": one},
			tokens: map[string]string{"coffer": f.k8s.token(t, "other", "web", "coffer")},
			gc:     codes.PermissionDenied, code: csi.CodeLoginFailed, msg: `log in at auth/kubernetes/login with role "web": Coffer answered 403`,
		},
		{
			name:   "a role bound to another service account",
			params: map[string]string{"roleName": "batch", "objects": one},
			tokens: web(),
			gc:     codes.PermissionDenied, code: csi.CodeLoginFailed, msg: `with role "batch": Coffer answered 403`,
		},
		{
			name:   "a path the role's policy does not grant",
			params: map[string]string{"roleName": "batch", "objects": `[{objectName: p, secretPath: secret/data/web/db}]`},
			tokens: map[string]string{"coffer": f.k8s.token(t, "shop", "batch", "coffer")},
			gc:     codes.PermissionDenied, code: csi.CodeReadFailed, msg: `read secret/data/web/db for object "p": Coffer answered 403`,
		},
		{
			name:   "a token for another audience",
			params: map[string]string{"roleName": "web", "objects": one},
			tokens: map[string]string{"vault": f.k8s.token(t, "shop", "web", "vault")},
			gc:     codes.PermissionDenied, code: csi.CodeLoginFailed, msg: "Coffer answered 403",
		},
		{
			name:   "no token",
			params: map[string]string{"roleName": "web", "objects": one},
			gc:     codes.InvalidArgument, code: csi.CodeMissingToken, msg: "the driver passed no service account token: set tokenRequests",
		},
		{
			name:   "no token for the audience asked for",
			params: map[string]string{"roleName": "web", "objects": one, "audience": "coffer"},
			tokens: map[string]string{"vault": "x"},
			gc:     codes.InvalidArgument, code: csi.CodeMissingToken, msg: `no service account token for audience "coffer"`,
		},
		{
			name:   "another address",
			params: map[string]string{"roleName": "web", "objects": one, "vaultAddress": "https://collector.example:8200"},
			tokens: web(),
			gc:     codes.PermissionDenied, code: csi.CodeAddressNotAllowed, msg: "-allow-address-override",
		},
		{
			name:   "a missing secret",
			params: map[string]string{"roleName": "web", "objects": `[{objectName: p, secretPath: secret/data/web/none, secretKey: password}]`},
			tokens: web(),
			gc:     codes.NotFound, code: csi.CodeSecretNotFound, msg: `read secret/data/web/none for object "p": no secret there`,
		},
		{
			name:   "a deleted secret",
			params: map[string]string{"roleName": "web", "objects": `[{objectName: p, secretPath: secret/data/web/gone}]`},
			tokens: web(),
			gc:     codes.NotFound, code: csi.CodeSecretNotFound, msg: `read secret/data/web/gone for object "p": the latest version is deleted`,
		},
		{
			name:   "a missing key",
			params: map[string]string{"roleName": "web", "objects": `[{objectName: p, secretPath: secret/data/web/db, secretKey: user}]`},
			tokens: web(),
			gc:     codes.NotFound, code: csi.CodeSecretNotFound, msg: `the secret has no key "user"`,
		},
		{
			name:   "a file too large",
			params: map[string]string{"roleName": "web", "objects": `[{objectName: big, secretPath: secret/data/web/big}]`},
			tokens: web(),
			gc:     codes.ResourceExhausted, code: csi.CodeTooLarge, msg: `object "big" is 1048`,
		},
		{
			name: "files too large together",
			params: map[string]string{"roleName": "web", "objects": `[
				{objectName: a, secretPath: secret/data/web/big, secretKey: v},
				{objectName: b, secretPath: secret/data/web/big, secretKey: v},
				{objectName: c, secretPath: secret/data/web/big, secretKey: v},
				{objectName: d, secretPath: secret/data/web/big, secretKey: v}]`},
			tokens: web(),
			gc:     codes.ResourceExhausted, code: csi.CodeTooLarge, msg: "the objects add up to more than 3145728 bytes",
		},
		{
			name:   "no role",
			params: map[string]string{"objects": one},
			tokens: web(),
			gc:     codes.InvalidArgument, code: csi.CodeInvalidParameters, msg: "parameter roleName is required",
		},
		{
			name:   "a misspelt field",
			params: map[string]string{"roleName": "web", "objects": `[{objectName: p, secretPath: secret/data/web/db, secretkey: password}]`},
			tokens: web(),
			gc:     codes.InvalidArgument, code: csi.CodeInvalidParameters, msg: "field secretkey not found",
		},
		{
			name:   "a namespace",
			params: map[string]string{"roleName": "web", "objects": one, "vaultNamespace": "team-a"},
			tokens: web(),
			gc:     codes.InvalidArgument, code: csi.CodeInvalidParameters, msg: "Coffer has no namespaces",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := f.mount(t, tt.params, tt.tokens)
			wantRefusal(t, err, tt.gc, tt.code, tt.msg)
			for _, tok := range tt.tokens {
				if len(tok) > 20 && strings.Contains(err.Error(), tok) {
					t.Errorf("the error holds the service account token")
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error holds a secret: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		secrets := []string{"hunter2"}
		for _, tt := range tests {
			for _, tok := range tt.tokens {
				if len(tok) > 20 {
					secrets = append(secrets, tok)
				}
			}
		}
		f.checkLog(t, secrets...)
	})
}

func TestMountAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.s.Client.KVv2("secret").Put(t.Context(), "web/db", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatal(err)
	}
	one := `[{objectName: password, secretPath: secret/data/web/db, secretKey: password}]`
	tok := func() map[string]string { return map[string]string{"coffer": f.k8s.token(t, "shop", "web", "coffer")} }

	// The provider's own address, written differently, is no override.
	if _, err := f.mount(t, map[string]string{"roleName": "web", "objects": one, "vaultAddress": strings.ToUpper(f.s.Addr) + "/"}, tok()); err != nil {
		t.Errorf("Mount naming the provider's own address: %v", err)
	}

	// With -allow-address-override, a SecretProviderClass may name the
	// server; the provider's own address is then only the default.
	other := startProvider(t, csi.Options{Client: providerClient(t, "http://127.0.0.1:1"), AllowAddressOverride: true})
	resp, err := other.Mount(t.Context(), &providerpb.MountRequest{
		Attributes: attrs(t, map[string]string{"roleName": "web", "objects": one, "vaultAddress": f.s.Addr}, tok()), Permission: "420",
	})
	if err != nil {
		t.Fatalf("Mount with an allowed override: %v", err)
	}
	if got := files(resp)["password"]; got != "644 hunter2" {
		t.Errorf("password = %q, want 644 hunter2", got)
	}
	_, err = other.Mount(t.Context(), &providerpb.MountRequest{
		Attributes: attrs(t, map[string]string{"roleName": "web", "objects": one, "vaultAddress": "file:///etc/passwd"}, tok()), Permission: "420",
	})
	wantRefusal(t, err, codes.InvalidArgument, csi.CodeInvalidParameters, "is not an http or https address")
}

func TestMountOtherAuthMount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.s.Client.KVv2("secret").Put(t.Context(), "web/db", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Client.Sys().EnableAuthWithOptions("k8s/b", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.k8s.srv.Certificate().Raw}))
	mustWrite(t, f.s.Client, "auth/k8s/b/config", map[string]any{"kubernetes_host": f.k8s.srv.URL, "kubernetes_ca_cert": caPEM, "token_reviewer_jwt": "reviewer"})
	mustWrite(t, f.s.Client, "auth/k8s/b/role/only-b", map[string]any{
		"bound_service_account_names": "web", "bound_service_account_namespaces": "shop", "token_policies": "web",
	})
	one := `[{objectName: password, secretPath: secret/data/web/db, secretKey: password}]`
	for _, key := range []string{"vaultKubernetesMountPath", "vaultAuthMountPath"} {
		resp, err := f.mount(t, map[string]string{"roleName": "only-b", "objects": one, key: "k8s/b"}, map[string]string{"": f.k8s.token(t, "shop", "web", "")})
		if err != nil {
			t.Fatalf("Mount with %s: %v", key, err)
		}
		if got := files(resp)["password"]; got != "644 hunter2" {
			t.Errorf("password = %q, want 644 hunter2", got)
		}
	}
	// The provider's default mount is "kubernetes", which has no such role.
	_, err := f.mount(t, map[string]string{"roleName": "only-b", "objects": one}, map[string]string{"": f.k8s.token(t, "shop", "web", "")})
	wantRefusal(t, err, codes.InvalidArgument, csi.CodeLoginFailed, "auth/kubernetes/login")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	c := startProvider(t, csi.Options{Client: providerClient(t, "http://127.0.0.1:1"), Version: "v1.2.3"})
	got, err := c.Version(t.Context(), &providerpb.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		t.Fatal(err)
	}
	want := &providerpb.VersionResponse{Version: "v1alpha1", RuntimeName: "coffer", RuntimeVersion: "1.2.3"}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Version (-want +got):\n%s", diff)
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "csi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	plain := filepath.Join(dir, "file.sock")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		endpoint string
		want     string // a substring of the error; "" for success
	}{
		{"unix://" + filepath.Join(dir, "coffer.sock"), ""},
		{"unix://" + filepath.Join(dir, "coffer.sock"), ""}, // a stale socket is replaced
		{"unix://" + plain, "not a socket"},
		{"unix://" + filepath.Join(dir, "coffer"), "<provider>.sock"},
		{"unix://" + filepath.Join(dir, "a.b.sock"), "<provider>.sock"},
		{"tcp://127.0.0.1:80", "want unix://"},
		{"unix://relative/coffer.sock", "absolute"},
	}
	for _, tt := range tests {
		l, err := csi.Listen(tt.endpoint)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Listen(%q): %v", tt.endpoint, err)
				continue
			}
			// Leave the socket file behind, as a killed provider does.
			if ul, ok := l.(interface{ SetUnlinkOnClose(bool) }); ok {
				ul.SetUnlinkOnClose(false)
			}
			l.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Listen(%q) error = %v, want one with %q", tt.endpoint, err, tt.want)
		}
		if err == nil {
			l.Close()
		}
	}
}

// BenchmarkMount measures whole mounts as the driver makes them (a login,
// one or ten KV version 2 reads and the token's revocation, over the
// socket, against a real server), reported as files per second.
func BenchmarkMount(b *testing.B) {
	f := newFixture(b)
	var objs [10]string
	for i := range objs {
		path := fmt.Sprintf("web/s%d", i)
		if _, err := f.s.Client.KVv2("secret").Put(b.Context(), path, map[string]any{"password": strings.Repeat("p", 64)}); err != nil {
			b.Fatal(err)
		}
		objs[i] = fmt.Sprintf("- {objectName: s%d, secretPath: secret/data/%s, secretKey: password}\n", i, path)
	}
	tok := map[string]string{"coffer": f.k8s.token(b, "shop", "web", "coffer")}
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			params := map[string]string{"roleName": "web", "objects": strings.Join(objs[:n], "")}
			for b.Loop() {
				resp, err := f.mount(b, params, tok)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.Files) != n {
					b.Fatalf("%d files", len(resp.Files))
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "files/s")
		})
	}
}
