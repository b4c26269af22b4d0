package azureapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/coffer-secrets/coffer/internal/awsapi"
	"github.com/hashicorp/vault/api"
)

// TestRawErrors checks bad input and the challenge on the wire: Azure's
// error JSON and status, and nothing changed.
func TestRawErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.ts.RootToken
	big := `{"value":"` + strings.Repeat("a", 70<<10) + `"}`
	tooLong := `{"value":"` + strings.Repeat("a", 25<<10+1) + `"}`
	var tags []string
	for i := range 16 {
		tags = append(tags, fmt.Sprintf(`"t%d":"v"`, i))
	}
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code                            string
	}{
		{"no api-version", "GET", "/secrets/x", root, "", 400, "BadParameter"},
		{"old api-version", "GET", "/secrets/x?api-version=2016-10-01", root, "", 400, "BadParameter"},
		{"api-version 6", "GET", "/secrets/x?api-version=6.0", root, "", 400, "BadParameter"},
		{"dated api-version", "GET", "/secrets/x?api-version=2025-07-01", root, "", 404, "SecretNotFound"},
		{"bad name", "GET", "/secrets/no_underscores?api-version=7.5", root, "", 400, "BadParameter"},
		{"long name", "GET", "/secrets/" + strings.Repeat("a", 128) + "?api-version=7.5", root, "", 400, "BadParameter"},
		{"bad version", "GET", "/secrets/x/zz?api-version=7.5", root, "", 400, "BadParameter"},
		{"version zero", "GET", "/secrets/x/" + strings.Repeat("0", 32) + "?api-version=7.5", root, "", 400, "BadParameter"},
		{"method", "POST", "/secrets/x?api-version=7.5", root, "{}", 405, "MethodNotAllowed"},
		{"no such path", "GET", "/secrets/x/y/z?api-version=7.5", root, "", 404, "NotFound"},
		{"body too large", "PUT", "/secrets/x?api-version=7.5", root, big, 413, "RequestBodyTooLarge"},
		{"value too large", "PUT", "/secrets/x?api-version=7.5", root, tooLong, 400, "BadParameter"},
		{"not json", "PUT", "/secrets/x?api-version=7.5", root, "value=1", 400, "BadParameter"},
		{"wrong type", "PUT", "/secrets/x?api-version=7.5", root, `{"value":5}`, 400, "BadParameter"},
		{"no value", "PUT", "/secrets/x?api-version=7.5", root, `{"contentType":"a"}`, 400, "BadParameter"},
		{"too many tags", "PUT", "/secrets/x?api-version=7.5", root, `{"value":"v","tags":{` + strings.Join(tags, ",") + `}}`, 400, "BadParameter"},
		{"bad maxresults", "GET", "/secrets?api-version=7.5&maxresults=26", root, "", 400, "BadParameter"},
		{"bad skiptoken", "GET", "/secrets?api-version=7.5&$skiptoken=zz", root, "", 400, "BadParameter"},
		{"versions of missing", "GET", "/secrets/x/versions?api-version=7.5", root, "", 404, "SecretNotFound"},
		{"update missing", "PATCH", "/secrets/x?api-version=7.5", root, `{"contentType":"a"}`, 404, "SecretNotFound"},
		{"bad token", "GET", "/secrets/x?api-version=7.5", "not-a-token", "", 401, "Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(t, tt.method, tt.path, tt.token, tt.body)
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
			if code := errorCode(t, resp); code != tt.code {
				t.Errorf("%s %s code = %q, want %q", tt.method, tt.path, code, tt.code)
			}
		})
	}
	// Nothing was written by the refused PUTs.
	if s, err := e.ts.Client.KVv2("secret").Get(t.Context(), "x"); err == nil {
		t.Errorf("secret x exists after refused writes: %v", s.Data)
	}
	// Unknown members are ignored.
	resp := e.do(t, "PUT", "/secrets/x?api-version=7.6", root, `{"value":"v","future":{"a":[1]},"attributes":{"enabled":true,"recoveryLevel":"x"}}`)
	if resp.StatusCode != 200 {
		t.Errorf("PUT with unknown members = %d, want 200", resp.StatusCode)
	}
}

