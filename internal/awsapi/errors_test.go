package awsapi_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TestOperationErrors checks AWS's error code for each kind of bad call,
// and that none changed the secret.
func TestOperationErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	tok := "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(tok)}); err != nil {
		t.Fatal(err)
	}
	// A retry of the same create answers as the first.
	if out, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(tok)}); err != nil || aws.ToString(out.VersionId) != tok {
		t.Fatalf("CreateSecret retry = %+v, %v", out, err)
	}
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("doomed"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("doomed")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"create existing", func() error {
			_, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("app"), SecretString: aws.String("other")})
			return err
		}, "ResourceExistsException"},
		{"create over a deleted secret", func() error {
			_, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("doomed"), SecretString: aws.String("x")})
			return err
		}, "InvalidRequestException"},
		{"bad name", func() error {
			_, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("a//b"), SecretString: aws.String("x")})
			return err
		}, "InvalidParameterException"},
		{"both values", func() error {
			_, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("x"), SecretBinary: []byte{1}})
			return err
		}, "InvalidParameterException"},
		{"short token", func() error {
			_, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("app"), SecretString: aws.String("x"), ClientRequestToken: aws.String("short")})
			return err
		}, "InvalidParameterException"},
		{"missing secret", func() error {
			_, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("nope")})
			return err
		}, "ResourceNotFoundException"},
		{"ARN of another secret", func() error {
			_, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:app-ZZZZZZ")})
			return err
		}, "ResourceNotFoundException"},
		{"unknown stage", func() error {
			_, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app"), VersionStage: aws.String("nope")})
			return err
		}, "ResourceNotFoundException"},
		{"remove AWSCURRENT", func() error {
			_, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app"), VersionStage: aws.String("AWSCURRENT"), RemoveFromVersionId: aws.String(tok)})
			return err
		}, "InvalidParameterException"},
		{"bad recovery window", func() error {
			_, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("app"), RecoveryWindowInDays: aws.Int64(31)})
			return err
		}, "InvalidParameterException"},
		{"force with window", func() error {
			_, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("app"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
			return err
		}, "InvalidParameterException"},
		{"put on a deleted secret", func() error {
			_, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("doomed"), SecretString: aws.String("x")})
			return err
		}, "InvalidRequestException"},
		{"bad NextToken", func() error {
			_, err := c.ListSecrets(ctx, &sm.ListSecretsInput{NextToken: aws.String("!!")})
			return err
		}, "InvalidNextTokenException"},
		{"bad filter", func() error {
			_, err := c.ListSecrets(ctx, &sm.ListSecretsInput{Filters: []types.Filter{{Key: "colour", Values: []string{"x"}}}})
			return err
		}, "InvalidParameterException"},
		{"bad MaxResults", func() error {
			_, err := c.ListSecrets(ctx, &sm.ListSecretsInput{MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException"},
		{"reserved tag", func() error {
			_, err := c.TagResource(ctx, &sm.TagResourceInput{SecretId: aws.String("app"), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
			return err
		}, "InvalidParameterException"},
		{"bad schedule", func() error {
			_, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("app"), RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("every tuesday")}})
			return err
		}, "InvalidParameterException"},
		{"password too short", func() error {
			_, err := c.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{PasswordLength: aws.Int64(3)})
			return err
		}, "InvalidParameterException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); apiCode(err) != tt.want {
				t.Errorf("error = %v, want %s", err, tt.want)
			}
		})
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app")})
	if err != nil || aws.ToString(got.SecretString) != "v1" || aws.ToString(got.VersionId) != tok {
		t.Fatalf("after the refused calls = %+v, %v", got, err)
	}
	meta, err := e.ts.Client.KVv2("secret").GetMetadata(ctx, "app")
	if err != nil || meta.CurrentVersion != 1 || len(meta.CustomMetadata) != 2 {
		t.Fatalf("metadata after the refused calls = %+v, %v", meta, err)
	}
}

// TestEmptySecretAndLabels covers a secret created without a value, and
// version listing with deprecated versions.
func TestEmptySecretAndLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	cr, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("empty")})
	if err != nil || cr.VersionId != nil {
		t.Fatalf("CreateSecret without a value = %+v, %v", cr, err)
	}
	if _, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("empty")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("GetSecretValue of a secret without versions: %v", err)
	}
	// The first version becomes current even when put as pending only.
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("empty"), SecretString: aws.String("one"), VersionStages: []string{"AWSPENDING"}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("empty")})
	if err != nil || aws.ToString(got.SecretString) != "one" {
		t.Fatalf("first version = %+v, %v", got, err)
	}
	for _, v := range []string{"two", "three"} {
		if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("empty"), SecretString: aws.String(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// Version 1 still carries AWSPENDING; version 2 is AWSPREVIOUS; the
	// rest would be deprecated.
	tests := []struct {
		deprecated bool
		want       int
	}{{false, 3}, {true, 3}}
	for _, tt := range tests {
		out, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("empty"), IncludeDeprecated: aws.Bool(tt.deprecated)})
		if err != nil || len(out.Versions) != tt.want {
			t.Fatalf("ListSecretVersionIds(deprecated=%v) = %+v, %v; want %d", tt.deprecated, out, err, tt.want)
		}
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("empty"), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String("00000000-0000-0000-0000-000000000001")}); apiCode(err) != "InvalidParameterException" {
		t.Fatalf("removing a label from a version it is not on: %v", err)
	}
	vers, _ := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("empty")})
	var pendingID string
	for _, v := range vers.Versions {
		for _, s := range v.VersionStages {
			if s == "AWSPENDING" {
				pendingID = aws.ToString(v.VersionId)
			}
		}
	}
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("empty"), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(pendingID)}); err != nil {
		t.Fatalf("removing AWSPENDING: %v", err)
	}
	out, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("empty")})
	if err != nil || len(out.Versions) != 2 {
		t.Fatalf("ListSecretVersionIds after removing AWSPENDING = %+v, %v; want 2", out, err)
	}
	page, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("empty"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2)})
	if err != nil || len(page.Versions) != 2 || page.NextToken == nil {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	page, err = c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("empty"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2), NextToken: page.NextToken})
	if err != nil || len(page.Versions) != 1 || page.NextToken != nil {
		t.Fatalf("second page = %+v, %v", page, err)
	}
}
