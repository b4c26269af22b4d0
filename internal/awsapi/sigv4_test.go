package awsapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// signedEnv is a real server serving the AWS API on its listener, with
// awskeys enabled, a file audit device, and an access key whose policy
// allows reading secret/data/prod/payments/* only.
type signedEnv struct {
	ts        *testserver.Server
	auditFile string
	keyID     string
	secret    string
}

func newSignedEnv(t testing.TB) *signedEnv {
	t.Helper()
	e := newSignedEnvNoAudit(t)
	e.auditFile = filepath.Join(t.TempDir(), "audit.log")
	if err := e.ts.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": e.auditFile}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func newSignedEnvNoAudit(t testing.TB) *signedEnv {
	t.Helper()
	ts := testserver.StartWith(t, testserver.Options{ExtraConfig: "aws_secrets_manager {}", AuditAnyDir: true})
	c := ts.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}))
	must(c.Sys().PutPolicy("payments", `path "secret/data/prod/payments/*" { capabilities = ["read"] }`))
	created, err := c.Logical().Write("auth/awskeys/keys/payments-app", map[string]any{"policies": "payments"})
	must(err)
	return &signedEnv{ts: ts, keyID: created.Data["access_key_id"].(string), secret: created.Data["secret_access_key"].(string)}
}

