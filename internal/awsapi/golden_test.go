package awsapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// volatile matches what changes from run to run in an AWS answer.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "UUID"},
	{regexp.MustCompile(`(secret:[A-Za-z0-9/_+=.@-]+)-[A-Za-z0-9]{6}"`), `$1-SUFFIX"`},
	{regexp.MustCompile(`"(CreatedDate|LastChangedDate|LastAccessedDate|DeletionDate|DeletedDate)": \d+(\.\d+)?`), `"$1": 0`},
	// The password may hold any punctuation, escaped quotes and
	// backslashes included: match a whole JSON string.
	{regexp.MustCompile(`"RandomPassword": "(?:[^"\\]|\\.)*"`), `"RandomPassword": "PASSWORD"`},
}

// TestGoldenResponses pins the JSON 1.1 wire shapes of the AWS API's
// answers and errors, so that a change shows up in review.
func TestGoldenResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	steps := []struct{ name, target, body string }{
		{"create", "CreateSecret", `{"Name":"app/db","SecretString":"s3cret","ClientRequestToken":"11111111-1111-1111-1111-111111111111","Tags":[{"Key":"team","Value":"pay"}]}`},
		{"get", "GetSecretValue", `{"SecretId":"app/db"}`},
		{"put", "PutSecretValue", `{"SecretId":"app/db","SecretBinary":"AAEC","ClientRequestToken":"22222222-2222-2222-2222-222222222222"}`},
		{"get_binary", "GetSecretValue", `{"SecretId":"app/db"}`},
		{"describe", "DescribeSecret", `{"SecretId":"app/db"}`},
		{"versions", "ListSecretVersionIds", `{"SecretId":"app/db"}`},
		{"list", "ListSecrets", `{}`},
		{"random", "GetRandomPassword", `{"PasswordLength":8}`},
		{"error_not_found", "GetSecretValue", `{"SecretId":"none"}`},
		{"error_unknown_operation", "Nope", `{}`},
		{"error_malformed", "GetSecretValue", `{"SecretId":`},
		{"error_wrong_type", "GetSecretValue", `{"SecretId":5}`},
	}
	for _, st := range steps {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/", strings.NewReader(st.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "secretsmanager."+st.target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-3/secretsmanager/aws4_request")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, raw, "", "  "); err != nil {
			t.Fatalf("%s: answer is not JSON: %q", st.name, raw)
		}
		got := fmt.Sprintf("%d %s %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Amzn-Errortype"), pretty.String())
		for _, v := range volatile {
			got = v.re.ReplaceAllString(got, v.with)
		}
		path := filepath.Join("testdata", st.name+".golden")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", st.name, err)
		}
		if got != string(want) {
			t.Errorf("%s: answer changed:\n got: %s\nwant: %s", st.name, got, want)
		}
	}
}
