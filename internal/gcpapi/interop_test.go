package gcpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/api/iterator"

	"github.com/coffer-secrets/coffer/internal/awsapi"
	"github.com/coffer-secrets/coffer/internal/gcpapi"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// rootAuth is an AWS Authenticator acting with a fixed token: the AWS
// side of interop only (SigV4 is tested in awsapi and e2e).
type rootAuth string

func (a rootAuth) Authenticate(context.Context, *http.Request, []byte) (string, error) {
	return string(a), nil
}

// TestInterop writes through each API and reads through the others, on
// one mount: project "secret" with mount_prefix "" is the KV mount
// secret/ the Vault and AWS APIs use.
func TestInterop(t *testing.T) {
	t.Parallel()
	ts := testserver.Start(t)
	empty := ""
	e := serveOn(t, ts, gcpapi.Options{MountPrefix: &empty})
	g := e.client(t, ts.RootToken)
	ctx := t.Context()
	h := httptest.NewServer(awsapi.New(awsapi.Options{Core: ts.Core(), Auth: rootAuth(ts.RootToken), Mount: "secret/"}))
	t.Cleanup(h.Close)
	a := sm.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""), RetryMaxAttempts: 1}, func(o *sm.Options) {
		o.BaseEndpoint = aws.String(h.URL)
	})
	kv := ts.Client.KVv2("secret")
	const gp = "projects/secret"

	// Google → Vault and AWS.
	if _, err := g.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: gp, SecretId: "from-google", Secret: &secretmanagerpb.Secret{Replication: automatic()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: gp + "/secrets/from-google", Payload: &secretmanagerpb.SecretPayload{Data: []byte("g-value")}}); err != nil {
		t.Fatal(err)
	}
	v, err := kv.Get(ctx, "from-google")
	if err != nil || v.Data["SecretString"] != "g-value" {
		t.Fatalf("Vault read of a Google write = %v, %v", v, err)
	}
	av, err := a.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("from-google")})
	if err != nil || aws.ToString(av.SecretString) != "g-value" {
		t.Fatalf("AWS read of a Google write = %v, %v", av, err)
	}

	// Vault → Google: any KV data reads as its JSON object.
	if _, err := kv.Put(ctx, "from-vault", map[string]any{"user": "app", "password": "p"}); err != nil {
		t.Fatal(err)
	}
	got, err := g.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: gp + "/secrets/from-vault/versions/latest"})
	if want := `{"password":"p","user":"app"}`; err != nil || string(got.GetPayload().GetData()) != want {
		t.Fatalf("Google read of a Vault write = %v, %v; want %s", got, err, want)
	}

	// AWS → Google, text and binary.
	if _, err := a.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("from-aws"), SecretString: aws.String("a-value")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("from-aws-bin"), SecretBinary: []byte{0, 1, 0xff}}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"from-aws": "a-value", "from-aws-bin": "\x00\x01\xff"} {
		got, err := g.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: gp + "/secrets/" + id + "/versions/1"})
		if err != nil || string(got.GetPayload().GetData()) != want {
			t.Fatalf("Google read of AWS %s = %v, %v", id, got, err)
		}
	}
	// A binary Google payload reads as SecretBinary through AWS.
	if _, err := g.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: gp + "/secrets/from-google", Payload: &secretmanagerpb.SecretPayload{Data: []byte{0xfe, 0xff}}}); err != nil {
		t.Fatal(err)
	}
	av, err = a.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("from-google")})
	if err != nil || string(av.SecretBinary) != "\xfe\xff" {
		t.Fatalf("AWS read of a binary Google write = %v, %v", av, err)
	}
}

// TestListSecrets pages through a project and filters it.
func TestListSecrets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(t, e.ts.RootToken)
	ctx := t.Context()
	for i := range 7 {
		labels := map[string]string{"env": "dev"}
		if i%2 == 0 {
			labels["env"] = "prod"
		}
		if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: fmt.Sprintf("s%d", i), Secret: &secretmanagerpb.Secret{Replication: automatic(), Labels: labels}}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(filter string, size int32) []string {
		t.Helper()
		var out []string
		it := c.ListSecrets(ctx, &secretmanagerpb.ListSecretsRequest{Parent: parent, Filter: filter, PageSize: size})
		for {
			s, err := it.Next()
			if err == iterator.Done {
				return out
			}
			if err != nil {
				t.Fatalf("ListSecrets(%q): %v", filter, err)
			}
			out = append(out, s.GetName()[len(parent+"/secrets/"):])
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		filter string
		size   int32
		want   []string
	}{
		{"", 2, []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6"}},
		{"labels.env=prod", 1, []string{"s0", "s2", "s4", "s6"}},
		{"labels.env:* AND name:s1", 0, []string{"s1"}},
		{`create_time<"` + future + `" labels.env=dev`, 2, []string{"s1", "s3", "s5"}},
		{"create_time>" + future, 0, nil},
	}
	for _, tt := range tests {
		if got := list(tt.filter, tt.size); !slices.Equal(got, tt.want) {
			t.Errorf("ListSecrets(%q, page %d) = %v, want %v", tt.filter, tt.size, got, tt.want)
		}
	}
}
