package webhook_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/events/webhook"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

const key = "0123456789abcdef-signing"

// endpoint is an HTTPS webhook receiver that fails its first `fail`
// deliveries (or all of them while failing is set) and records the
// events it accepted, after checking their signature.
type endpoint struct {
	srv     *httptest.Server
	fail    atomic.Int32
	failAll atomic.Bool
	mu      sync.Mutex
	got     []*events.Event
	badSig  atomic.Int32
}

func newEndpoint(t *testing.T) *endpoint {
	ep := &endpoint{}
	ep.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		want := webhook.Sign([]byte(key), r.Header.Get(webhook.HeaderTimestamp), body)
		if !hmac.Equal([]byte(want), []byte(r.Header.Get(webhook.HeaderSignature))) {
			ep.badSig.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if ep.failAll.Load() || ep.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var e events.Event
		if err := json.Unmarshal(body, &e); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ep.mu.Lock()
		ep.got = append(ep.got, &e)
		ep.mu.Unlock()
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *endpoint) names() []string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	var out []string
	for _, e := range ep.got {
		out = append(out, e.Metadata["name"])
	}
	return out
}

func (ep *endpoint) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ep.srv.Certificate().Raw}))
}

// waitFor polls cond for up to 20 s (deliveries back off from one second).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func configure(t *testing.T, c *api.Client, name string, ep *endpoint, extra map[string]any) {
	t.Helper()
	body := map[string]any{"url": ep.srv.URL + "/hook", "hmac_key": key, "ca_pem": ep.caPEM(), "event_types": "policy/*"}
	for k, v := range extra {
		body[k] = v
	}
	if _, err := c.Logical().Write("sys/events/webhooks/"+name, body); err != nil {
		t.Fatalf("configure webhook: %v", err)
	}
}

