package gcpapi_test

import (
	"context"
	"net"
	"testing"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/coffer-secrets/coffer/internal/gcpapi"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// project is the Google project the tests use; its KV mount is
// "gcp-proj/".
const project = "proj"

// env is a real Coffer server (its core) and the Secret Manager API
// served over it on a gRPC listener of its own.
type env struct {
	ts   *testserver.Server
	addr string
}

// newEnv starts a server with the KV version 2 mount of project and the
// gRPC service on 127.0.0.1 in plain text.
func newEnv(t testing.TB, opts ...testserver.Options) *env {
	t.Helper()
	var o testserver.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ts := testserver.StartWith(t, o)
	if err := ts.Client.Sys().Mount("gcp-"+project, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	return serveOn(t, ts, gcpapi.Options{})
}

// serveOn serves the API over ts's core with opts.
func serveOn(t testing.TB, ts *testserver.Server, opts gcpapi.Options) *env {
	t.Helper()
	opts.Core = ts.Core()
	opts.Events = ts.Core()
	srv := gcpapi.NewServer(gcpapi.New(opts), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return &env{ts: ts, addr: ln.Addr().String()}
}

// tokenCreds sends a Coffer token as gRPC per-RPC credentials, as a
// Google client sends its OAuth token.
type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return false }

// client is the official Go client pointed at e, acting with token (""
// sends none).
func (e *env) client(t testing.TB, token string) *secretmanager.Client {
	t.Helper()
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(tokenCreds(token)))
	}
	opts := []option.ClientOption{option.WithEndpoint(e.addr), option.WithoutAuthentication()}
	for _, d := range dial {
		opts = append(opts, option.WithGRPCDialOption(d))
	}
	c, err := secretmanager.NewClient(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// code answers err's gRPC status code.
func code(err error) codes.Code {
	return status.Code(err)
}
