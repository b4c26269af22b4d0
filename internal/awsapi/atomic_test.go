package awsapi_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/hashicorp/vault/api"
)

// TestPendingNotCurrentForVault: a version put with AWSPENDING only is
// not what a Vault client reads either, until UpdateSecretVersionStage
// moves AWSCURRENT onto it.
func TestPendingNotCurrentForVault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	kv := e.ts.Client.KVv2("secret")
	const name = "app/pending"
	cr, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("one")})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	pend, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("two"), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		t.Fatalf("PutSecretValue AWSPENDING: %v", err)
	}
	if !slices.Equal(pend.VersionStages, []string{"AWSPENDING"}) {
		t.Errorf("pending put's stages = %v", pend.VersionStages)
	}
	vaultSees := func(want string, wantCurrent int) {
		t.Helper()
		got, err := kv.Get(ctx, name)
		if err != nil || got.Data["SecretString"] != want {
			t.Fatalf("Vault KVv2 Get = %v, %v; want %q", got, err, want)
		}
		md, err := kv.GetMetadata(ctx, name)
		if err != nil || md.CurrentVersion != wantCurrent {
			t.Fatalf("Vault metadata current_version = %+v, %v; want %d", md, err, wantCurrent)
		}
		sub, err := e.ts.Client.Logical().Read("secret/subkeys/" + name)
		if err != nil || sub == nil || fmt.Sprint(sub.Data["metadata"].(map[string]any)["version"]) != fmt.Sprint(wantCurrent) {
			t.Fatalf("subkeys = %+v, %v; want version %d", sub, err, wantCurrent)
		}
	}
	vaultSees("one", 1)
	if v2, err := kv.GetVersion(ctx, name, 2); err != nil || v2.Data["SecretString"] != "two" {
		t.Fatalf("Vault GetVersion(2) = %v, %v; want the pending value", v2, err)
	}
	cur, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil || aws.ToString(cur.SecretString) != "one" {
		t.Fatalf("AWSCURRENT = %+v, %v; want one", cur, err)
	}
	pv, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String("AWSPENDING")})
	if err != nil || aws.ToString(pv.SecretString) != "two" || aws.ToString(pv.VersionId) != aws.ToString(pend.VersionId) {
		t.Fatalf("AWSPENDING = %+v, %v; want two", pv, err)
	}
	ids, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String(name)})
	if err != nil || len(ids.Versions) != 2 {
		t.Fatalf("ListSecretVersionIds = %+v, %v; want both versions", ids, err)
	}

	// AWSCURRENT moves in one request: both APIs now see the new value.
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: pend.VersionId, RemoveFromVersionId: cr.VersionId,
	}); err != nil {
		t.Fatalf("UpdateSecretVersionStage: %v", err)
	}
	vaultSees("two", 2)
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "one" {
		t.Fatalf("AWSPREVIOUS after the move = %+v, %v; want one", prev, err)
	}
	// And back: AWSCURRENT on version 1 is what Vault reads too.
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{
		SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: cr.VersionId, RemoveFromVersionId: pend.VersionId,
	}); err != nil {
		t.Fatalf("UpdateSecretVersionStage back: %v", err)
	}
	vaultSees("one", 1)
	// A Vault write is current at once, for both APIs.
	if _, err := kv.Put(ctx, name, map[string]any{"SecretString": "three"}); err != nil {
		t.Fatalf("Vault Put: %v", err)
	}
	vaultSees("three", 3)
	cur, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil || aws.ToString(cur.SecretString) != "three" {
		t.Fatalf("AWSCURRENT after a Vault write = %+v, %v; want three", cur, err)
	}
}