// TestChallenge: a request without a token gets the bearer challenge
// before its body is read, and other paths are not the API's.
func TestChallenge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	host := strings.TrimPrefix(e.url, "https://")
	resp := e.do(t, "PUT", "/secrets/x?api-version=7.5", "", `{"value":"v"}`)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated PUT = %d, want 401", resp.StatusCode)
	}
	want := `Bearer authorization="https://` + host + `/coffer", resource="https://0.0.1:`
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, want) {
		t.Errorf("WWW-Authenticate = %q, want prefix %q", got, want)
	}
	if code := errorCode(t, resp); code != "Unauthorized" {
		t.Errorf("code = %q, want Unauthorized", code)
	}
	// Paths beside the API's are the Vault API's.
	for _, p := range []string{"/secretsx", "/deletedsecretsx", "/v1/sys/health", "/ui/"} {
		resp := e.do(t, "GET", p, "", "")
		if resp.Header.Get("X-Ms-Request-Id") != "" {
			t.Errorf("GET %s was answered by the Azure API", p)
		}
	}
}

// TestDenied: a token whose policy does not allow an operation gets
// Azure's 403, and what it may do works.
func TestDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	rules := `path "secret/data/readable" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["list"] }`
	if err := e.ts.Client.Sys().PutPolicyWithContext(ctx, "azure-read", rules); err != nil {
		t.Fatal(err)
	}
	tok, err := e.ts.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"azure-read"}})
	if err != nil {
		t.Fatal(err)
	}
	rootC := e.client(t, e.ts.RootToken)
	for _, n := range []string{"readable", "hidden"} {
		if _, err := rootC.SetSecret(ctx, n, azsecrets.SetSecretParameters{Value: to.Ptr(n)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t, tok.Auth.ClientToken)
	if got, err := c.GetSecret(ctx, "readable", "", nil); err != nil || *got.Value != "readable" {
		t.Errorf("GetSecret(readable) = %v, %v", got.Value, err)
	}
	checks := []struct {
		name string
		err  error
	}{
		{"get", func() error { _, err := c.GetSecret(ctx, "hidden", "", nil); return err }()},
		{"set", func() error {
			_, err := c.SetSecret(ctx, "readable", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
			return err
		}()},
		{"delete", func() error { _, err := c.DeleteSecret(ctx, "readable", nil); return err }()},
		{"update", func() error {
			_, err := c.UpdateSecretProperties(ctx, "readable", "", azsecrets.UpdateSecretPropertiesParameters{ContentType: to.Ptr("x")}, nil)
			return err
		}()},
	}
	for _, ck := range checks {
		if !isCode(ck.err, "Forbidden", 403) {
			t.Errorf("%s = %v, want 403 Forbidden", ck.name, ck.err)
		}
	}
	// Listing is allowed, reading metadata is not: ids alone.
	p, err := c.NewListSecretPropertiesPager(nil).NextPage(ctx)
	if err != nil || len(p.Value) != 2 {
		t.Fatalf("list = %v, %v; want 2 ids", p.Value, err)
	}
	if got, _ := rootC.GetSecret(ctx, "readable", "", nil); *got.Value != "readable" {
		t.Errorf("readable changed to %q by denied requests", *got.Value)
	}
}

// tokenAuth is an awsapi Authenticator acting with a fixed token: the
// AWS protocol is tested in awsapi; here only the shared mount.
type tokenAuth struct{ token string }

func (a tokenAuth) Authenticate(context.Context, *http.Request, []byte) (string, error) {
	return a.token, nil
}

// TestCrossAPI: a secret written through one API reads the same through
// the Vault API, the AWS API and this one.
func TestCrossAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	c := e.client(t, e.ts.RootToken)
	awsSrv := httptest.NewServer(awsapi.New(awsapi.Options{Core: e.ts.Core(), Auth: tokenAuth{e.ts.RootToken}, Mount: "secret/"}))
	t.Cleanup(awsSrv.Close)
	sm := secretsmanager.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""), RetryMaxAttempts: 1},
		func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(awsSrv.URL) })
	kv := e.ts.Client.KVv2("secret")

	// Azure → Vault, AWS.
	if _, err := c.SetSecret(ctx, "from-azure", azsecrets.SetSecretParameters{Value: to.Ptr("az-value"), ContentType: to.Ptr("text/plain")}, nil); err != nil {
		t.Fatal(err)
	}
	if s, err := kv.Get(ctx, "from-azure"); err != nil || s.Data["SecretString"] != "az-value" {
		t.Errorf("Vault read of from-azure = %v, %v", s, err)
	}
	if out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("from-azure")}); err != nil || aws.ToString(out.SecretString) != "az-value" {
		t.Errorf("AWS read of from-azure = %v, %v", out, err)
	}
	// Vault → Azure.
	if _, err := kv.Put(ctx, "from-vault", map[string]any{"user": "app"}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "from-vault", "", nil); err != nil || *got.Value != `{"user":"app"}` || got.ID.Version() != "00000000000000000000000000000001" {
		t.Errorf("Azure read of from-vault = %v %v, %v", got.Value, got.ID, err)
	}
	// AWS → Azure, and a new version through Azure reads through AWS.
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("from-aws"), SecretString: aws.String("aws-value")}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "from-aws", "", nil); err != nil || *got.Value != "aws-value" {
		t.Errorf("Azure read of from-aws = %v, %v", got.Value, err)
	}
	if _, err := c.SetSecret(ctx, "from-aws", azsecrets.SetSecretParameters{Value: to.Ptr("rotated"), Tags: map[string]*string{"k": to.Ptr("v")}}, nil); err != nil {
		t.Fatal(err)
	}
	if out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("from-aws")}); err != nil || aws.ToString(out.SecretString) != "rotated" {
		t.Errorf("AWS read after an Azure set = %v, %v", out, err)
	}
}

