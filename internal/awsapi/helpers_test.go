package awsapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/coffer-secrets/coffer/internal/awsapi"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// tokenAuth is an Authenticator that verifies nothing and acts with a
// fixed token (a real one, made on the real server): the protocol and
// operations are tested here; SigV4 end to end in internal/e2e.
type tokenAuth struct{ token string }

func (a tokenAuth) Authenticate(context.Context, *http.Request, []byte) (string, error) {
	return a.token, nil
}

// env is a real Coffer server and the AWS API served over its core.
type env struct {
	ts  *testserver.Server
	url string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ts := testserver.Start(t)
	return newEnvOn(t, ts, ts.RootToken)
}

func newEnvOn(t testing.TB, ts *testserver.Server, token string) *env {
	t.Helper()
	h := awsapi.New(awsapi.Options{Core: ts.Core(), Auth: tokenAuth{token}, Mount: "secret/"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{ts: ts, url: srv.URL}
}

// client is the official SDK's client pointed at e.
func (e *env) client() *secretsmanager.Client {
	return sdkClient(e.url, "AKIDEXAMPLE", "secret")
}

func sdkClient(url, key, secret string) *secretsmanager.Client {
	cfg := aws.Config{
		Region:           "eu-west-3",
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts: 1,
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String(url)
	})
}
