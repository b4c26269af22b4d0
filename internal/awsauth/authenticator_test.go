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
func signedRequest(t *testing.T, id, secret string, at time.Time, body []byte) *http.Request {
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
	// The login path refuses the network.
	if _, err := c.Logical().Write("auth/awskeys/login", map[string]any{"access_key_id": id, "ticket": strings.Repeat("a", 64)}); err == nil {
		t.Fatal("login with a made-up ticket succeeded")
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
	if _, err := auth.Authenticate(context.Background(), signedRequest(t, id, newSecret, clk.Now(), body), body); awsCode(err) != awsauth.CodeUnrecognizedClient {
		t.Fatalf("deleted key: %v", err)
	}
	if r, err := c.Logical().Read("auth/awskeys/keys/payments-app"); err != nil || r != nil {
		t.Fatalf("read after delete: %v %v", r, err)
	}
}
