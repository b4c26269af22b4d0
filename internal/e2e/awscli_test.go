package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestAWSCLI drives the AWS Secrets Manager API (internal/awsapi, served
// on the server's listener) with the `aws` command line (Debian package
// awscli; scripts/test installs it), signing with a key of the awskeys
// auth method: the API's second real client after the Go SDK. It is here
// rather than in awsapi because each `aws` run starts a Python
// interpreter (seconds on a loaded machine).
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the aws command is missing: install the Debian package awscli (scripts/test does)")
		}
		t.Skip("the aws command is missing: apt-get install awscli to run this test")
	}
	ts := testserver.StartWith(t, testserver.Options{ExtraConfig: "aws_secrets_manager {}"})
	if err := ts.Client.Sys().EnableAuthWithOptions("awskeys", &api.EnableAuthOptions{Type: "awskeys"}); err != nil {
		t.Fatal(err)
	}
	if err := ts.Client.Sys().PutPolicy("cli", `path "secret/*" { capabilities = ["create", "read", "update", "patch", "delete", "list"] }`); err != nil {
		t.Fatal(err)
	}
	created, err := ts.Client.Logical().Write("auth/awskeys/keys/cli", map[string]any{"policies": "cli"})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"AWS_ACCESS_KEY_ID=" + created.Data["access_key_id"].(string),
		"AWS_SECRET_ACCESS_KEY=" + created.Data["secret_access_key"].(string),
		"AWS_DEFAULT_REGION=eu-central-1",
		"AWS_CONFIG_FILE=" + home + "/config",
		"AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	}
	if v := os.Getenv("PYENV_ROOT"); v != "" {
		env = append(env, "PYENV_ROOT="+v)
	}
	run := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, append([]string{"secretsmanager"}, append(args, "--endpoint-url", ts.Addr, "--output", "json")...)...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws secretsmanager %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		var m map[string]any
		if len(strings.TrimSpace(string(out))) > 0 {
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("aws secretsmanager %s answered %q: %v", args[0], out, err)
			}
		}
		return m
	}
	value := `{"user":"cli","password":"p w"}`
	cr := run("create-secret", "--name", "cli/app", "--secret-string", value)
	if !strings.HasPrefix(cr["ARN"].(string), "arn:aws:secretsmanager:eu-central-1:000000000000:secret:cli/app-") {
		t.Errorf("create-secret ARN = %v", cr["ARN"])
	}
	if got := run("get-secret-value", "--secret-id", "cli/app"); got["SecretString"] != value {
		t.Errorf("get-secret-value = %v", got)
	}
	run("put-secret-value", "--secret-id", "cli/app", "--secret-string", "second")
	list := run("list-secrets")
	if l, _ := list["SecretList"].([]any); len(l) != 1 {
		t.Errorf("list-secrets = %v", list)
	}
	del := run("delete-secret", "--secret-id", "cli/app", "--recovery-window-in-days", "7")
	if del["DeletionDate"] == nil {
		t.Errorf("delete-secret = %v", del)
	}
	run("restore-secret", "--secret-id", "cli/app")
	if got := run("get-secret-value", "--secret-id", "cli/app"); got["SecretString"] != "second" {
		t.Errorf("get-secret-value after put, delete and restore = %v", got)
	}
}
