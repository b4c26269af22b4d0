package server_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testbin"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestRestartKeepsData initializes a bolt-backed server, writes, stops it,
// starts a new server on the same file, unseals it and reads back.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "coffer.db")
	first, err := testserver.New(testserver.Options{BoltPath: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := first.Client.KVv2("secret").Put(ctx, "persist", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	root, keys := first.RootToken, first.UnsealKeys
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	sealed := testserver.StartWith(t, testserver.Options{BoltPath: path, Sealed: true})
	st, err := sealed.Client.Sys().SealStatus()
	if err != nil || !st.Sealed || !st.Initialized {
		t.Fatalf("restarted server: %+v, %v; want initialized and sealed", st, err)
	}
	// A wrong key does not unseal and does not break the real ones.
	if _, err := sealed.Client.Sys().Unseal("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); err == nil {
		t.Error("a wrong unseal key was accepted")
	}
	if st, err := sealed.Client.Sys().Unseal(keys[0]); err != nil || st.Sealed {
		t.Fatalf("Unseal with the real key: %+v, %v", st, err)
	}
	sealed.Client.SetToken(root)
	got, err := sealed.Client.KVv2("secret").Get(ctx, "persist")
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("after restart Get = %+v, %v", got, err)
	}
}

// cofferBin is the coffer binary TestMain builds once for the process tests.
var cofferBin string

func TestMain(m *testing.M) { testbin.Main(m, &cofferBin) }

// buildCoffer returns the path of the coffer binary built by TestMain.
func buildCoffer(t *testing.T) string {
	t.Helper()
	return cofferBin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs `coffer server --config cfg` and waits for it to answer.
func startProcess(t *testing.T, bin, cfg, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "server", "--config", cfg)
	cmd.Dir = t.TempDir() // a server writes its data directory under its working directory
	logf, err := os.Create(filepath.Join(cmd.Dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	cl, _ := api.NewClient(&api.Config{Address: "http://" + addr})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cl.Sys().SealStatus(); err == nil {
			return cmd
		}
		time.Sleep(20 * time.Millisecond) // waiting for a child process to bind its port
	}
	out, _ := os.ReadFile(logf.Name())
	t.Fatalf("server did not start:\n%s", out)
	return nil
}

// TestCrashKeepsAcknowledgedWrites writes under load, kills the server with
// SIGKILL, restarts it and checks that every acknowledged write is there.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	bin := buildCoffer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "coffer.hcl")
	conf := fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\n", filepath.Join(dir, "data", "coffer.db"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	proc := startProcess(t, bin, cfg, addr)
	cl, _ := api.NewClient(&api.Config{Address: "http://" + addr})
	res, err := cl.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range res.Keys[:2] {
		if _, err := cl.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	cl.SetToken(res.RootToken)
	if err := cl.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	acked := map[string]string{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			kv := cl.KVv2("secret")
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d/k%d", w, i)
				val := fmt.Sprintf("value-%d-%d", w, i)
				if _, err := kv.Put(ctx, key, map[string]any{"v": val}); err != nil {
					return // the server died mid-request: not acknowledged
				}
				mu.Lock()
				acked[key] = val
				mu.Unlock()
			}
		})
	}
	// Let the writers run, then kill the server while they are busy: wait
	// for acknowledged writes rather than for a fixed time.
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the writers' progress
	}
	if err := proc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	proc.Wait()
	cancel()
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d writes acknowledged before the kill; the test proves little", len(acked))
	}

	startProcess(t, bin, cfg, addr)
	cl2, _ := api.NewClient(&api.Config{Address: "http://" + addr})
	for _, k := range res.Keys[1:3] {
		if _, err := cl2.Sys().Unseal(k); err != nil {
			t.Fatal(err)
		}
	}
	cl2.SetToken(res.RootToken)
	kv := cl2.KVv2("secret")
	for key, val := range acked {
		got, err := kv.Get(t.Context(), key)
		if err != nil {
			t.Errorf("acknowledged write %s lost: %v", key, err)
			continue
		}
		if got.Data["v"] != val || got.VersionMetadata.Version != 1 {
			t.Errorf("%s = %v (version %d), want %q at version 1", key, got.Data["v"], got.VersionMetadata.Version, val)
		}
	}
	// A write that was cut off is either whole or absent: every key the
	// metadata lists has its data.
	for w := range 8 {
		list, err := cl2.Logical().List(fmt.Sprintf("secret/metadata/w%d/", w))
		if err != nil || list == nil {
			t.Fatalf("list w%d: %v, %v", w, list, err)
		}
		for _, k := range list.Data["keys"].([]any) {
			key := fmt.Sprintf("w%d/%s", w, k)
			if got, err := kv.Get(t.Context(), key); err != nil || got.Data["v"] == nil {
				t.Errorf("%s is listed but its data is missing: %v", key, err)
			}
		}
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(acked))
}

// TestSIGTERMShutsDownCleanly stops a persistent server with SIGTERM while
// a client is busy: the process exits 0, and the bolt file is released so
// that a new server opens it at once and finds every acknowledged write.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	t.Parallel()
	bin := buildCoffer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "coffer.hcl")
	conf := fmt.Sprintf("storage \"bolt\" {\n  path = %q\n}\nlistener \"tcp\" {\n  address = %q\n  tls_disable = true\n}\n", filepath.Join(dir, "coffer.db"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	proc := startProcess(t, bin, cfg, addr)
	cl, _ := api.NewClient(&api.Config{Address: "http://" + addr})
	res, err := cl.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Sys().Unseal(res.Keys[0]); err != nil {
		t.Fatal(err)
	}
	cl.SetToken(res.RootToken)
	if err := cl.Sys().Mount("kv", &api.MountInput{Type: "kv"}); err != nil {
		t.Fatal(err)
	}
	var acked []string
	for i := range 50 {
		key := fmt.Sprintf("kv/k%d", i)
		if _, err := cl.Logical().Write(key, map[string]any{"v": i}); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, key)
	}
	if err := proc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(); err != nil {
		t.Fatalf("server exit after SIGTERM: %v", err)
	}

	startProcess(t, bin, cfg, addr)
	cl2, _ := api.NewClient(&api.Config{Address: "http://" + addr})
	if _, err := cl2.Sys().Unseal(res.Keys[0]); err != nil {
		t.Fatal(err)
	}
	cl2.SetToken(res.RootToken)
	for _, key := range acked {
		if sec, err := cl2.Logical().Read(key); err != nil || sec == nil {
			t.Errorf("%s after SIGTERM restart: %v, %v", key, sec, err)
		}
	}
}