// TestAudited: Azure requests go through the pipeline's audit like any
// other, and the audit log never holds a value in the clear.
func TestAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	file := filepath.Join(t.TempDir(), "audit.log")
	if err := e.ts.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": file}}); err != nil {
		t.Fatal(err)
	}
	c := e.client(t, e.ts.RootToken)
	const value = "plaintext-value-3f9a"
	if _, err := c.SetSecret(ctx, "audited", azsecrets.SetSecretParameters{Value: to.Ptr(value), Tags: map[string]*string{"a": to.Ptr("b")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, "audited", "", nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{`"path":"secret/data/audited"`, `"path":"secret/metadata/audited"`} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log has no %s", want)
		}
	}
	if strings.Contains(log, value) {
		t.Errorf("audit log holds the secret value in the clear")
	}
}

// TestDocumentedPolicy: a token with the capabilities
// docs/azure-key-vault.md lists, and nothing else, can do every
// operation.
func TestDocumentedPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	rules := `
path "secret/data/app-*"     { capabilities = ["create", "update", "read"] }
path "secret/metadata/"      { capabilities = ["list"] }
path "secret/metadata/app-*" { capabilities = ["read", "patch", "delete"] }
path "secret/deleted/"       { capabilities = ["list"] }
path "secret/deleted/app-*"  { capabilities = ["read", "delete"] }
path "secret/recover/app-*"  { capabilities = ["update"] }
`
	if err := e.ts.Client.Sys().PutPolicyWithContext(ctx, "azure-app", rules); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ts.Client.Logical().WriteWithContext(ctx, "secret/config", map[string]any{"recovery_window_days": 3}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.ts.Client.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{"azure-app"}})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t, tok.Auth.ClientToken)
	steps := []struct {
		name string
		run  func() error
	}{
		{"set", func() error {
			_, err := c.SetSecret(ctx, "app-key", azsecrets.SetSecretParameters{Value: to.Ptr("v"), ContentType: to.Ptr("t"), Tags: map[string]*string{"a": to.Ptr("b")}}, nil)
			return err
		}},
		{"get", func() error { _, err := c.GetSecret(ctx, "app-key", "", nil); return err }},
		{"update", func() error {
			_, err := c.UpdateSecretProperties(ctx, "app-key", "", azsecrets.UpdateSecretPropertiesParameters{ContentType: to.Ptr("u")}, nil)
			return err
		}},
		{"versions", func() error {
			_, err := c.NewListSecretPropertiesVersionsPager("app-key", nil).NextPage(ctx)
			return err
		}},
		{"list", func() error { _, err := c.NewListSecretPropertiesPager(nil).NextPage(ctx); return err }},
		{"delete", func() error {
			d, err := c.DeleteSecret(ctx, "app-key", nil)
			if err == nil && d.RecoveryID == nil {
				return fmt.Errorf("no recovery id")
			}
			return err
		}},
		{"deleted list", func() error { _, err := c.NewListDeletedSecretPropertiesPager(nil).NextPage(ctx); return err }},
		{"get deleted", func() error { _, err := c.GetDeletedSecret(ctx, "app-key", nil); return err }},
		{"recover", func() error { _, err := c.RecoverDeletedSecret(ctx, "app-key", nil); return err }},
		{"delete again", func() error { _, err := c.DeleteSecret(ctx, "app-key", nil); return err }},
		{"purge", func() error { _, err := c.PurgeDeletedSecret(ctx, "app-key", nil); return err }},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Fatalf("%s with the documented policy: %v", st.name, err)
		}
	}
}
