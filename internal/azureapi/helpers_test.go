package azureapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// env is a real Coffer server serving the Azure API on its listener
// (the azure_key_vault block), behind a TLS front that keeps the
// client's Host: the SDK speaks only https.
type env struct {
	ts    *testserver.Server
	front *httptest.Server
	url   string // the vault URL, https://127.0.0.1:PORT
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ts := testserver.StartWith(t, testserver.Options{ExtraConfig: "azure_key_vault {\n  mount = \"secret/\"\n}\n", AuditAnyDir: true})
	target, err := url.Parse(ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
	front := httptest.NewTLSServer(proxy)
	t.Cleanup(front.Close)
	return &env{ts: ts, front: front, url: front.URL}
}

// tokenCredential answers a Coffer token whatever scope is asked.
type tokenCredential struct{ token string }

func (c tokenCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// client is the official SDK's client for e acting with token, trusting
// the front's certificate, without retries. The challenge resource is
// verified: the server answers one that matches the vault host.
func (e *env) client(t testing.TB, token string) *azsecrets.Client {
	t.Helper()
	opts := &azsecrets.ClientOptions{}
	opts.Transport = e.front.Client()
	opts.Retry.MaxRetries = -1
	c, err := azsecrets.NewClient(e.url, tokenCredential{token}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// respErr is err's Azure error code and status ("", 0 if it is none).
func respErr(err error) (string, int) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode, re.StatusCode
	}
	return "", 0
}

// do sends a raw request to e's front.
func (e *env) do(t testing.TB, method, path, token string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+path, stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