func putPolicy(t *testing.T, c *api.Client, name string) {
	t.Helper()
	if err := c.Sys().PutPolicy(name, `path "x/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookRetriesThenDelivers: an endpoint that fails twice gets the
// event on the third try, signed; the key is never read back.
func TestWebhookRetriesThenDelivers(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ep := newEndpoint(t)
	ep.fail.Store(2)
	configure(t, s.Client, "ops", ep, nil)
	putPolicy(t, s.Client, "p1")
	waitFor(t, "delivery after two failures", func() bool { return len(ep.names()) == 1 })
	if got := ep.names(); got[0] != "p1" || ep.badSig.Load() != 0 {
		t.Errorf("delivered %q with %d bad signatures, want [p1] and none", got, ep.badSig.Load())
	}
	sec, err := s.Client.Logical().Read("sys/events/webhooks/ops")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(sec.Data)
	if strings.Contains(string(raw), key) || sec.Data["hmac_key_set"] != true {
		t.Errorf("webhook read = %s: want hmac_key_set and never the key", raw)
	}
	if n, _ := sec.Data["pending"].(json.Number).Int64(); n != 0 {
		t.Errorf("pending = %d after delivery, want 0", n)
	}
	list, err := s.Client.Logical().List("sys/events/webhooks")
	if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
		t.Errorf("list webhooks = %+v, %v; want [ops]", list, err)
	}
}

// TestWebhookDeadLetterReplay: after max_attempts failures the event is a
// dead letter (with a reason that holds no URL); replay delivers it.
func TestWebhookDeadLetterReplay(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ep := newEndpoint(t)
	ep.failAll.Store(true)
	configure(t, s.Client, "ops", ep, map[string]any{"max_attempts": 2})
	putPolicy(t, s.Client, "lost")
	var letters []any
	waitFor(t, "a dead letter", func() bool {
		sec, err := s.Client.Logical().Read("sys/events/webhooks/ops/dead-letters")
		if err != nil || sec == nil {
			return false
		}
		letters, _ = sec.Data["dead_letters"].([]any)
		return len(letters) == 1
	})
	l := letters[0].(map[string]any)
	if l["last_error"] != "endpoint answered 503" || l["attempts"] != json.Number("2") {
		t.Errorf("dead letter %v: want 2 attempts, last_error \"endpoint answered 503\"", l)
	}
	ep.failAll.Store(false)
	sec, err := s.Client.Logical().Write("sys/events/webhooks/ops/replay", nil)
	if err != nil || sec.Data["replayed"] != json.Number("1") {
		t.Fatalf("replay = %+v, %v", sec, err)
	}
	waitFor(t, "the replayed delivery", func() bool { return len(ep.names()) == 1 })
	sec, err = s.Client.Logical().Read("sys/events/webhooks/ops/dead-letters")
	if err != nil || len(sec.Data["dead_letters"].([]any)) != 0 {
		t.Errorf("dead letters after replay = %+v, %v; want none", sec, err)
	}
}

// TestWebhookSurvivesRestart: an event still in the outbox when the
// server stops is delivered by the next server on the same storage.
func TestWebhookSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "coffer.db")
	first, err := testserver.New(testserver.Options{BoltPath: path})
	if err != nil {
		t.Fatal(err)
	}
	ep := newEndpoint(t)
	ep.failAll.Store(true)
	configure(t, first.Client, "ops", ep, map[string]any{"max_attempts": 50})
	putPolicy(t, first.Client, "pending-1")
	sec, err := first.Client.Logical().Read("sys/events/webhooks/ops")
	if err != nil || sec.Data["pending"] != json.Number("1") {
		t.Fatalf("before restart: %+v, %v; want one pending event", sec, err)
	}
	root, keys := first.RootToken, first.UnsealKeys
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	ep.failAll.Store(false)
	second := testserver.StartWith(t, testserver.Options{BoltPath: path, RootToken: root, UnsealKeys: keys})
	waitFor(t, "delivery after restart", func() bool { return len(ep.names()) == 1 })
	if got := ep.names(); got[0] != "pending-1" {
		t.Errorf("delivered %q, want [pending-1]", got)
	}
	_ = second
}

// TestWebhookBadConfig: what cannot be a webhook is a 400 that changes
// nothing.
func TestWebhookBadConfig(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tests := []struct {
		name string
		body map[string]any
		want string
	}{
		{"http", map[string]any{"url": "http://example.com/", "hmac_key": key}, "https"},
		{"no key", map[string]any{"url": "https://example.com/"}, "hmac_key"},
		{"short key", map[string]any{"url": "https://example.com/", "hmac_key": "short"}, "hmac_key"},
		{"bad type", map[string]any{"url": "https://example.com/", "hmac_key": key, "event_types": "kv\x01"}, "control"},
		{"bad ca", map[string]any{"url": "https://example.com/", "hmac_key": key, "ca_pem": "nope"}, "ca_pem"},
		{"timeout", map[string]any{"url": "https://example.com/", "hmac_key": key, "timeout": "2h"}, "timeout"},
		{"credentials in url", map[string]any{"url": "https://user:s3cret@example.com/", "hmac_key": key}, "must not hold credentials"},
		{"user in url", map[string]any{"url": "https://user@example.com/", "hmac_key": key}, "must not hold credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Client.Logical().Write("sys/events/webhooks/bad", tt.body)
			var re *api.ResponseError
			if err == nil || !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("write %v = %v, want a 400 mentioning %q", tt.body, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the refusal repeats the URL's password: %v", err)
			}
		})
	}
	if sec, err := s.Client.Logical().Read("sys/events/webhooks/bad"); err != nil || sec != nil {
		t.Errorf("after bad writes: read = %+v, %v; want nothing", sec, err)
	}
}

// selfSigned returns a self-signed client certificate and its key, in PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coffer-webhook"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), cert
}

// TestWebhookMutualTLS: an endpoint that requires a client certificate
// gets the events from a webhook configured with one, and the key is never
// read back.
func TestWebhookMutualTLS(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	certPEM, keyPEM, cert := selfSigned(t)
	ep := &endpoint{}
	var got atomic.Int32
	ep.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ep.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	ep.srv.StartTLS()
	t.Cleanup(ep.srv.Close)

	configure(t, s.Client, "mtls", ep, map[string]any{"client_cert_pem": certPEM, "client_key_pem": keyPEM})
	putPolicy(t, s.Client, "p1")
	waitFor(t, "a delivery over mutual TLS", func() bool { return got.Load() == 1 })
	sec, err := s.Client.Logical().Read("sys/events/webhooks/mtls")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(sec.Data)
	if strings.Contains(string(raw), "PRIVATE KEY") || sec.Data["client_key_set"] != true {
		t.Errorf("webhook read = %s: want client_key_set and never the key", raw)
	}
	// Without the client certificate the endpoint refuses the handshake:
	// the event becomes a dead letter that says so.
	configure(t, s.Client, "plain", ep, map[string]any{"max_attempts": 1})
	putPolicy(t, s.Client, "p2")
	var reason string
	waitFor(t, "a dead letter without a client certificate", func() bool {
		st, err := s.Client.Logical().Read("sys/events/webhooks/plain/dead-letters")
		if err != nil || st == nil {
			return false
		}
		ls, _ := st.Data["dead_letters"].([]any)
		if len(ls) != 1 {
			return false
		}
		reason, _ = ls[0].(map[string]any)["last_error"].(string)
		return true
	})
	if !strings.Contains(reason, "request failed") || strings.Contains(reason, ep.srv.URL) {
		t.Errorf("dead letter reason %q: want a request failure that does not name the URL", reason)
	}
}

// TestWebhookDeletedDuringDelivery: a webhook deleted (and made again
// under its name) while one of its deliveries is in flight leaves nothing
// behind: the failed delivery's retry is not written into the new
// webhook's outbox, so the new endpoint never gets the old event.
func TestWebhookDeletedDuringDelivery(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	old := &endpoint{}
	old.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		<-release
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(old.srv.Close)
	var released sync.Once
	t.Cleanup(func() { released.Do(func() { close(release) }) })

	configure(t, s.Client, "ops", old, nil)
	putPolicy(t, s.Client, "before")
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the first delivery never came")
	}
	if _, err := s.Client.Logical().Delete("sys/events/webhooks/ops"); err != nil {
		t.Fatal(err)
	}
	ep := newEndpoint(t)
	configure(t, s.Client, "ops", ep, nil)
	released.Do(func() { close(release) })
	putPolicy(t, s.Client, "after")
	waitFor(t, "the new webhook's delivery", func() bool { return len(ep.names()) >= 1 })
	if got := ep.names(); len(got) != 1 || got[0] != "after" {
		t.Errorf("new webhook got %q, want only [after]", got)
	}
	sec, err := s.Client.Logical().Read("sys/events/webhooks/ops")
	if err != nil || sec == nil || sec.Data["pending"] != json.Number("0") || sec.Data["dead_letters"] != json.Number("0") {
		t.Errorf("new webhook = %+v, %v; want nothing pending and no dead letters", sec, err)
	}
}

// TestWebhookNeedsSudo: a webhook receives every event whatever the ACL,
// so sys/events/webhooks/* needs sudo besides the operation's capability.
func TestWebhookNeedsSudo(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ep := newEndpoint(t)
	tokenWith := func(name, caps string) *api.Client {
		t.Helper()
		rules := `path "sys/events/webhooks" { capabilities = [` + caps + `] }
path "sys/events/webhooks/*" { capabilities = [` + caps + `] }`
		if err := s.Client.Sys().PutPolicy(name, rules); err != nil {
			t.Fatal(err)
		}
		sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Client.Clone()
		if err != nil {
			t.Fatal(err)
		}
		c.SetToken(sec.Auth.ClientToken)
		return c
	}
	plain := tokenWith("hooks", `"create", "read", "update", "delete", "list"`)
	sudo := tokenWith("hooks-sudo", `"create", "read", "update", "delete", "list", "sudo"`)
	body := map[string]any{"url": ep.srv.URL + "/hook", "hmac_key": key, "ca_pem": ep.caPEM()}
	tests := []struct {
		method, path string
		body         map[string]any
	}{
		{"PUT", "sys/events/webhooks/ops", body},
		{"GET", "sys/events/webhooks/ops", nil},
		{"LIST", "sys/events/webhooks", nil},
		{"GET", "sys/events/webhooks/ops/dead-letters", nil},
		{"PUT", "sys/events/webhooks/ops/replay", nil},
		{"DELETE", "sys/events/webhooks/ops", nil},
	}
	call := func(c *api.Client, method, path string, body map[string]any) error {
		var err error
		switch method {
		case "PUT":
			_, err = c.Logical().Write(path, body)
		case "GET":
			_, err = c.Logical().Read(path)
		case "LIST":
			_, err = c.Logical().List(path)
		case "DELETE":
			_, err = c.Logical().Delete(path)
		}
		return err
	}
	for _, tt := range tests {
		var re *api.ResponseError
		if err := call(plain, tt.method, tt.path, tt.body); !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s without sudo = %v, want 403", tt.method, tt.path, err)
		}
		if err := call(sudo, tt.method, tt.path, tt.body); err != nil {
			t.Errorf("%s %s with sudo = %v", tt.method, tt.path, err)
		}
	}
}
