package rotation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// hook is a TLS test server that records deliveries and answers with the
// next status of a script (200 once the script is done).
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	sigs     []string
	certs    int // deliveries that came with a client certificate
}

func newHook(t *testing.T, mtls *x509.CertPool, statuses ...int) *hook {
	t.Helper()
	h := &hook{statuses: statuses}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		h.sigs = append(h.sigs, r.Header.Get(SignatureHeader))
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			h.certs++
		}
		status := http.StatusOK
		if len(h.statuses) > 0 {
			status, h.statuses = h.statuses[0], h.statuses[1:]
		}
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	h.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if mtls != nil {
		h.Server.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: mtls}
	}
	h.StartTLS()
	t.Cleanup(h.Close)
	return h
}

func (h *hook) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Certificate().Raw}))
}

func (h *hook) calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

const testHMACKey = "0123456789abcdef-hmac"

func newTestWebhook(t *testing.T, cfg RotatorConfig) *Webhook {
	t.Helper()
	cfg.Type, cfg.HMACKey = RotatorWebhook, testHMACKey
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.MinBackoff = time.Millisecond
	t.Cleanup(w.Close)
	return w
}

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	change := Change{Path: "pay/api", Version: 4, PreviousVersion: 3, Values: map[string]string{"key": "NEW-VALUE"}}
	tests := []struct {
		name       string
		statuses   []int
		sendValues bool
		attempts   int
		wantErr    bool
		wantCalls  int
	}{
		{name: "ok", wantCalls: 1},
		{name: "with values", sendValues: true, wantCalls: 1},
		{name: "fails twice then succeeds", statuses: []int{500, 503}, attempts: 3, wantCalls: 3},
		{name: "out of attempts", statuses: []int{500, 500, 500}, attempts: 2, wantErr: true, wantCalls: 2},
		{name: "429 is retried", statuses: []int{429}, wantCalls: 2},
		{name: "4xx is final", statuses: []int{403}, attempts: 3, wantErr: true, wantCalls: 1},
		{name: "redirect is not followed", statuses: []int{302}, wantErr: true, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHook(t, nil, tt.statuses...)
			w := newTestWebhook(t, RotatorConfig{URL: h.URL + "/rotate", CACert: h.caPEM(), SendValues: tt.sendValues, MaxAttempts: tt.attempts})
			err := w.Apply(t.Context(), change)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Apply = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && (!errors.Is(err, logical.ErrUpstream) || strings.Contains(err.Error(), "NEW-VALUE")) {
				t.Errorf("error %q: want an upstream error without the value", err)
			}
			if got := h.calls(); got != tt.wantCalls {
				t.Errorf("deliveries = %d, want %d", got, tt.wantCalls)
			}
			for i, body := range h.bodies {
				if h.sigs[i] != Sign([]byte(testHMACKey), body) {
					t.Errorf("delivery %d: signature %q does not verify", i, h.sigs[i])
				}
				var p Payload
				if err := json.Unmarshal(body, &p); err != nil {
					t.Fatal(err)
				}
				if p.Path != "pay/api" || p.Version != 4 || p.PreviousVersion != 3 || len(p.Keys) != 1 || p.Keys[0] != "key" {
					t.Errorf("payload = %+v", p)
				}
				if got := strings.Contains(string(body), "NEW-VALUE"); got != tt.sendValues {
					t.Errorf("payload %s: carries the value = %v, want %v", body, got, tt.sendValues)
				}
			}
		})
	}
}

