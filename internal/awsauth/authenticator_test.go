package awsauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/awsauth"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// clock is a settable server clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var invocation atomic.Int64

// signedRequest is a server-side request as an SDK client signing with
// id and secret at the clock's time sends it.
func signedRequest(t testing.TB, id, secret string, at time.Time, body []byte) *http.Request {
	t.Helper()
	c, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8200/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	c.Header.Set("Content-Type", "application/x-amz-json-1.1")
	c.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	c.Header.Set("Amz-Sdk-Invocation-Id", fmt.Sprint(invocation.Add(1)))
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, c, hex.EncodeToString(sum[:]), "secretsmanager", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	s := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8200/", bytes.NewReader(body))
	s.Header = c.Header.Clone()
	return s
}

func awsCode(err error) string {
	var e *awsauth.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestAccessKeysEndToEnd(t *testing.T) {
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	ts := testserver.StartWith(t, testserver.Options{Clock: clk})
	c := ts.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}))
	must(c.Sys().PutPolicy("payments", `path "secret/data/prod/payments/*" { capabilities = ["read"] }`))
	_, err := c.Logical().Write("secret/data/prod/payments/db", map[string]any{"data": map[string]any{"password": "p1"}})
	must(err)
	_, err = c.Logical().Write("secret/data/prod/other", map[string]any{"data": map[string]any{"password": "p2"}})
	must(err)

	// Create: the secret is answered once.
	created, err := c.Logical().Write("auth/awskeys/keys/payments-app", map[string]any{"policies": "payments", "ttl": "1h"})
	must(err)
	id, _ := created.Data["access_key_id"].(string)
	secret, _ := created.Data["secret_access_key"].(string)
	if len(id) != 20 || !strings.HasPrefix(id, "CKIA") || len(secret) != 40 {
		t.Fatalf("created %q / secret of %d chars", id, len(secret))
	}
	read, err := c.Logical().Read("auth/awskeys/keys/payments-app")
	must(err)
	if read.Data["access_key_id"] != id || read.Data["secret_access_key"] != nil || fmt.Sprint(read.Data["token_policies"]) != "[payments]" {
		t.Fatalf("read: %v", read.Data)
	}
	for _, v := range read.Data {
		if strings.Contains(fmt.Sprint(v), secret) {
			t.Fatal("read answers the secret")
		}
	}
	list, err := c.Logical().List("auth/awskeys/keys")
	must(err)
	if fmt.Sprint(list.Data["keys"]) != "[payments-app]" {
		t.Fatalf("list: %v", list.Data)
	}
	dir, err := ts.Core().AccessDirectory(context.Background())
	must(err)
	found := false
	for _, m := range dir.Mounts {
		for _, p := range m.Principals {
			if m.Path == "auth/awskeys/" && p.Kind == "key" && p.Name == "payments-app" && p.Bindings["access_key_id"] == id {
				found = true
				if strings.Contains(fmt.Sprint(p), secret) {
					t.Fatal("the principal carries the secret")
				}
			}
		}
	}
	if !found {
		t.Fatalf("the key is not a principal: %+v", dir.Mounts)
	}
	// The login path refuses the network, with or without a token.
	anon, err := c.Clone()
	must(err)
	anon.ClearToken()
	for _, cl := range []*api.Client{c, anon} {
		_, err := cl.Logical().Write("auth/awskeys/login", map[string]any{"access_key_id": id, "ticket": strings.Repeat("a", 64)})
		var re *api.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || !strings.Contains(err.Error(), "invalid login ticket") {
			t.Fatalf("login with a made-up ticket: %v", err)
		}
	}

	auth := awsauth.New(ts.Core(), awsauth.Options{Verifier: awsauth.VerifierOptions{Now: clk.Now}})
	body := []byte(`{"SecretId":"prod/payments/db"}`)
	tok, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, clk.Now(), body), body)
	must(err)
	kc, err := c.Clone()
	must(err)
	kc.SetToken(tok)
	got, err := kc.Logical().Read("secret/data/prod/payments/db")
	must(err)
	if got.Data["data"].(map[string]any)["password"] != "p1" {
		t.Fatalf("read as the key: %v", got.Data)
	}
	if _, err := kc.Logical().Read("secret/data/prod/other"); err == nil {
		t.Fatal("the key read a path its policy does not grant")
	}
	self, err := kc.Auth().Token().LookupSelf()
	must(err)
	if self.Data["path"] != "auth/awskeys/login" || self.Data["entity_id"] == "" {
		t.Fatalf("token: %v", self.Data)
	}

	// The token is cached; a wrong secret is refused.
	tok2, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, clk.Now(), body), body)
	must(err)
	if tok2 != tok {
		t.Fatal("a second request made a new token")
	}
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, strings.Repeat("x", 40), clk.Now(), body), body); awsCode(err) != awsauth.CodeInvalidSignature {
		t.Fatalf("wrong secret: %v", err)
	}

	// A revoked token is not reused: the next request logs in again.
	must(c.Auth().Token().RevokeTree(tok))
	tok3, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, clk.Now(), body), body)
	must(err)
	if tok3 == tok {
		t.Fatal("a revoked token was answered")
	}

	// Rotation with grace: both secrets work, then only the new one.
	rot, err := c.Logical().Write("auth/awskeys/keys/payments-app/rotate", map[string]any{"grace": "10m"})
	must(err)
	newSecret, _ := rot.Data["secret_access_key"].(string)
	if len(newSecret) != 40 || newSecret == secret || rot.Data["access_key_id"] != id {
		t.Fatalf("rotate: %v", rot.Data)
	}
	for _, s := range []string{secret, newSecret} {
		if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, s, clk.Now(), body), body); err != nil {
			t.Fatalf("during grace: %v", err)
		}
	}
	// The token made before the rotation (another revision of the key)
	// was replaced and revoked.
	if _, err := c.Auth().Token().Lookup(tok3); err == nil {
		t.Fatal("the replaced token is still alive")
	}
	clk.add(11 * time.Minute)
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, clk.Now(), body), body); awsCode(err) != awsauth.CodeInvalidSignature {
		t.Fatalf("old secret after grace: %v", err)
	}
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, newSecret, clk.Now(), body), body); err != nil {
		t.Fatalf("new secret after grace: %v", err)
	}

	// Delete: the key is unknown from then on.
	_, err = c.Logical().Delete("auth/awskeys/keys/payments-app")
	must(err)
	if n := awsauth.CachedTokens(auth); n != 1 {
		t.Fatalf("%d tokens cached before the delete", n)
	}
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, newSecret, clk.Now(), body), body); awsCode(err) != awsauth.CodeUnrecognizedClient {
		t.Fatalf("deleted key: %v", err)
	}
	if n := awsauth.CachedTokens(auth); n != 0 {
		t.Fatalf("the deleted key's token is still cached (%d)", n)
	}
	if r, err := c.Logical().Read("auth/awskeys/keys/payments-app"); err != nil || r != nil {
		t.Fatalf("read after delete: %v %v", r, err)
	}
}