// TestFailedWriteChangesNothing: an AWS write that fails part way (a
// refused metadata change, a full custom_metadata, a concurrent change)
// leaves neither a version nor labels: each is one core request.
func TestFailedWriteChangesNothing(t *testing.T) {
	t.Parallel()
	ts := newEnv(t).ts
	ctx := t.Context()
	// dataOnly may write versions but not change metadata: before
	// writes were one request, its PutSecretValue stored the version and
	// then failed to record the VersionId.
	if err := ts.Client.Sys().PutPolicy("data-only", `
path "secret/data/*"     { capabilities = ["create", "read", "update"] }
path "secret/metadata/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"data-only"}})
	if err != nil {
		t.Fatal(err)
	}
	rootEnv := newEnvOn(t, ts, ts.RootToken)
	c := rootEnv.client()
	limited := newEnvOn(t, ts, tok.Auth.ClientToken).client()
	kv := ts.Client.KVv2("secret")

	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("one")}); err != nil {
		t.Fatal(err)
	}
	full := &sm.CreateSecretInput{Name: aws.String("full"), SecretString: aws.String("one")}
	for i := range 62 { // with the ARN suffix and version 1's id: 64 entries
		full.Tags = append(full.Tags, types.Tag{Key: aws.String(fmt.Sprintf("t%02d", i)), Value: aws.String("v")})
	}
	if _, err := c.CreateSecret(ctx, full); err != nil {
		t.Fatal(err)
	}
	snapshot := func(name string) string {
		t.Helper()
		md, err := kv.GetMetadata(ctx, name)
		if err != nil {
			t.Fatalf("metadata of %s: %v", name, err)
		}
		return fmt.Sprintf("current %d versions %d custom %v", md.CurrentVersion, len(md.Versions), md.CustomMetadata)
	}
	tests := []struct {
		name     string
		secret   string
		call     func() error
		wantCode string
	}{
		{"put without metadata permission", "db", func() error {
			_, err := limited.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("db"), SecretString: aws.String("two")})
			return err
		}, "AccessDeniedException"},
		{"pending put without metadata permission", "db", func() error {
			_, err := limited.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("db"), SecretString: aws.String("two"), VersionStages: []string{"AWSPENDING"}})
			return err
		}, "AccessDeniedException"},
		{"update without metadata permission", "db", func() error {
			_, err := limited.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String("db"), SecretString: aws.String("two"), Description: aws.String("d")})
			return err
		}, "AccessDeniedException"},
		{"create without metadata permission", "", func() error {
			_, err := limited.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("new"), SecretString: aws.String("x")})
			return err
		}, "AccessDeniedException"},
		{"custom_metadata full", "full", func() error {
			_, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("full"), SecretString: aws.String("two"), VersionStages: []string{"AWSPENDING"}})
			return err
		}, "InvalidRequestException"},
		{"delete without metadata permission", "db", func() error {
			_, err := limited.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("db"), ForceDeleteWithoutRecovery: aws.Bool(true)})
			return err
		}, "AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before string
			if tt.secret != "" {
				before = snapshot(tt.secret)
			}
			err := tt.call()
			if apiCode(err) != tt.wantCode {
				t.Fatalf("error = %v, want %s", err, tt.wantCode)
			}
			if tt.secret == "" {
				if _, err := kv.GetMetadata(ctx, "new"); err == nil {
					t.Error("a refused CreateSecret left the secret")
				}
				return
			}
			if after := snapshot(tt.secret); after != before {
				t.Errorf("storage changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestRotateOneRequest: RotateSecret's ClientRequestToken is the new
// version's VersionId, stored with the version; rules refused before any
// write leave no rotation policy.
func TestRotateOneRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	kv := e.ts.Client.KVv2("secret")
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("rot"), SecretString: aws.String("initial")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("rot"), RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("every day")}})
	if apiCode(err) != "InvalidParameterException" {
		t.Fatalf("RotateSecret with bad rules: %v, want InvalidParameterException", err)
	}
	if pol, err := e.ts.Client.Logical().Read("secret/rotation/rot"); err != nil || pol != nil {
		t.Fatalf("rotation policy after refused rules = %+v, %v; want none", pol, err)
	}
	tok := "99999999-8888-7777-6666-555555555555"
	r, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("rot"), ClientRequestToken: aws.String(tok), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}})
	if err != nil || aws.ToString(r.VersionId) != tok {
		t.Fatalf("RotateSecret = %+v, %v; want VersionId %s", r, err, tok)
	}
	md, err := kv.GetMetadata(ctx, "rot")
	if err != nil || md.CurrentVersion != 2 || md.CustomMetadata["aws:version:2"] != tok {
		t.Fatalf("metadata after RotateSecret = %+v, %v", md, err)
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("rot"), VersionId: aws.String(tok)})
	if err != nil || aws.ToString(got.SecretString) == "initial" || !slices.Equal(got.VersionStages, []string{"AWSCURRENT"}) {
		t.Fatalf("rotated version = %+v, %v", got, err)
	}
}
