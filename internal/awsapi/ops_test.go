package awsapi_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// apiCode is the AWS error code of err, "" for none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestCreateGetPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	// A value with spaces, unicode and an odd JSON shape comes back byte
	// for byte.
	value := ` {"user": "app", "pass":"p@ss <é>"}  `
	cr, err := c.CreateSecret(ctx, &sm.CreateSecretInput{
		Name:         aws.String("prod/payments/db"),
		SecretString: aws.String(value),
		Description:  aws.String("payments database"),
		Tags:         []types.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	arn := aws.ToString(cr.ARN)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-west-3:000000000000:secret:prod/payments/db-") || len(arn) != len("arn:aws:secretsmanager:eu-west-3:000000000000:secret:prod/payments/db-")+6 {
		t.Errorf("ARN = %q", arn)
	}
	v1 := aws.ToString(cr.VersionId)
	for _, id := range []string{"prod/payments/db", arn} {
		got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if aws.ToString(got.SecretString) != value || aws.ToString(got.VersionId) != v1 || !slices.Equal(got.VersionStages, []string{"AWSCURRENT"}) || aws.ToString(got.ARN) != arn {
			t.Errorf("GetSecretValue(%s) = %q %q %v %q", id, aws.ToString(got.SecretString), aws.ToString(got.VersionId), got.VersionStages, aws.ToString(got.ARN))
		}
	}
	// The Vault API sees an ordinary KV v2 secret.
	kv, err := e.ts.Client.KVv2("secret").Get(ctx, "prod/payments/db")
	if err != nil || kv.Data["SecretString"] != value {
		t.Fatalf("KV read = %v, %v", kv, err)
	}
	// A second version with a client token; a retry is idempotent; the
	// same token with another value is refused.
	tok := "11111111-2222-3333-4444-555555555555"
	put, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/payments/db"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(tok)})
	if err != nil || aws.ToString(put.VersionId) != tok || !slices.Equal(put.VersionStages, []string{"AWSCURRENT"}) {
		t.Fatalf("PutSecretValue = %+v, %v", put, err)
	}
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/payments/db"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(tok)}); err != nil {
		t.Fatalf("PutSecretValue retry: %v", err)
	}
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/payments/db"), SecretString: aws.String("other"), ClientRequestToken: aws.String(tok)})
	if apiCode(err) != "ResourceExistsException" {
		t.Fatalf("PutSecretValue same token, other value: %v, want ResourceExistsException", err)
	}
	meta, err := e.ts.Client.KVv2("secret").GetMetadata(ctx, "prod/payments/db")
	if err != nil || meta.CurrentVersion != 2 {
		t.Fatalf("metadata after retries = %+v, %v; want 2 versions", meta, err)
	}
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != value || aws.ToString(prev.VersionId) != v1 {
		t.Fatalf("AWSPREVIOUS = %+v, %v", prev, err)
	}
	byID, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db"), VersionId: aws.String(tok)})
	if err != nil || aws.ToString(byID.SecretString) != "v2" {
		t.Fatalf("by VersionId = %+v, %v", byID, err)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db"), VersionId: aws.String(tok), VersionStage: aws.String("AWSPREVIOUS")})
	if apiCode(err) != "InvalidParameterException" {
		t.Fatalf("VersionId with another version's stage: %v, want InvalidParameterException", err)
	}
	// A pending version does not become current.
	pend, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/payments/db"), SecretString: aws.String("v3"), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		t.Fatalf("PutSecretValue AWSPENDING: %v", err)
	}
	cur, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db")})
	if err != nil || aws.ToString(cur.SecretString) != "v2" {
		t.Fatalf("AWSCURRENT after a pending put = %+v, %v; want v2", cur, err)
	}
	pv, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db"), VersionStage: aws.String("AWSPENDING")})
	if err != nil || aws.ToString(pv.SecretString) != "v3" {
		t.Fatalf("AWSPENDING = %+v, %v", pv, err)
	}
	// Move AWSCURRENT to the pending version.
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("prod/payments/db"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: pend.VersionId, RemoveFromVersionId: aws.String(tok)}); err != nil {
		t.Fatalf("UpdateSecretVersionStage: %v", err)
	}
	cur, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db")})
	if err != nil || aws.ToString(cur.SecretString) != "v3" || !slices.Equal(cur.VersionStages, []string{"AWSCURRENT", "AWSPENDING"}) {
		t.Fatalf("AWSCURRENT after the move = %+v, %v", cur, err)
	}
	prev, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "v2" {
		t.Fatalf("AWSPREVIOUS after the move = %+v, %v", prev, err)
	}
	// A custom label.
	if _, err := c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: aws.String("prod/payments/db"), VersionStage: aws.String("blue"), MoveToVersionId: aws.String(v1)}); err != nil {
		t.Fatalf("UpdateSecretVersionStage custom: %v", err)
	}
	blue, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db"), VersionStage: aws.String("blue")})
	if err != nil || aws.ToString(blue.SecretString) != value {
		t.Fatalf("custom stage = %+v, %v", blue, err)
	}
	vers, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("prod/payments/db")})
	if err != nil || len(vers.Versions) != 3 {
		t.Fatalf("ListSecretVersionIds = %+v, %v", vers, err)
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatalf("DescribeSecret: %v", err)
	}
	if aws.ToString(d.Description) != "payments database" || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "payments" || len(d.VersionIdsToStages) != 3 || d.CreatedDate == nil {
		t.Errorf("DescribeSecret = %+v", d)
	}
	// The secret was read above: its last access is today (AWS gives the
	// day only).
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if d.LastAccessedDate == nil || !d.LastAccessedDate.Equal(today) && !d.LastAccessedDate.Equal(today.Add(-24*time.Hour)) {
		t.Errorf("LastAccessedDate = %v, want %v", d.LastAccessedDate, today)
	}
}

