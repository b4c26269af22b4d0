package server_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/hashicorp/vault/api"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/coffer-secrets/coffer/internal/server"
)

// bearerToken sends a Coffer token as per-RPC credentials (plain text:
// dev mode).
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// TestDevModeGCP runs `coffer server -dev -gcp-listen ADDR` and uses the
// Google Cloud Secret Manager API it serves there in plain text with the
// official client.
func TestDevModeGCP(t *testing.T) {
	t.Parallel()
	addr, gaddr := freeAddr(t), freeAddr(t)
	const root = "dev-gcp-root"
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- server.Main(ctx, []string{"-dev", "-dev-root-token=" + root, "-listen=" + addr, "-gcp-listen=" + gaddr}, out, out, func(string) string { return "" })
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
	eventually(t, 30*time.Second, "the dev server prints its banner", func() error {
		if !strings.Contains(output(), "Google Cloud Secret Manager API (gRPC) is served on "+gaddr) {
			return fmt.Errorf("output so far:\n%s", output())
		}
		return nil
	})
	cl, err := api.NewClient(&api.Config{Address: "http://" + addr, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(root)
	if err := cl.Sys().Mount("gcp-dev", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	c, err := secretmanager.NewClient(t.Context(), option.WithEndpoint(gaddr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(grpc.WithPerRPCCredentials(bearerToken(root))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep := &secretmanagerpb.Replication{Replication: &secretmanagerpb.Replication_Automatic_{Automatic: &secretmanagerpb.Replication_Automatic{}}}
	if _, err := c.CreateSecret(t.Context(), &secretmanagerpb.CreateSecretRequest{Parent: "projects/dev", SecretId: "hello", Secret: &secretmanagerpb.Secret{Replication: rep}}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	if _, err := c.AddSecretVersion(t.Context(), &secretmanagerpb.AddSecretVersionRequest{Parent: "projects/dev/secrets/hello", Payload: &secretmanagerpb.SecretPayload{Data: []byte("world")}}); err != nil {
		t.Fatalf("AddSecretVersion: %v", err)
	}
	v, err := cl.KVv2("gcp-dev").Get(t.Context(), "hello")
	if err != nil || v.Data["SecretString"] != "world" {
		t.Fatalf("Vault read = %v, %v", v, err)
	}
}

func TestGCPListenNeedsDev(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := server.Main(t.Context(), []string{"-gcp-listen=127.0.0.1:0"}, &out, &out, func(string) string { return "" }); code != 1 || !strings.Contains(out.String(), "dev mode") {
		t.Fatalf("Main(-gcp-listen) = %d, %q; want 1 and a message about dev mode", code, out.String())
	}
}
