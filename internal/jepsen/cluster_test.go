package jepsen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/hashicorp/vault/api"
)

// leaseTTL is the leadership lease the cluster runs with when the server
// knows the setting: short, so that a paused active node is replaced in
// about two seconds.
const leaseTTL = 2 * time.Second

// optionalStorageKeys returns storage "postgresql" settings that make
// failovers fast. Each is written into the configuration only when this
// build's parser accepts it, so that the harness runs before and after the
// features land.
func optionalStorageKeys() []string {
	return []string{
		fmt.Sprintf("ha_lease_ttl = %q", leaseTTL),
		`ha_max_standby_lag = "2s"`,
	}
}

// node is one coffer server process of the cluster, restartable with the
// same configuration, ports and audit file.
type node struct {
	id      string
	api     string // http://127.0.0.1:port
	dir     string
	cfgPath string
	logPath string
	audit   string // the node's audit file
	proxy   *proxy // the node's way to PostgreSQL

	mu     sync.Mutex
	cmd    *exec.Cmd     // guarded by mu; the running process or nil
	exited chan struct{} // guarded by mu; closed when cmd has exited
	paused bool          // guarded by mu
}

// cluster is three (or n) nodes on one fresh PostgreSQL database.
type cluster struct {
	t         testing.TB
	nodes     []*node
	unsealKey string
	root      string
	settings  []string // the optional storage keys in use
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nodeConfig is a node's configuration file: HA PostgreSQL through the
// node's proxy, a plain HTTP listener with a cluster listener beside it,
// and a file audit device of its own.
func nodeConfig(dbURL, apiAddr, clusterAddr, audit string, extra []string) string {
	var storage strings.Builder
	for _, e := range extra {
		storage.WriteString("  " + e + "\n")
	}
	return fmt.Sprintf(`storage "postgresql" {
  connection_url = %q
  ha_enabled     = true
  max_parallel   = 16
%s}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr     = %q
cluster_addr = %q
audit "file" "file" {
  file_path = %q
}
`, dbURL, storage.String(), apiAddr, clusterAddr, "http://"+apiAddr, "https://"+clusterAddr, audit)
}

// supportedKeys returns those of keys this build accepts.
func supportedKeys(tb testing.TB, keys []string) []string {
	tb.Helper()
	var ok []string
	for _, k := range keys {
		src := nodeConfig("postgres://postgres@127.0.0.1:1/x", "127.0.0.1:1", "127.0.0.1:2", "/tmp/a.log", []string{k})
		if _, err := config.Parse([]byte(src), "probe.hcl", nil); err == nil {
			ok = append(ok, k)
		}
	}
	return ok
}

// startCluster starts n nodes on a new database, with those of the
// storage settings keys that this build knows, initializes the cluster
// with one key share, unseals every node and waits for one to be active.
// It mounts KV version 2 at secret/ with room for every version the test
// writes.
func startCluster(t testing.TB, n int, keys []string) *cluster {
	t.Helper()
	d := testdb.New(t, testdb.Postgres)
	c := &cluster{t: t, settings: supportedKeys(t, keys)}
	for i := range n {
		nd := &node{id: fmt.Sprintf("n%d", i), dir: t.TempDir()}
		nd.proxy = startProxy(t, "127.0.0.1:5432")
		apiAddr := freeAddr(t)
		nd.api = "http://" + apiAddr
		nd.cfgPath = filepath.Join(nd.dir, "coffer.hcl")
		nd.logPath = filepath.Join(nd.dir, "server.log")
		nd.audit = filepath.Join(nd.dir, "audit.log")
		dbURL := "postgres://postgres@" + nd.proxy.Addr() + "/" + d.Name + "?sslmode=disable&connect_timeout=3"
		src := nodeConfig(dbURL, apiAddr, freeAddr(t), nd.audit, c.settings)
		if err := os.WriteFile(nd.cfgPath, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
		t.Cleanup(func() { nd.stop() })
	}
	for _, nd := range c.nodes {
		if err := c.start(nd); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.client(c.nodes[0], "").Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.unsealKey, c.root = res.KeysB64[0], res.RootToken
	for _, nd := range c.nodes {
		if err := c.unseal(nd); err != nil {
			t.Fatal(err)
		}
	}
	active, err := c.waitStable(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.client(active, c.root)
	if err := cl.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Logical().Write("secret/config", map[string]any{"max_versions": 100000}); err != nil {
		t.Fatal(err)
	}
	return c
}

// client returns a vault/api client of nd that never retries (a retried
// write would blur the history).
func (c *cluster) client(nd *node, token string) *api.Client {
	return newClient(c.t, nd.api, token, 5*time.Second, false)
}

func newClient(tb testing.TB, addr, token string, timeout time.Duration, ryw bool) *api.Client {
	tb.Helper()
	cl, err := api.NewClient(&api.Config{Address: addr, Timeout: timeout, MaxRetries: -1, ReadYourWrites: ryw})
	if err != nil {
		tb.Fatal(err)
	}
	cl.SetToken(token)
	return cl
}

// start runs nd's process and waits until it answers.
func (c *cluster) start(nd *node) error {
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(cofferBin, "server", "--config", nd.cfgPath)
	cmd.Env = append(os.Environ(), "COFFER_NODE_ID="+nd.id)
	cmd.Dir = nd.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	nd.mu.Lock()
	nd.cmd, nd.exited, nd.paused = cmd, exited, false
	nd.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for nd.health() == 0 {
		select {
		case <-exited:
			return fmt.Errorf("node %s exited at start:\n%s", nd.id, tail(nd.logPath, 30))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s did not answer within 30s:\n%s", nd.id, tail(nd.logPath, 30))
		}
		time.Sleep(20 * time.Millisecond) // waiting for a child process to bind its port
	}
	return nil
}

// unseal gives nd the key share.
func (c *cluster) unseal(nd *node) error {
	_, err := c.client(nd, "").Sys().Unseal(c.unsealKey)
	if err != nil {
		return fmt.Errorf("unseal %s: %w", nd.id, err)
	}
	return nil
}

// pid returns nd's process ID, or 0 when it is not running.
func (nd *node) pid() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return 0
	}
	return nd.cmd.Process.Pid
}

// kill sends SIGKILL and waits for the process to end.
func (nd *node) kill() {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop kills nd, resuming it first if it is paused.
func (nd *node) stop() {
	nd.resume()
	nd.kill()
}

// pause stops nd with SIGSTOP.
func (nd *node) pause() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return fmt.Errorf("node %s is not running", nd.id)
	}
	nd.paused = true
	return nd.cmd.Process.Signal(syscall.SIGSTOP)
}

// resume continues nd with SIGCONT if it is paused.
func (nd *node) resume() {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil && nd.paused {
		nd.cmd.Process.Signal(syscall.SIGCONT)
	}
	nd.paused = false
}

// health returns nd's sys/health status (200 active, 429 standby, 503
// sealed, 501 not initialized), or 0 when it does not answer within a
// second.
func (nd *node) health() int {
	cl := &http.Client{Timeout: time.Second}
	resp, err := cl.Get(nd.api + "/v1/sys/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// knowsLeader reports whether nd's sys/leader names a leader address.
func (nd *node) knowsLeader() bool {
	cl := &http.Client{Timeout: time.Second}
	resp, err := cl.Get(nd.api + "/v1/sys/leader")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var l struct {
		LeaderAddress string `json:"leader_address"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&l) == nil && l.LeaderAddress != ""
}

// active returns the node answering sys/health with 200, or nil (also when
// more than one does).
func (c *cluster) active() *node {
	var found *node
	for _, nd := range c.nodes {
		if nd.health() == http.StatusOK {
			if found != nil {
				return nil
			}
			found = nd
		}
	}
	return found
}

// waitStable waits until one node is active and every other is an
// unsealed standby that knows the active node, and returns the active one.
func (c *cluster) waitStable(within time.Duration) (*node, error) {
	deadline := time.Now().Add(within)
	var last string
	for {
		var active []*node
		codes := make([]string, len(c.nodes))
		standbys := 0
		for i, nd := range c.nodes {
			code := nd.health()
			codes[i] = fmt.Sprintf("%s=%d", nd.id, code)
			switch code {
			case http.StatusOK:
				active = append(active, nd)
			case http.StatusTooManyRequests:
				if nd.knowsLeader() {
					standbys++
				} else {
					codes[i] += " (leader unknown)"
				}
			}
		}
		if len(active) == 1 && standbys == len(c.nodes)-1 {
			return active[0], nil
		}
		last = strings.Join(codes, " ")
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster not stable within %s: sys/health %s", within, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logs returns the end of every node's log, for a failure message.
func (c *cluster) logs(lines int) string {
	var b strings.Builder
	for _, nd := range c.nodes {
		fmt.Fprintf(&b, "--- node %s (%s)\n%s\n", nd.id, nd.logPath, tail(nd.logPath, lines))
	}
	return b.String()
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return string(bytes.Join(ls, []byte("\n")))
}