func TestWebhookTLS(t *testing.T) {
	t.Parallel()
	// Without the hook's CA the system roots do not trust it.
	h := newHook(t, nil)
	w := newTestWebhook(t, RotatorConfig{URL: h.URL, MaxAttempts: 1})
	if err := w.Apply(t.Context(), Change{Path: "p", Version: 1, Values: map[string]string{"k": "v"}}); err == nil {
		t.Error("an untrusted certificate was accepted")
	}

	// mTLS: the hook requires a client certificate signed by its CA.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hook clients"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	cliKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cliTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "coffer"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	cliDER, _ := x509.CreateCertificate(rand.Reader, cliTmpl, ca, &cliKey.PublicKey, caKey)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(cliKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	m := newHook(t, pool)
	cfg := RotatorConfig{URL: m.URL, CACert: m.caPEM(), MaxAttempts: 1}
	w = newTestWebhook(t, cfg)
	if err := w.Apply(t.Context(), Change{Path: "p", Version: 1}); err == nil {
		t.Error("delivery without a client certificate succeeded against an mTLS hook")
	}
	cfg.ClientCert = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cliDER}))
	cfg.ClientKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	w = newTestWebhook(t, cfg)
	if err := w.Apply(t.Context(), Change{Path: "p", Version: 1}); err != nil {
		t.Fatalf("delivery with a client certificate: %v", err)
	}
	if m.certs != 1 {
		t.Errorf("deliveries with a client certificate = %d, want 1", m.certs)
	}
}

func TestWebhookTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) })
	w := newTestWebhook(t, RotatorConfig{URL: s.URL, CACert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})),
		Timeout: 100 * time.Millisecond, MaxAttempts: 2})
	if err := w.Apply(t.Context(), Change{Path: "p", Version: 1}); !errors.Is(err, logical.ErrUpstream) {
		t.Fatalf("Apply against a hook that never answers = %v, want an upstream error", err)
	}
}

// TestWebhookErrorsAreGeneric: a failed delivery says what kind of failure
// it was, never the address, port or TLS detail (whoever writes a policy
// would probe internal hosts with it); the detail goes to the log.
func TestWebhookErrorsAreGeneric(t *testing.T) {
	t.Parallel()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	plain.Config.ErrorLog = log.New(io.Discard, "", 0)
	t.Cleanup(plain.Close)
	untrusted := newHook(t, nil)
	failing := newHook(t, nil, 500)
	release := make(chan struct{})
	slow := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	slowCA := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: slow.Certificate().Raw}))

	tests := []struct {
		name    string
		cfg     RotatorConfig
		want    string
		logHas  string
		private []string // what the error must not show
	}{
		{name: "closed port", cfg: RotatorConfig{URL: "https://" + closedAddr}, want: "could not connect", logHas: "refused",
			private: []string{"127.0.0.1", closedAddr[strings.LastIndex(closedAddr, ":")+1:], "refused", "dial"}},
		{name: "not TLS", cfg: RotatorConfig{URL: "https://" + plain.Listener.Addr().String()}, want: "TLS handshake failed", logHas: "HTTPS",
			private: []string{"127.0.0.1", "HTTP response", "record"}},
		{name: "untrusted certificate", cfg: RotatorConfig{URL: untrusted.URL}, want: "TLS handshake failed", logHas: "certificate",
			private: []string{"127.0.0.1", "x509", "certificate", "authority"}},
		{name: "server error", cfg: RotatorConfig{URL: failing.URL, CACert: failing.caPEM()}, want: "HTTP 500", private: []string{"127.0.0.1"}},
		{name: "timeout", cfg: RotatorConfig{URL: slow.URL, CACert: slowCA, Timeout: 100 * time.Millisecond}, want: "timed out", logHas: "Timeout",
			private: []string{"127.0.0.1", "Client.Timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs strings.Builder
			var mu sync.Mutex
			tt.cfg.MaxAttempts = 1
			w := newTestWebhook(t, tt.cfg)
			w.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
			err := w.Apply(t.Context(), Change{Path: "p", Version: 1, Values: map[string]string{"k": "v"}})
			if !errors.Is(err, logical.ErrUpstream) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply = %v, want an upstream error saying %q", err, tt.want)
			}
			for _, s := range tt.private {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows %q", err, s)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(logs.String(), tt.logHas) {
				t.Errorf("log %q does not hold the detail %q", logs.String(), tt.logHas)
			}
		})
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
