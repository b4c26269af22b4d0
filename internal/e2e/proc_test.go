package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// proc is a coffer process the test started; it is killed when the test
// ends.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr
	done chan struct{}
}

// startProc runs the coffer binary with args and extra environment.
func startProc(t *testing.T, args, env []string) *proc {
	t.Helper()
	p := &proc{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(cofferBin, args...)
	p.cmd.Dir = t.TempDir() // the server may make its data directory there
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	})
	return p
}

// output is what the process printed so far.
func (p *proc) output() string { return string(p.out.Bytes()) }

// freeAddr is a free 127.0.0.1 port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitUntil polls check until it returns nil or within passes.
func waitUntil(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling other processes
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
}

// newClient is an API client of the server at addr with token.
func newClient(t *testing.T, addr, token string) *api.Client {
	t.Helper()
	cl, err := api.NewClient(&api.Config{Address: addr, Timeout: 30 * time.Second, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(token)
	return cl
}

// healthCode is the server's sys/health status, 0 when it does not
// answer.
func healthCode(addr string) int {
	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(addr + "/v1/sys/health")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

const devRoot = "e2e-dev-root"

// startDevServer runs `coffer server -dev` as a process (in-memory,
// unsealed, KV version 2 at secret/) and returns its address and a root
// client.
func startDevServer(t *testing.T) (*proc, string, *api.Client) {
	t.Helper()
	addr := freeAddr(t)
	p := startProc(t, []string{"server", "-dev", "-dev-root-token=" + devRoot, "-listen=" + addr}, nil)
	url := "http://" + addr
	waitUntil(t, 30*time.Second, "the dev server answers", func() error {
		if c := healthCode(url); c != http.StatusOK {
			return fmt.Errorf("sys/health = %d; output:\n%s", c, p.output())
		}
		return nil
	})
	return p, url, newClient(t, url, devRoot)
}

// startAgentProc runs `coffer agent` with cfg (HCL) and token, and waits
// until it follows events (when follow is set) or has started.
func startAgentProc(t *testing.T, dir, cfg, token string, follow bool) *proc {
	t.Helper()
	path := writeFile(t, dir, "agent.hcl", cfg)
	p := startProc(t, []string{"agent", "-config", path, "-log-level", "debug"}, []string{"VAULT_TOKEN=" + token, "COFFER_TOKEN=" + token})
	want := "authenticated and templates rendered"
	if follow {
		want = "following events"
	}
	waitUntil(t, 30*time.Second, "the agent starts", func() error {
		select {
		case <-p.done:
			t.Fatalf("the agent exited:\n%s", p.output())
		default:
		}
		if !strings.Contains(p.output(), want) {
			return fmt.Errorf("no %q in its log yet", want)
		}
		return nil
	})
	return p
}

// tokenWithPolicy creates a policy and a token that has it.
func tokenWithPolicy(t *testing.T, cl *api.Client, name, policy string) string {
	t.Helper()
	if err := cl.Sys().PutPolicy(name, policy); err != nil {
		t.Fatal(err)
	}
	sec, err := cl.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// agentConfig renders path's key to dest, polling every interval.
func agentConfig(addr, path, key, dest, interval string) string {
	return fmt.Sprintf(`
vault {
  address = %q
}
template_config {
  static_secret_render_interval = %q
}
template {
  contents    = "{{ with secret \"%s\" }}{{ .Data.data.%s }}{{ end }}"
  destination = %q
}
`, addr, interval, path, key, dest)
}
