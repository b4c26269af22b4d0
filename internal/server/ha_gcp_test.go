package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/hashicorp/vault/api"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// gcpBearer sends a Coffer token as per-RPC credentials.
type gcpBearer string

func (b gcpBearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (gcpBearer) RequireTransportSecurity() bool { return false }

// gcpClient is the official Google client for a node's gRPC listener.
func gcpClient(t *testing.T, addr, token string) *secretmanager.Client {
	t.Helper()
	c, err := secretmanager.NewClient(t.Context(), option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(gcpBearer(token))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestGCPOnStandby drives a standby's Google Cloud Secret Manager
// listener with the official client: reads the standby serves itself
// (KV reads) answer; a change, which only the active node makes, answers
// UNAVAILABLE with a message naming the active node's role, and changes
// nothing; the same call on the active node works.
func TestGCPOnStandby(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(i int, o *testserver.Options) {
		o.ExtraConfig = "gcp_secret_manager {\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}\n"
		o.ClusterAddr = "127.0.0.1:0"
	})
	ctx := t.Context()
	root := c.nodes[0].RootToken
	if err := c.client(t, 0, root).Sys().Mount("gcp-proj", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	active := gcpClient(t, c.nodes[0].GCPAddr(), root)
	standby := gcpClient(t, c.nodes[1].GCPAddr(), root)
	const parent = "projects/proj"
	if _, err := active.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "app", Secret: &secretmanagerpb.Secret{Replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}}}); err != nil {
		t.Fatalf("CreateSecret on the active node: %v", err)
	}
	if _, err := active.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/app", Payload: &secretmanagerpb.SecretPayload{Data: []byte("v1")}}); err != nil {
		t.Fatalf("AddSecretVersion on the active node: %v", err)
	}
	eventually(t, 10*time.Second, "the standby reads the secret", func() error {
		got, err := standby.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/app/versions/latest"})
		if err != nil {
			return err
		}
		if string(got.GetPayload().GetData()) != "v1" {
			return fmt.Errorf("payload %q", got.GetPayload().GetData())
		}
		return nil
	})
	_, err := standby.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/app", Payload: &secretmanagerpb.SecretPayload{Data: []byte("v2")}})
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "active node") {
		t.Fatalf("AddSecretVersion on the standby = %v, want UNAVAILABLE naming the active node", err)
	}
	_, err = standby.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "other", Secret: &secretmanagerpb.Secret{Replication: &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}}})
	if code := status.Code(err); code != codes.Unavailable {
		t.Fatalf("CreateSecret on the standby = %v, want UNAVAILABLE", err)
	}
	got, err := active.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/app/versions/latest"})
	if err != nil || string(got.GetPayload().GetData()) != "v1" || !strings.HasSuffix(got.GetName(), "/versions/1") {
		t.Fatalf("after the refused calls the active node reads %v, %v; want version 1 unchanged", got, err)
	}
	if _, err := active.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: parent + "/secrets/other"}); status.Code(err) != codes.NotFound {
		t.Fatalf("secret created despite UNAVAILABLE: %v", err)
	}
}
