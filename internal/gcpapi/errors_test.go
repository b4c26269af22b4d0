package gcpapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()
	name := parent + "/secrets/s"
	if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "s", Secret: &secretmanagerpb.Secret{Replication: automatic()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: name, Payload: &secretmanagerpb.SecretPayload{Data: []byte("v1")}}); err != nil {
		t.Fatal(err)
	}
	bad := int64(12345)
	tests := []struct {
		name string
		call func() error
		want codes.Code
		msg  string
	}{
		{"create bad parent", func() error {
			_, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: "projects/UPPER", SecretId: "x", Secret: &secretmanagerpb.Secret{Replication: automatic()}})
			return err
		}, codes.InvalidArgument, "invalid parent"},
		{"create bad id", func() error {
			_, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "a/b", Secret: &secretmanagerpb.Secret{Replication: automatic()}})
			return err
		}, codes.InvalidArgument, "secret_id"},
		{"create no replication", func() error {
			_, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "x", Secret: &secretmanagerpb.Secret{}})
			return err
		}, codes.InvalidArgument, "replication"},
		{"create bad label", func() error {
			_, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "x", Secret: &secretmanagerpb.Secret{Replication: automatic(), Labels: map[string]string{"Bad": "x"}}})
			return err
		}, codes.InvalidArgument, "label key"},
		{"create unknown project", func() error {
			_, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: "projects/other", SecretId: "x", Secret: &secretmanagerpb.Secret{Replication: automatic()}})
			return err
		}, codes.NotFound, "gcp-other/"},
		{"get missing", func() error {
			_, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: parent + "/secrets/missing"})
			return err
		}, codes.NotFound, "not found"},
		{"get bad name", func() error {
			_, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: "projects/proj/secrets/../x"})
			return err
		}, codes.InvalidArgument, "invalid secret name"},
		{"add crc mismatch", func() error {
			_, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: name, Payload: &secretmanagerpb.SecretPayload{Data: []byte("x"), DataCrc32C: &bad}})
			return err
		}, codes.InvalidArgument, "Checksum mismatch"},
		{"add too large", func() error {
			_, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: name, Payload: &secretmanagerpb.SecretPayload{Data: make([]byte, 64<<10+1)}})
			return err
		}, codes.InvalidArgument, "larger than"},
		{"add missing secret", func() error {
			_, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/missing", Payload: &secretmanagerpb.SecretPayload{Data: []byte("x")}})
			return err
		}, codes.NotFound, "not found"},
		{"access missing version", func() error {
			_, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name + "/versions/9"})
			return err
		}, codes.NotFound, "not found"},
		{"access bad version", func() error {
			_, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name + "/versions/01"})
			return err
		}, codes.InvalidArgument, "invalid version"},
		{"access missing secret", func() error {
			_, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/missing/versions/latest"})
			return err
		}, codes.NotFound, "not found"},
		{"disable latest", func() error {
			_, err := c.DisableSecretVersion(ctx, &secretmanagerpb.DisableSecretVersionRequest{Name: name + "/versions/latest"})
			return err
		}, codes.InvalidArgument, "version number"},
		{"update no mask", func() error {
			_, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: name}})
			return err
		}, codes.InvalidArgument, "update_mask"},
		{"update replication", func() error {
			_, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: name}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"replication"}}})
			return err
		}, codes.InvalidArgument, "replication"},
		{"update stale etag", func() error {
			_, err := c.UpdateSecret(ctx, &secretmanagerpb.UpdateSecretRequest{Secret: &secretmanagerpb.Secret{Name: name, Etag: `"0"`}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}}})
			return err
		}, codes.FailedPrecondition, "etag"},
		{"list bad filter", func() error {
			_, err := c.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{Parent: parent, Filter: "name:a OR name:b"}).Next()
			return err
		}, codes.InvalidArgument, "OR"},
		{"iam", func() error {
			_, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: name})
			return err
		}, codes.Unimplemented, "ACL policies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st, _ := status.FromError(err)
			if st.Code() != tt.want || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("got %v, want %v with %q", err, tt.want, tt.msg)
			}
		})
	}
	// Nothing changed: one version, no secret x.
	if _, err := c.GetSecret(ctx, &secretmanagerpb.GetSecretRequest{Name: parent + "/secrets/x"}); code(err) != codes.NotFound {
		t.Fatalf("GetSecret x after refused creates: %v", err)
	}
	if v, err := c.GetSecretVersion(ctx, &secretmanagerpb.GetSecretVersionRequest{Name: name + "/versions/latest"}); err != nil || !strings.HasSuffix(v.GetName(), "/versions/1") {
		t.Fatalf("GetSecretVersion after refused adds = %v, %v", v, err)
	}
}

// TestIdentity checks the token: none is Unauthenticated (before
// anything runs), a wrong one and one whose policy lacks the path are
// PermissionDenied, and the audit trail shows the denied call.
func TestIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.Options{AuditAnyDir: true})
	audit := filepath.Join(t.TempDir(), "audit.log")
	vc := e.ts.Client
	if err := vc.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": audit}}); err != nil {
		t.Fatal(err)
	}
	if err := vc.Sys().PutPolicy("reader", `path "gcp-proj/data/allowed" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := vc.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	root := e.client(t, e.ts.RootToken)
	for _, id := range []string{"allowed", "other"} {
		if _, err := root.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: id, Secret: &secretmanagerpb.Secret{Replication: automatic()}}); err != nil {
			t.Fatal(err)
		}
		if _, err := root.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/" + id, Payload: &secretmanagerpb.SecretPayload{Data: []byte(id)}}); err != nil {
			t.Fatal(err)
		}
	}
	reader := e.client(t, tok.Auth.ClientToken)
	got, err := reader.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/allowed/versions/latest"})
	if err != nil || string(got.GetPayload().GetData()) != "allowed" {
		t.Fatalf("reader Access allowed = %v, %v", got, err)
	}
	if _, err := reader.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/other/versions/latest"}, noRetry); code(err) != codes.PermissionDenied {
		t.Fatalf("reader Access other: %v, want PermissionDenied", err)
	}
	if _, err := reader.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/allowed", Payload: &secretmanagerpb.SecretPayload{Data: []byte("x")}}, noRetry); code(err) != codes.PermissionDenied {
		t.Fatalf("reader AddSecretVersion: %v, want PermissionDenied", err)
	}
	if _, err := e.client(t, "").AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/allowed/versions/latest"}, noRetry); code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v, want Unauthenticated", err)
	}
	if _, err := e.client(t, "not-a-token").AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/allowed/versions/latest"}, noRetry); code(err) != codes.PermissionDenied {
		t.Fatalf("bad token: %v, want PermissionDenied", err)
	}
	// Incident containment: a revoked token's calls stop.
	if err := vc.Auth().Token().RevokeTree(tok.Auth.ClientToken); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/allowed/versions/latest"}, noRetry); code(err) != codes.PermissionDenied {
		t.Fatalf("revoked token: %v, want PermissionDenied", err)
	}
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	var denied bool
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.Contains(line, `"gcp-proj/data/other"`) && strings.Contains(line, "permission denied") {
			denied = true
		}
	}
	if !denied {
		t.Fatalf("the audit trail has no denied read of gcp-proj/data/other:\n%s", b)
	}
}