func TestBinaryAndVaultWritten(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	bin := []byte{0, 1, 2, 0xff, 0xfe}
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin}); err != nil {
		t.Fatalf("CreateSecret binary: %v", err)
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("bin")})
	if err != nil || string(got.SecretBinary) != string(bin) || got.SecretString != nil {
		t.Fatalf("binary = %+v, %v", got, err)
	}
	// A secret written with the Vault API reads as a JSON object.
	if _, err := e.ts.Client.KVv2("secret").Put(ctx, "vault/app", map[string]any{"user": "u", "n": json.Number("12345678901234567890")}); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("vault/app")})
	if err != nil || aws.ToString(got.SecretString) != `{"n":12345678901234567890,"user":"u"}` {
		t.Fatalf("Vault-written = %q, %v", aws.ToString(got.SecretString), err)
	}
	if _, err := e.ts.Client.KVv2("secret").Put(ctx, "vault/app", map[string]any{"user": "u2"}); err != nil {
		t.Fatal(err)
	}
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("vault/app"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || !strings.Contains(aws.ToString(prev.SecretString), `"n"`) {
		t.Fatalf("AWSPREVIOUS of a Vault-written secret = %+v, %v", prev, err)
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("vault/app")})
	if err != nil || len(d.VersionIdsToStages) != 2 {
		t.Fatalf("DescribeSecret of a Vault-written secret = %+v, %v", d, err)
	}
	// Its derived ARN is stable.
	d2, _ := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: d.ARN})
	if d2 == nil || aws.ToString(d2.ARN) != aws.ToString(d.ARN) {
		t.Fatalf("DescribeSecret by ARN = %+v", d2)
	}
}

func TestUpdateTagsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	for _, n := range []string{"a/one", "a/two", "b/three"} {
		if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String(n), SecretString: aws.String(n)}); err != nil {
			t.Fatalf("CreateSecret(%s): %v", n, err)
		}
	}
	if _, err := c.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String("a/one"), Description: aws.String("first"), SecretString: aws.String("new")}); err != nil {
		t.Fatalf("UpdateSecret: %v", err)
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("a/one")})
	if err != nil || aws.ToString(got.SecretString) != "new" {
		t.Fatalf("after UpdateSecret = %+v, %v", got, err)
	}
	if _, err := c.TagResource(ctx, &sm.TagResourceInput{SecretId: aws.String("a/two"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("x"), Value: aws.String("y")}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := c.UntagResource(ctx, &sm.UntagResourceInput{SecretId: aws.String("a/two"), TagKeys: []string{"x"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("a/two")})
	if err != nil || len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "env" {
		t.Fatalf("tags = %+v, %v", d, err)
	}
	tests := []struct {
		name string
		in   sm.ListSecretsInput
		want []string
	}{
		{"all", sm.ListSecretsInput{}, []string{"a/one", "a/two", "b/three"}},
		{"desc", sm.ListSecretsInput{SortOrder: types.SortOrderTypeDesc}, []string{"b/three", "a/two", "a/one"}},
		{"name prefix", sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"a/"}}}}, []string{"a/one", "a/two"}},
		{"negated", sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"!a/"}}}}, []string{"b/three"}},
		{"tag", sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeTagKey, Values: []string{"env"}}}}, []string{"a/two"}},
		{"description", sm.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeDescription, Values: []string{"fir"}}}}, []string{"a/one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.ListSecrets(ctx, &tt.in)
			if err != nil {
				t.Fatalf("ListSecrets: %v", err)
			}
			var names []string
			for _, s := range out.SecretList {
				names = append(names, aws.ToString(s.Name))
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("ListSecrets = %v, want %v", names, tt.want)
			}
		})
	}
	// Pagination with the SDK's paginator.
	var names []string
	p := sm.NewListSecretsPaginator(c, &sm.ListSecretsInput{MaxResults: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("page: %v", err)
		}
		pages++
		for _, s := range out.SecretList {
			names = append(names, aws.ToString(s.Name))
		}
	}
	if pages != 3 || len(names) != 3 {
		t.Errorf("paginated = %v in %d pages", names, pages)
	}
	batch, err := c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{SecretIdList: []string{"a/two", "missing"}})
	if err != nil || len(batch.SecretValues) != 1 || len(batch.Errors) != 1 || aws.ToString(batch.Errors[0].ErrorCode) != "ResourceNotFoundException" {
		t.Fatalf("BatchGetSecretValue = %+v, %v", batch, err)
	}
	batch, err = c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"b/"}}}})
	if err != nil || len(batch.SecretValues) != 1 || aws.ToString(batch.SecretValues[0].SecretString) != "b/three" {
		t.Fatalf("BatchGetSecretValue by filter = %+v, %v", batch, err)
	}
}

