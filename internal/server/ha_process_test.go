package server_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/hashicorp/vault/api"
)

// haProcess is one coffer server process of a cluster.
type haProcess struct {
	addr string
	cmd  *exec.Cmd
	log  string
}

// startHAProcess runs `coffer server` on PostgreSQL database db with HA.
func startHAProcess(t *testing.T, db, node string) *haProcess {
	t.Helper()
	return startHAProcessWith(t, db, node, "")
}

// startHAProcessWith is startHAProcess with more lines in the storage
// block.
func startHAProcessWith(t *testing.T, db, node, storageLines string) *haProcess {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "coffer.hcl")
	src := fmt.Sprintf(`storage "postgresql" {
  connection_url = %q
  ha_enabled     = true
  max_parallel   = 16
%s}
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr = %q
`, pgURL(db), storageLines, addr, "http://"+addr)
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &haProcess{addr: "http://" + addr, log: filepath.Join(dir, "server.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(cofferBin, "server", "--config", cfg)
	p.cmd.Env = append(os.Environ(), "COFFER_NODE_ID="+node)
	p.cmd.Dir = dir // not the package's folder: the server may make its data directory there
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait(); logf.Close() })
	cl := p.client(t, "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := cl.Sys().SealStatus(); err == nil {
			return p
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(p.log)
			t.Fatalf("node %s did not start:\n%s", node, out)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a child process to bind its port
	}
}

func (p *haProcess) client(t *testing.T, token string) *api.Client {
	t.Helper()
	cl, err := api.NewClient(&api.Config{Address: p.addr, Timeout: 10 * time.Second, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(token)
	return cl
}

// healthCode returns the node's sys/health status, or 0 when it does not
// answer.
func (p *haProcess) healthCode() int {
	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(p.addr + "/v1/sys/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestClusterKillActiveUnderLoad runs three coffer processes on one
// database, writes through every node from several goroutines, kills the
// active process with SIGKILL, and checks that a standby becomes active
// within 10 s and that every acknowledged write is readable afterwards.
func TestClusterKillActiveUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes")
	}
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	var nodes []*haProcess
	for i := range 3 {
		nodes = append(nodes, startHAProcess(t, d.Name, fmt.Sprintf("proc%d", i)))
	}
	res, err := nodes[0].client(t, "").Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	root := res.RootToken
	for _, n := range nodes {
		if _, err := n.client(t, "").Sys().Unseal(res.KeysB64[0]); err != nil {
			t.Fatal(err)
		}
	}
	activeNode := func(skip int) int {
		for i, n := range nodes {
			if i != skip && n.healthCode() == http.StatusOK {
				return i
			}
		}
		return -1
	}
	var active int
	eventually(t, 15*time.Second, "a node becomes active", func() error {
		if active = activeNode(-1); active < 0 {
			return fmt.Errorf("no node answers 200")
		}
		return nil
	})
	if err := nodes[active].client(t, root).Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []string // guarded by mu
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	clients := make([]*api.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = n.client(t, root)
	}
	const writers = 4
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cl := clients[(w+i)%len(clients)]
				key := fmt.Sprintf("w%d-%d", w, i)
				if _, err := cl.KVv2("secret").Put(t.Context(), key, map[string]any{"v": key}); err == nil {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		})
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	// Let writes build up before the kill: wait for them, not for a time.
	eventually(t, 60*time.Second, "writes are acknowledged before the kill", func() error {
		if n := ackedCount(); n < 50 {
			return fmt.Errorf("%d writes acknowledged so far", n)
		}
		return nil
	})
	killed := time.Now()
	if err := nodes[active].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var next int
	eventually(t, 10*time.Second, "a standby becomes active after the kill", func() error {
		if next = activeNode(active); next < 0 {
			return fmt.Errorf("no surviving node answers 200")
		}
		return nil
	})
	t.Logf("node %d active %s after the kill", next, time.Since(killed).Round(time.Millisecond))
	// Writes continue on the new active node.
	before := ackedCount()
	eventually(t, 60*time.Second, "writes are acknowledged after the failover", func() error {
		if n := ackedCount(); n < before+20 {
			return fmt.Errorf("%d writes acknowledged since the failover", n-before)
		}
		return nil
	})
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d writes were acknowledged; the load did not run", len(acked))
	}
	cl := nodes[next].client(t, root)
	missing := 0
	for _, key := range acked {
		s, err := cl.KVv2("secret").Get(t.Context(), key)
		if err != nil || s.Data["v"] != key {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged write %s: %v, %v", key, s, err)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged writes are missing", missing, len(acked))
	}
	t.Logf("%d acknowledged writes all readable", len(acked))
}

// TestRevokeWithStandbyStopped runs two coffer processes, caches a token
// on the standby, stops the standby with SIGSTOP and revokes the token on
// the active node: revoke returns (within about the lag bound, 2 s, since
// the stopped standby cannot acknowledge), and once the standby runs again
// it never honours the token, from its first request on.
func TestRevokeWithStandbyStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	nodes := []*haProcess{startHAProcess(t, d.Name, "stop0"), startHAProcess(t, d.Name, "stop1")}
	res, err := nodes[0].client(t, "").Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if _, err := n.client(t, "").Sys().Unseal(res.KeysB64[0]); err != nil {
			t.Fatal(err)
		}
	}
	active := -1
	eventually(t, 15*time.Second, "a node becomes active", func() error {
		for i, n := range nodes {
			if n.healthCode() == http.StatusOK {
				active = i
				return nil
			}
		}
		return fmt.Errorf("no node answers 200")
	})
	standby := nodes[1-active]
	admin := nodes[active].client(t, res.RootToken)
	if err := admin.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.KVv2("secret").Put(t.Context(), "app", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Sys().PutPolicy("reader", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := admin.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := sec.Auth.ClientToken
	read := func() int {
		code, _, _ := rawGet(t, standby.addr+"/v1/secret/data/app", tok)
		return code
	}
	eventually(t, 15*time.Second, "the standby serves the token", func() error {
		if got := read(); got != http.StatusOK {
			return fmt.Errorf("status %d", got)
		}
		return nil
	})
	if err := standby.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standby.cmd.Process.Signal(syscall.SIGCONT) })
	start := time.Now()
	if err := admin.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	t.Logf("revoke with the standby stopped returned after %s", time.Since(start).Round(time.Millisecond))
	if err := standby.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if got := read(); got != http.StatusForbidden {
			t.Fatalf("read %d on the resumed standby = %d, want 403", i, got)
		}
	}
}