// BenchmarkAuthenticate measures a request with a cached token: SigV4
// verification, the key's storage read and the token check.
func BenchmarkAuthenticate(b *testing.B) {
	ts := testserver.Start(b)
	c := ts.Client
	if err := c.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		b.Fatal(err)
	}
	created, err := c.Logical().Write("auth/awskeys/keys/bench", map[string]any{"policies": "default"})
	if err != nil {
		b.Fatal(err)
	}
	id, secret := created.Data["access_key_id"].(string), created.Data["secret_access_key"].(string)
	auth := awsauth.New(ts.Core(), awsauth.Options{})
	body := []byte(`{"SecretId":"prod/payments/db"}`)
	now := time.Now()
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		reqs[i] = signedRequest(b, id, secret, now, body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := auth.Authenticate(context.Background(), reqs[i], body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAccessKeyEntity checks that a key bound to an entity acts as that
// entity, with its identity policies, and is refused once it is disabled.
func TestAccessKeyEntity(t *testing.T) {
	ts := testserver.Start(t)
	c := ts.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}))
	must(c.Sys().PutPolicy("payments", `path "secret/data/prod/payments/*" { capabilities = ["read"] }`))
	_, err := c.Logical().Write("secret/data/prod/payments/db", map[string]any{"data": map[string]any{"password": "p1"}})
	must(err)
	ent, err := c.Logical().Write("identity/entity", map[string]any{"name": "payments-service", "policies": "payments"})
	must(err)
	entityID, _ := ent.Data["id"].(string)
	created, err := c.Logical().Write("auth/awskeys/keys/app", map[string]any{"entity_id": entityID})
	must(err)
	id, secret := created.Data["access_key_id"].(string), created.Data["secret_access_key"].(string)

	auth := awsauth.New(ts.Core(), awsauth.Options{})
	body := []byte(`{}`)
	tok, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, time.Now(), body), body)
	must(err)
	kc, err := c.Clone()
	must(err)
	kc.SetToken(tok)
	self, err := kc.Auth().Token().LookupSelf()
	must(err)
	if self.Data["entity_id"] != entityID {
		t.Fatalf("token entity %v, want %s", self.Data["entity_id"], entityID)
	}
	if _, err := kc.Logical().Read("secret/data/prod/payments/db"); err != nil {
		t.Fatalf("read with the entity's policies: %v", err)
	}

	// A disabled entity: the cached token stops working and no new login
	// is made.
	_, err = c.Logical().Write("identity/entity/id/"+entityID, map[string]any{"disabled": true})
	must(err)
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, time.Now(), body), body); awsCode(err) != awsauth.CodeUnrecognizedClient {
		t.Fatalf("disabled entity: %v", err)
	}
}