func TestDeleteRestore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("dir/gone"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("dir/gone"), RecoveryWindowInDays: aws.Int64(3)})
	if apiCode(err) != "InvalidParameterException" {
		t.Fatalf("DeleteSecret 3 days: %v, want InvalidParameterException", err)
	}
	del, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("dir/gone"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil || del.DeletionDate == nil {
		t.Fatalf("DeleteSecret: %+v, %v", del, err)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("dir/gone")})
	if apiCode(err) != "InvalidRequestException" {
		t.Fatalf("GetSecretValue of a deleted secret: %v, want InvalidRequestException", err)
	}
	for _, planned := range []bool{false, true} {
		l, err := c.ListSecrets(ctx, &sm.ListSecretsInput{IncludePlannedDeletion: aws.Bool(planned)})
		if err != nil {
			t.Fatalf("ListSecrets: %v", err)
		}
		if want := map[bool]int{false: 0, true: 1}[planned]; len(l.SecretList) != want || planned && l.SecretList[0].DeletedDate == nil {
			t.Fatalf("ListSecrets(IncludePlannedDeletion=%v) = %+v, want %d", planned, l.SecretList, want)
		}
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("dir/gone")})
	if err != nil || d.DeletedDate == nil {
		t.Fatalf("DescribeSecret of a deleted secret = %+v, %v", d, err)
	}
	if _, err := c.RestoreSecret(ctx, &sm.RestoreSecretInput{SecretId: aws.String("dir/gone")}); err != nil {
		t.Fatalf("RestoreSecret: %v", err)
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("dir/gone")})
	if err != nil || aws.ToString(got.SecretString) != "x" {
		t.Fatalf("after RestoreSecret = %+v, %v", got, err)
	}
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("dir/gone"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatalf("DeleteSecret force: %v", err)
	}
	_, err = c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("dir/gone")})
	if apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("DescribeSecret after a forced delete: %v", err)
	}
	if _, err := c.RestoreSecret(ctx, &sm.RestoreSecretInput{SecretId: aws.String("dir/gone")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("RestoreSecret after a forced delete: %v", err)
	}
}

func TestRotateAndRandom(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("rot"), SecretString: aws.String("initial")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("rot")})
	if apiCode(err) != "InvalidRequestException" {
		t.Fatalf("RotateSecret without rules: %v, want InvalidRequestException", err)
	}
	r, err := c.RotateSecret(ctx, &sm.RotateSecretInput{SecretId: aws.String("rot"), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}})
	if err != nil || r.VersionId == nil {
		t.Fatalf("RotateSecret: %+v, %v", r, err)
	}
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("rot")})
	if err != nil || aws.ToString(got.SecretString) == "initial" || aws.ToString(got.VersionId) != aws.ToString(r.VersionId) {
		t.Fatalf("after rotation = %+v, %v", got, err)
	}
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("rot"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "initial" {
		t.Fatalf("AWSPREVIOUS after rotation = %+v, %v", prev, err)
	}
	d, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("rot")})
	if err != nil || !aws.ToBool(d.RotationEnabled) || d.RotationRules == nil || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 {
		t.Fatalf("DescribeSecret after RotateSecret = %+v, %v", d, err)
	}
	if _, err := c.CancelRotateSecret(ctx, &sm.CancelRotateSecretInput{SecretId: aws.String("rot")}); err != nil {
		t.Fatalf("CancelRotateSecret: %v", err)
	}
	d, err = c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("rot")})
	if err != nil || aws.ToBool(d.RotationEnabled) {
		t.Fatalf("DescribeSecret after CancelRotateSecret = %+v, %v", d, err)
	}
	pw, err := c.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{PasswordLength: aws.Int64(40), ExcludePunctuation: aws.Bool(true)})
	if err != nil || len(aws.ToString(pw.RandomPassword)) != 40 || strings.ContainsAny(aws.ToString(pw.RandomPassword), "!#$%") {
		t.Fatalf("GetRandomPassword = %+v, %v", pw, err)
	}
}
