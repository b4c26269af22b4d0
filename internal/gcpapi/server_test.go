package gcpapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/googleapis/gax-go/v2"
	"github.com/hashicorp/vault/api"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/coffer-secrets/coffer/internal/tlsutil"
)

// noRetry makes the client answer the first failure.
var noRetry = gax.WithRetry(func() gax.Retryer { return nil })

// TestServerListenerTLS runs the API as the server serves it: the
// gcp_secret_manager block's own TLS listener, a client trusting the
// test CA, and the server sealed mid-way (Unavailable).
func TestServerListenerTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	paths, err := tlsutil.EnsureLocalCA(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts := testserver.StartWith(t, testserver.Options{ExtraConfig: fmt.Sprintf("gcp_secret_manager {\n address = \"127.0.0.1:0\"\n tls_cert_file = %q\n tls_key_file = %q\n}\n", paths.Cert, paths.Key)})
	if ts.GCPAddr() == "" {
		t.Fatal("GCPAddr is empty with a gcp_secret_manager block")
	}
	if err := ts.Client.Sys().Mount("gcp-"+project, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(paths.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx := t.Context()
	c, err := secretmanager.NewClient(ctx,
		option.WithEndpoint(ts.GCPAddr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(secureToken(ts.RootToken))),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "tls", Secret: &secretmanagerpb.Secret{Replication: automatic()}}); err != nil {
		t.Fatalf("CreateSecret over TLS: %v", err)
	}
	if _, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/tls", Payload: &secretmanagerpb.SecretPayload{Data: []byte("over tls")}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/tls/versions/latest"})
	if err != nil || string(got.GetPayload().GetData()) != "over tls" {
		t.Fatalf("AccessSecretVersion over TLS = %v, %v", got, err)
	}
	if err := ts.Client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	_, err = c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/tls/versions/latest"}, noRetry)
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "Coffer is sealed") {
		t.Fatalf("AccessSecretVersion sealed: %v, want Unavailable \"Coffer is sealed\"", err)
	}
}

// secureToken sends a Coffer token as per-RPC credentials that require
// TLS, as a production client's do.
type secureToken string

func (t secureToken) GetRequestMetadata(_ context.Context, _ ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (secureToken) RequireTransportSecurity() bool { return true }
