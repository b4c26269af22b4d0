package server_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/coffer-secrets/coffer/internal/server"
	"github.com/hashicorp/vault/api"
)

// TestDevModeAWS runs `coffer server -dev` (server.Main, in this process)
// and follows its banner: the AWS Secrets Manager API is served, an
// awskeys auth method is mounted at auth/awskeys/, and a key made with the
// command the banner prints signs requests the AWS SDK sends. Nothing the
// server prints holds the key's secret.
func TestDevModeAWS(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	const root = "dev-aws-root"
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- server.Main(ctx, []string{"-dev", "-dev-root-token=" + root, "-listen=" + addr}, out, out, func(string) string { return "" })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("server.Main = %d, want 0", code)
			}
		case <-time.After(30 * time.Second):
			t.Error("the dev server did not stop within 30 s")
		}
	})
	output := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return out.w.(*bytes.Buffer).String()
	}
	cl, err := api.NewClient(&api.Config{Address: "http://" + addr, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(root)
	eventually(t, 30*time.Second, "the dev server prints its banner", func() error {
		if !strings.Contains(output(), "policies=") {
			return fmt.Errorf("output so far:\n%s", output())
		}
		return nil
	})

	auths, err := cl.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	if m := auths["awskeys/"]; m == nil || m.Type != "awskeys" {
		t.Fatalf("auth mounts = %v, want awskeys at awskeys/", auths)
	}
	// The banner's command, as `coffer write` sends it.
	m := regexp.MustCompile(`(?m)^ +coffer write (auth/awskeys/keys/dev) policies=(\S+)$`).FindStringSubmatch(output())
	if m == nil {
		t.Fatalf("no `coffer write auth/awskeys/keys/dev policies=...` line in the banner:\n%s", output())
	}
	created, err := cl.Logical().Write(m[1], map[string]any{"policies": m[2]})
	if err != nil {
		t.Fatalf("coffer write %s policies=%s: %v", m[1], m[2], err)
	}
	key := awsKey{id: created.Data["access_key_id"].(string), secret: created.Data["secret_access_key"].(string)}
	c := awsClient("http://"+addr, key)
	if _, err := c.CreateSecret(t.Context(), &sm.CreateSecretInput{Name: aws.String("dev/app"), SecretString: aws.String("s3cret value")}); err != nil {
		t.Fatalf("CreateSecret with the dev key: %v", err)
	}
	got, err := c.GetSecretValue(t.Context(), &sm.GetSecretValueInput{SecretId: aws.String("dev/app")})
	if err != nil || aws.ToString(got.SecretString) != "s3cret value" {
		t.Fatalf("GetSecretValue with the dev key = %+v, %v", got, err)
	}
	if _, err := c.ListSecrets(t.Context(), &sm.ListSecretsInput{}); err != nil {
		t.Errorf("ListSecrets with the dev key: %v", err)
	}
	if s := output(); strings.Contains(s, key.secret) || strings.Contains(s, "s3cret value") {
		t.Errorf("the server printed the key's secret or a secret value:\n%s", s)
	}
}
