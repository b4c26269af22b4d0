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
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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
// listener with the official client: reads the standby serves itself;
// changes it forwards to the active node over the cluster listener, where
// they are made (and read back on the active node); a bad token forwarded
// is refused as the active node refuses it.
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
	auto := &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}
	if _, err := active.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "app", Secret: &secretmanagerpb.Secret{Replication: auto}}); err != nil {
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

	// Changes through the standby, each checked on the active node.
	steps := []struct {
		name  string
		call  func() error
		check func() error
	}{
		{"CreateSecret", func() error {
			_, err := standby.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "other", Secret: &secretmanagerpb.Secret{Replication: auto, Labels: map[string]string{"team": "a"}}})
			return err
		}, func() error {
			s, err := active.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: parent + "/secrets/other"})
			if err == nil && s.GetLabels()["team"] != "a" {
				err = fmt.Errorf("labels %v", s.GetLabels())
			}
			return err
		}},
		{"AddSecretVersion", func() error {
			_, err := standby.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/app", Payload: &secretmanagerpb.SecretPayload{Data: []byte("v2")}})
			return err
		}, func() error {
			got, err := active.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/app/versions/latest"})
			if err == nil && (string(got.GetPayload().GetData()) != "v2" || !strings.HasSuffix(got.GetName(), "/versions/2")) {
				err = fmt.Errorf("latest is %s %q", got.GetName(), got.GetPayload().GetData())
			}
			return err
		}},
		{"UpdateSecret", func() error {
			_, err := standby.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: parent + "/secrets/app", Labels: map[string]string{"env": "prod"}}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}}})
			return err
		}, func() error {
			s, err := active.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: parent + "/secrets/app"})
			if err == nil && s.GetLabels()["env"] != "prod" {
				err = fmt.Errorf("labels %v", s.GetLabels())
			}
			return err
		}},
		{"DisableSecretVersion", func() error {
			_, err := standby.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: parent + "/secrets/app/versions/1"})
			return err
		}, versionState(ctx, active, parent+"/secrets/app/versions/1", secretmanagerpb.SecretVersion_DISABLED)},
		{"EnableSecretVersion", func() error {
			_, err := standby.EnableSecretVersion(ctx, &secretmanagerpb.EnableSecretVersionRequest{Name: parent + "/secrets/app/versions/1"})
			return err
		}, versionState(ctx, active, parent+"/secrets/app/versions/1", secretmanagerpb.SecretVersion_ENABLED)},
		{"DestroySecretVersion", func() error {
			_, err := standby.DestroySecretVersion(ctx, &secretmanagerpb.DestroySecretVersionRequest{Name: parent + "/secrets/app/versions/1"})
			return err
		}, versionState(ctx, active, parent+"/secrets/app/versions/1", secretmanagerpb.SecretVersion_DESTROYED)},
		{"DeleteSecret", func() error {
			return standby.DeleteSecret(ctx, &secretmanagerpb.DeleteSecretRequest{Name: parent + "/secrets/other"})
		}, func() error {
			if _, err := active.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: parent + "/secrets/other"}); status.Code(err) != codes.NotFound {
				return fmt.Errorf("GetSecret after delete = %v, want NOT_FOUND", err)
			}
			return nil
		}},
	}
	for _, st := range steps {
		if err := st.call(); err != nil {
			t.Fatalf("%s through the standby: %v", st.name, err)
		}
		if err := st.check(); err != nil {
			t.Fatalf("%s through the standby, on the active node: %v", st.name, err)
		}
	}

	// Refusals answer the same code through the standby as on the
	// active node.
	limited, err := c.client(t, 0, root).Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		token string
	}{
		{"unknown token", "hvs.not-a-token"},
		{"token without policy", limited.Auth.ClientToken},
	}
	for _, b := range bad {
		for i, node := range []int{0, 1} {
			cl := gcpClient(t, c.nodes[node].GCPAddr(), b.token)
			_, err := cl.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/app", Payload: &secretmanagerpb.SecretPayload{Data: []byte("bad")}})
			if code := status.Code(err); code != codes.PermissionDenied {
				t.Errorf("%s, node %d: AddSecretVersion = %v, want PERMISSION_DENIED", b.name, i, err)
			}
		}
	}
	got, err := active.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/app/versions/latest"})
	if err != nil || string(got.GetPayload().GetData()) != "v2" {
		t.Fatalf("after the refused calls the active node reads %v, %v; want v2", got, err)
	}
}

// versionState checks a version's state on the active node.
func versionState(ctx context.Context, c *secretmanager.Client, name string, want secretmanagerpb.SecretVersion_State) func() error {
	return func() error {
		v, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: name})
		if err == nil && v.GetState() != want {
			err = fmt.Errorf("state %v, want %v", v.GetState(), want)
		}
		return err
	}
}
