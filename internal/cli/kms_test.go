package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	kmsapi "k8s.io/kms/apis/v2"
)

func TestKMSPluginUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfg, []byte("vault { address = \"http://127.0.0.1:1\" }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := "unix://" + filepath.Join(dir, "kms.sock")
	vars := map[string]string{"COFFER_ADDR": "http://127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no key", []string{"-listen", sock}, "-transit-key is required"},
		{"argument", []string{"-transit-key", "k", "extra"}, "Too many arguments"},
		{"token value", []string{"-transit-key", "k", "-token", "s.not-a-file-but-a-token"}, "-token must name a file"},
		{"token and token-file", []string{"-transit-key", "k", "-token", tokFile, "-token-file", cfg}, "different files"},
		{"config and token-file", []string{"-transit-key", "k", "-config", cfg, "-token-file", tokFile}, "exclusive"},
		{"config without auto_auth", []string{"-transit-key", "k", "-config", cfg}, "no auto_auth block"},
		{"no token", []string{"-transit-key", "k", "-listen", sock}, "No token"},
		{"bad key", []string{"-transit-key", "a/b", "-token-file", tokFile, "-listen", sock}, "not allowed"},
		{"bad endpoint", []string{"-transit-key", "k", "-token-file", tokFile, "-listen", "tcp://127.0.0.1:1"}, "unsupported scheme"},
		{"abstract socket", []string{"-transit-key", "k", "-token-file", tokFile, "-listen", "unix:///@coffer-kms"}, "abstract socket"},
		{"bad log level", []string{"-transit-key", "k", "-log-level", "loud"}, "Invalid -log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"COFFER_ADDR": vars["COFFER_ADDR"], "HOME": t.TempDir()}
			code, _, stderr := runCLI(t, env, "", append([]string{"kms-plugin"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
			if strings.Contains(stderr, "s.not-a-file-but-a-token") {
				t.Errorf("stderr %q echoes the -token value", stderr)
			}
		})
	}
}

// TestKMSPluginAppRole runs `coffer kms-plugin -config` in process with an
// AppRole auto_auth whose tokens live two seconds at most: the plugin
// logs in again as they expire and keeps answering the API server.
func TestKMSPluginAppRole(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	if err := cl.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("transit/keys/k8s-etcd", nil); err != nil {
		t.Fatal(err)
	}
	policy := `path "transit/encrypt/k8s-etcd" { capabilities = ["update"] }
path "transit/decrypt/k8s-etcd" { capabilities = ["update"] }
path "transit/keys/k8s-etcd" { capabilities = ["read"] }`
	if err := cl.Sys().PutPolicy("kms-plugin", policy); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("auth/approle/role/kms", map[string]any{"token_policies": "kms-plugin", "token_ttl": "2s", "token_max_ttl": "3s"}); err != nil {
		t.Fatal(err)
	}
	rid, err := cl.Logical().Read("auth/approle/role/kms/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := cl.Logical().Write("auth/approle/role/kms/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secretID := sid.Data["secret_id"].(string)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := write("agent.hcl", fmt.Sprintf(`
vault { address = %q }
auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = %q
      secret_id_file_path = %q
    }
  }
}
`, s.Addr, write("role_id", rid.Data["role_id"].(string)), write("secret_id", secretID)))
	sockDir, err := os.MkdirTemp("", "kmscli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	socket := filepath.Join(sockDir, "kms.sock")

	var stdout, stderr lockedBuffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return map[string]string{"HOME": dir}[k] }}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"kms-plugin", "-config", cfg, "-transit-key", "k8s-etcd", "-listen", "unix://" + socket, "-log-level", "debug"}, env)
	}()

	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kms := kmsapi.NewKeyManagementServiceClient(conn)
	// Wait, as the API server polls, until the plugin has logged in a
	// second time: its first token reached its max TTL.
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(stderr.String(), `msg=authenticated`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the plugin did not log in twice; its log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var st *kmsapi.StatusResponse
	for {
		st, err = kms.Status(ctx, &kmsapi.StatusRequest{})
		if err == nil && st.Healthz == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Status = %v, %v; never healthy", st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out, errOut := runCLI(t, nil, "", "kms-plugin", "-probe", "-listen", "unix://"+socket); code != exitOK || !strings.Contains(out, "healthz: ok") {
		t.Errorf("kms-plugin -probe = %d, %q, %q; want 0 and healthz: ok", code, out, errOut)
	}
	pt := []byte("0123456789abcdef0123456789abcdef")
	enc, err := kms.Encrypt(ctx, &kmsapi.EncryptRequest{Plaintext: pt})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	dec, err := kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: enc.Ciphertext, KeyId: enc.KeyId, Annotations: enc.Annotations})
	if err != nil || !bytes.Equal(dec.GetPlaintext(), pt) {
		t.Fatalf("Decrypt = %v, %v; want the plaintext", dec, err)
	}
	// A bad call is logged with its status, not its content.
	if _, err := kms.Decrypt(ctx, &kmsapi.DecryptRequest{Ciphertext: []byte("vault:v1:Z2FyYmFnZQ=="), KeyId: enc.KeyId}); err == nil {
		t.Fatal("Decrypt of garbage succeeded")
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin did not stop")
	}
	log := stderr.String()
	if !strings.Contains(log, "kms call failed") {
		t.Errorf("the failed Decrypt is not logged:\n%s", log)
	}
	for _, secret := range []string{secretID, string(enc.Ciphertext), "Z2FyYmFnZQ==", "0123456789abcdef", cl.Token()} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds a secret (%.6s...):\n%s", secret, log)
		}
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("the socket is left behind: %v", err)
	}
	if code, _, _ := runCLI(t, nil, "", "kms-plugin", "-probe", "-listen", "unix://"+socket); code != exitServer {
		t.Errorf("kms-plugin -probe of a stopped plugin = %d, want %d", code, exitServer)
	}
}

// TestKMSPluginTokenSources runs the plugin with a token from the
// environment, from -token-file and from -token naming a file: each
// serves a healthy Status.
func TestKMSPluginTokenSources(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if err := s.Client.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("transit/keys/k8s-etcd", nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(s.RootToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"COFFER_TOKEN", map[string]string{"COFFER_TOKEN": s.RootToken}, nil},
		{"VAULT_TOKEN", map[string]string{"VAULT_TOKEN": s.RootToken}, nil},
		{"-token-file", nil, []string{"-token-file", tokFile}},
		{"-token naming a file", nil, []string{"-token", tokFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sockDir, err := os.MkdirTemp("", "kmscli")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(sockDir) })
			listen := "unix://" + filepath.Join(sockDir, "kms.sock")
			vars := map[string]string{"COFFER_ADDR": s.Addr, "HOME": dir}
			for k, v := range tt.env {
				vars[k] = v
			}
			var stdout, stderr lockedBuffer
			env := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- Run(ctx, append([]string{"kms-plugin", "-transit-key", "k8s-etcd", "-listen", listen}, tt.args...), env)
			}()
			deadline := time.Now().Add(60 * time.Second)
			for {
				code, out, _ := runCLI(t, nil, "", "kms-plugin", "-probe", "-listen", listen)
				if code == exitOK && strings.Contains(out, "healthz: ok\nkey_id: k8s-etcd:v1\n") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("never healthy: probe %d %q; plugin log:\n%s", code, out, stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("exit %d; log:\n%s", code, stderr.String())
			}
			if strings.Contains(stderr.String(), s.RootToken) {
				t.Errorf("the log holds the token:\n%s", stderr.String())
			}
		})
	}
}