// TestAuthenticateConcurrent sends first requests of one key at once:
// each is verified and answered a working token.
func TestAuthenticateConcurrent(t *testing.T) {
	ts := testserver.Start(t)
	c := ts.Client
	if err := c.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		t.Fatal(err)
	}
	created, err := c.Logical().Write("auth/awskeys/keys/app", map[string]any{"policies": "default"})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := created.Data["access_key_id"].(string), created.Data["secret_access_key"].(string)
	auth := awsauth.New(ts.Core(), awsauth.Options{Mount: "auth/awskeys"})
	body := []byte(`{}`)
	const n = 8
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = signedRequest(t, id, secret, time.Now(), body)
	}
	toks := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = auth.Authenticate(context.Background(), reqs[i], body) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		kc, err := c.Clone()
		if err != nil {
			t.Fatal(err)
		}
		kc.SetToken(toks[i])
		if _, err := kc.Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	// The same requests again are replays.
	for i := range n {
		if _, err := auth.Authenticate(context.Background(), reqs[i], body); awsCode(err) != awsauth.CodeInvalidSignature {
			t.Fatalf("replay %d: %v", i, err)
		}
	}
	// A sealed server authenticates nothing.
	if err := c.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	_, err = auth.Authenticate(context.Background(), signedRequest(t, id, secret, time.Now(), body), body)
	var ae *awsauth.Error
	if !errors.As(err, &ae) || ae.Code != awsauth.CodeServiceUnavailable || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("sealed: %v", err)
	}
}

// TestContainedKey checks incident containment of a key: its cached token
// is revoked and its logins blocked, so signed requests are refused until
// the incident is released; other keys keep working.
func TestContainedKey(t *testing.T) {
	ts := testserver.Start(t)
	c := ts.Client
	if err := c.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		t.Fatal(err)
	}
	key := func(name string) (string, string) {
		created, err := c.Logical().Write("auth/awskeys/keys/"+name, map[string]any{"policies": "default"})
		if err != nil {
			t.Fatal(err)
		}
		return created.Data["access_key_id"].(string), created.Data["secret_access_key"].(string)
	}
	id, secret := key("leaked")
	otherID, otherSecret := key("other")
	auth := awsauth.New(ts.Core(), awsauth.Options{})
	body := []byte(`{}`)
	tok, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, time.Now(), body), body)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := c.Logical().Write("sys/incident/contain", map[string]any{"role": "auth/awskeys/role/leaked", "reason": "key in a public repository"})
	if err != nil {
		t.Fatal(err)
	}
	kc, err := c.Clone()
	if err != nil {
		t.Fatal(err)
	}
	kc.SetToken(tok)
	if _, err := kc.Auth().Token().LookupSelf(); err == nil {
		t.Fatal("the contained key's token still works")
	}
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, time.Now(), body), body); awsCode(err) != awsauth.CodeUnrecognizedClient {
		t.Fatalf("contained key: %v", err)
	}
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, otherID, otherSecret, time.Now(), body), body); err != nil {
		t.Fatalf("other key: %v", err)
	}
	if _, err := c.Logical().Write("sys/incident/release", map[string]any{"id": inc.Data["id"]}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, secret, time.Now(), body), body); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