func TestSigV4PolicyAndAudit(t *testing.T) {
	t.Parallel()
	e := newSignedEnv(t)
	ctx := t.Context()
	kv := e.ts.Client.KVv2("secret")
	for p, v := range map[string]string{"prod/payments/db": "pay", "prod/other": "other"} {
		if _, err := kv.Put(ctx, p, map[string]any{"SecretString": v}); err != nil {
			t.Fatal(err)
		}
	}
	c := sdkClient(e.ts.Addr, e.keyID, e.secret)
	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db")})
	if err != nil || aws.ToString(got.SecretString) != "pay" {
		t.Fatalf("GetSecretValue allowed = %+v, %v", got, err)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/other")})
	if apiCode(err) != "AccessDeniedException" {
		t.Fatalf("GetSecretValue prod/other: %v, want AccessDeniedException", err)
	}
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/payments/db"), SecretString: aws.String("new")})
	if apiCode(err) != "AccessDeniedException" {
		t.Fatalf("PutSecretValue with a read-only key: %v, want AccessDeniedException", err)
	}
	// The key's reads are in the audit trail, under its own token.
	b, err := os.ReadFile(e.auditFile)
	if err != nil {
		t.Fatal(err)
	}
	var allowed, denied bool
	for line := range strings.SplitSeq(string(b), "\n") {
		var entry struct {
			Type string `json:"type"`
			Auth struct {
				DisplayName string   `json:"display_name"`
				Policies    []string `json:"policies"`
				EntityID    string   `json:"entity_id"`
			} `json:"auth"`
			Request struct {
				Operation string `json:"operation"`
				Path      string `json:"path"`
			} `json:"request"`
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Type != "response" || entry.Auth.DisplayName != "awskeys-payments-app" || entry.Auth.EntityID == "" {
			continue
		}
		switch {
		case entry.Request.Path == "secret/data/prod/payments/db" && entry.Request.Operation == "read" && entry.Error == "":
			allowed = true
		case entry.Request.Path == "secret/data/prod/other" && strings.Contains(entry.Error, "permission denied"):
			denied = true
		}
	}
	if !allowed || !denied {
		t.Errorf("audit trail under the key's identity: allowed read logged %v, denied read logged %v", allowed, denied)
	}
	// The Vault API's data is unchanged.
	s, err := kv.Get(ctx, "prod/payments/db")
	if err != nil || s.VersionMetadata.Version != 1 {
		t.Fatalf("after refused writes: %+v, %v", s, err)
	}
}

func TestSigV4Refusals(t *testing.T) {
	t.Parallel()
	e := newSignedEnv(t)
	ctx := t.Context()
	if _, err := e.ts.Client.KVv2("secret").Put(ctx, "prod/payments/db", map[string]any{"SecretString": "pay"}); err != nil {
		t.Fatal(err)
	}
	_, err := sdkClient(e.ts.Addr, e.keyID, "wrong"+e.secret[5:]).GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db")})
	if code := apiCode(err); code != "InvalidSignatureException" {
		t.Errorf("wrong secret key: %v, want InvalidSignatureException", err)
	}
	_, err = sdkClient(e.ts.Addr, "CKIANOSUCHKEY0000000", e.secret).GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/payments/db")})
	if code := apiCode(err); code != "UnrecognizedClientException" {
		t.Errorf("unknown key: %v, want UnrecognizedClientException", err)
	}
	// Raw requests signed with the real key.
	tests := []struct {
		name     string
		target   string
		body     string
		tamper   bool
		skew     time.Duration
		wantCode string
	}{
		{"unknown operation", "secretsmanager.FlyToTheMoon", `{}`, false, 0, "UnknownOperationException"},
		{"malformed JSON", "secretsmanager.GetSecretValue", `{"SecretId":`, false, 0, "SerializationException"},
		{"wrong type", "secretsmanager.PutSecretValue", `{"SecretId":"prod/payments/db","SecretString":12}`, false, 0, "SerializationException"},
		{"tampered body", "secretsmanager.GetSecretValue", `{"SecretId":"prod/payments/db"}`, true, 0, "InvalidSignatureException"},
		{"expired date", "secretsmanager.GetSecretValue", `{"SecretId":"prod/payments/db"}`, false, -time.Hour, "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := e.post(t, tt.target, tt.body, tt.tamper, tt.skew)
			if code != tt.wantCode || status != http.StatusBadRequest && status != http.StatusForbidden {
				t.Errorf("answer = %d %s, want %s", status, code, tt.wantCode)
			}
		})
	}
	// Unsigned: refused without reading the body.
	resp, err := http.Post(e.ts.Addr+"/", "application/x-amz-json-1.1", strings.NewReader(`{"SecretId":"prod/payments/db"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := resp.Header.Get("X-Amzn-Errortype"); code != "MissingAuthenticationTokenException" || resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unsigned request = %d %s, want MissingAuthenticationTokenException", resp.StatusCode, code)
	}
	s, err := e.ts.Client.KVv2("secret").Get(ctx, "prod/payments/db")
	if err != nil || s.VersionMetadata.Version != 1 {
		t.Fatalf("after refused requests: %+v, %v", s, err)
	}
}

// post sends body to the AWS API signed with e's key (after changing a
// byte of it when tamper is set, or signed skew away from now) and answers
// the status and the AWS error code.
func (e *signedEnv) post(t *testing.T, target, body string, tamper bool, skew time.Duration) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.ts.Addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: e.keyID, SecretAccessKey: e.secret}, req, hex.EncodeToString(sum[:]), "secretsmanager", "us-east-1", time.Now().Add(skew))
	if err != nil {
		t.Fatal(err)
	}
	if tamper {
		b := []byte(body)
		b[len(b)-3] ^= 1
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	code := resp.Header.Get("X-Amzn-Errortype")
	if i := strings.Index(string(out), `"__type":"`); i >= 0 {
		rest := string(out)[i+len(`"__type":"`):]
		code = rest[:strings.IndexByte(rest, '"')]
	}
	return resp.StatusCode, code
}

// TestBodyLimit checks that the listener's max_request_size applies to
// the AWS API: a larger body answers 413 and is not served.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	ts := testserver.StartWith(t, testserver.Options{ExtraConfig: "aws_secrets_manager {}", MaxRequestSize: 1024})
	body := `{"Name":"big","SecretString":"` + strings.Repeat("x", 2048) + `"}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.Addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "secretsmanager.CreateSecret")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=CKIAAAAAAAAAAAAAAAAA/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("X-Amzn-Errortype") != "RequestEntityTooLargeException" {
		t.Errorf("oversized body = %d %s, want 413 RequestEntityTooLargeException", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
	}
	if s, err := ts.Client.KVv2("secret").Get(t.Context(), "big"); err == nil {
		t.Errorf("the oversized request wrote %v", s)
	}
	// The Vault API is still served beside it.
	if _, err := ts.Client.Sys().Health(); err != nil {
		t.Errorf("sys/health: %v", err)
	}
}
