package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/coffer-secrets/coffer/internal/k8s/csi/providerpb"
)

// TestCSIProviderServes runs `coffer csi-provider` until its context ends,
// with an operator's token in the environment: the token never reaches
// the server, the mount logs in with the pod's token alone.
func TestCSIProviderServes(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		headers []string // guarded by mu: X-Vault-Token of each request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.URL.Path+" token="+r.Header.Get("X-Vault-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":["permission denied"]}`))
	}))
	t.Cleanup(srv.Close)

	dir, err := os.MkdirTemp("", "csi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "coffer.sock")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"csi-provider", "-endpoint=unix://" + sock, "-address=" + srv.URL}, Env{
			Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr,
			Getenv: func(k string) string { return map[string]string{"COFFER_TOKEN": "operator-token"}[k] },
		})
	}()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := providerpb.NewCSIDriverProviderClient(conn)
	callCtx, stop := context.WithTimeout(t.Context(), time.Minute)
	defer stop()
	// Wait for the socket: the call waits until the provider listens.
	if _, err := client.Version(callCtx, &providerpb.VersionRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("Version: %v", err)
	}
	_, err = client.Mount(callCtx, &providerpb.MountRequest{
		Attributes: `{"roleName":"web","objects":"- {objectName: a, secretPath: secret/data/a}",` +
			`"csi.storage.k8s.io/serviceAccount.tokens":"{\"coffer\":{\"token\":\"pod-token\"}}"}`,
		Permission: "420",
	})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("Mount error = %v, want PermissionDenied from the login", err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("csi-provider exited %d, want 0; stderr:\n%s", code, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(headers) != 1 || headers[0] != "/v1/auth/kubernetes/login token=" {
		t.Errorf("requests = %q, want one login with no token", headers)
	}
	if strings.Contains(stderr.String(), "pod-token") || strings.Contains(stderr.String(), "operator-token") {
		t.Errorf("the log holds a token:\n%s", stderr.String())
	}
}
