package awsauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/awsauth"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestSDKClient signs requests with the official Secrets Manager client
// (its whole middleware stack, over a real HTTP connection) and checks
// that the verifier accepts them and answers the SDK AWS's error codes.
// The handler stands in for the AWS API: it answers the token's length
// as the secret, so the test sees that authentication succeeded.
func TestSDKClient(t *testing.T) {
	ts := testserver.Start(t)
	if err := ts.Client.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		t.Fatal(err)
	}
	created, err := ts.Client.Logical().Write("auth/awskeys/keys/sdk", map[string]any{"policies": "default"})
	if err != nil {
		t.Fatal(err)
	}
	id, secret := created.Data["access_key_id"].(string), created.Data["secret_access_key"].(string)
	auth := awsauth.New(ts.Core(), awsauth.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		tok, err := auth.Authenticate(r.Context(), r, body)
		var ae *awsauth.Error
		if errors.As(err, &ae) {
			w.WriteHeader(ae.Status)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.Code, "message": ae.Message})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Name": "x", "SecretString": strings.Repeat("t", len(tok))})
	}))
	defer srv.Close()
	client := func(id, secret string) *secretsmanager.Client {
		return secretsmanager.New(secretsmanager.Options{
			Region:           "eu-central-1",
			BaseEndpoint:     aws.String(srv.URL),
			RetryMaxAttempts: 1,
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, nil
			}),
		})
	}
	ctx := context.Background()
	for i := range 3 {
		out, err := client(id, secret).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/a b/c+d")})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if len(aws.ToString(out.SecretString)) < 20 {
			t.Fatalf("no token: %q", aws.ToString(out.SecretString))
		}
	}
	tests := []struct {
		name, id, secret, code string
	}{
		{"wrong secret", id, strings.Repeat("x", 40), awsauth.CodeInvalidSignature},
		{"unknown key", "CKIAAAAAAAAAAAAAAAAA", secret, awsauth.CodeUnrecognizedClient},
		{"not an access key of ours", "AKIAIOSFODNN7EXAMPLE", secret, awsauth.CodeUnrecognizedClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(tt.id, tt.secret).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("x")})
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tt.code {
				t.Fatalf("error %v, want %s", err, tt.code)
			}
		})
	}
}
