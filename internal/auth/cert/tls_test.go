package cert

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// TestLoginOverTLS proves that login works with the connection state of a
// real TLS handshake, as httpapi hands it over.
func TestLoginOverTLS(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := newPKI(t, now)
	root := p.ca("TLS Root", nil)
	inter := p.ca("TLS Intermediate", root)
	leaf, leafKey := p.client(certSpec{cn: "svc-web", uris: []string{"spiffe://cluster/ns/prod/sa/web"}}, inter)
	other := p.ca("Other Root", nil)
	stranger, strangerKey := p.client(certSpec{cn: "svc-web"}, other)

	env := logicaltest.NewEnv(nil)
	env.Clock = logicaltest.NewClock(now)
	b := logicaltest.New(t, Factory, env)
	ctx := t.Context()
	for _, req := range []*logical.Request{
		{Operation: opCreate, Path: "certs/web", Body: mustJSON(t, map[string]any{
			"certificate": pemOf(root.cert), "allowed_uri_sans": "spiffe://cluster/ns/*/sa/*", "token_policies": "web",
		})},
	} {
		if _, err := b.HandleRequest(ctx, req); err != nil {
			t.Fatal(err)
		}
	}

	// handler logs in with the request's connection, as httpapi would,
	// and answers the cert_name and policies, or the error's kind.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := b.HandleRequest(r.Context(), &logical.Request{
			Operation: logical.UpdateOperation, Path: "login", Body: body,
			Connection: &logical.Connection{RemoteAddr: r.RemoteAddr, TLS: r.TLS},
		})
		switch {
		case errors.Is(err, logical.ErrInvalidRequest), errors.Is(err, logical.ErrInvalidCredentials):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case errors.Is(err, logical.ErrPermissionDenied):
			http.Error(w, err.Error(), http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"cert_name": resp.Auth.Metadata["cert_name"], "policies": resp.Auth.Policies})
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)

	tests := []struct {
		name       string
		clientAuth tls.ClientAuthType
		cert       *tls.Certificate
		wantStatus int // 0 when the handshake itself must fail
	}{
		{"verified chain", tls.VerifyClientCertIfGiven, &tls.Certificate{Certificate: [][]byte{leaf.Raw, inter.cert.Raw}, PrivateKey: leafKey}, http.StatusOK},
		{"no client certificate", tls.VerifyClientCertIfGiven, nil, http.StatusBadRequest},
		{"listener refuses a stranger", tls.VerifyClientCertIfGiven, &tls.Certificate{Certificate: [][]byte{stranger.Raw, other.cert.Raw}, PrivateKey: strangerKey}, 0},
		{"listener only requests: backend refuses a stranger", tls.RequestClientCert, &tls.Certificate{Certificate: [][]byte{stranger.Raw, other.cert.Raw}, PrivateKey: strangerKey}, http.StatusBadRequest},
		{"listener only requests: backend accepts the chain", tls.RequestClientCert, &tls.Certificate{Certificate: [][]byte{leaf.Raw, inter.cert.Raw}, PrivateKey: leafKey}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewUnstartedServer(handler)
			srv.TLS = &tls.Config{ClientAuth: tt.clientAuth, ClientCAs: pool, MinVersion: tls.VersionTLS12}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			tr := srv.Client().Transport.(*http.Transport).Clone()
			if tt.cert != nil {
				// Send the certificate even when its issuer is not among
				// the CAs the server asks for, as a hostile client would.
				cert := tt.cert
				tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
			}
			client := &http.Client{Transport: tr}
			t.Cleanup(client.CloseIdleConnections)
			resp, err := client.Post(srv.URL+"/v1/auth/cert/login", "application/json", nil)
			if tt.wantStatus == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d, want a failed handshake", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK {
				var got struct {
					CertName string   `json:"cert_name"`
					Policies []string `json:"policies"`
				}
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				if got.CertName != "web" || len(got.Policies) != 1 || got.Policies[0] != "web" {
					t.Errorf("login = %+v, want cert_name web with policy web", got)
				}
			}
		})
	}
}

func mustJSON(tb testing.TB, v any) json.RawMessage {
	tb.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}
