package server_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/hashicorp/vault/api"
)

// TestClusterPauseActive stops the active coffer process with SIGSTOP
// past its leadership lease (ha_lease_ttl = "2s"): PostgreSQL keeps its
// session, yet the standby takes over and serves writes. Then a token is
// revoked on the new active node and the old one resumes with SIGCONT:
// from its first answer on it is a standby (sys/health 429), it never
// honours the revoked token (forwarded, 403), and a write sent to it is
// forwarded to the new active node.
func TestClusterPauseActive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	const lease = "  ha_lease_ttl   = \"2s\"\n"
	nodes := []*haProcess{startHAProcessWith(t, d.Name, "pause0", lease), startHAProcessWith(t, d.Name, "pause1", lease)}
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
	old := -1
	eventually(t, 15*time.Second, "a node becomes active", func() error {
		for i, n := range nodes {
			if n.healthCode() == http.StatusOK {
				old = i
				return nil
			}
		}
		return fmt.Errorf("no node answers 200")
	})
	next := 1 - old
	oldCl, nextCl := nodes[old].client(t, root), nodes[next].client(t, root)
	if err := oldCl.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := oldCl.KVv2("secret").Put(t.Context(), "app", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := oldCl.Sys().PutPolicy("app-read", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := oldCl.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"app-read"}})
	if err != nil {
		t.Fatal(err)
	}
	token := tok.Auth.ClientToken
	read := func(p *haProcess) int {
		code, _, _ := rawGet(t, p.addr+"/v1/secret/data/app", token)
		return code
	}
	// The token works on both nodes (the standby once the change notices
	// reached it), and the active node has it cached.
	for i, n := range nodes {
		eventually(t, 10*time.Second, fmt.Sprintf("the token works on node %d", i), func() error {
			if code := read(n); code != http.StatusOK {
				return fmt.Errorf("read with the token = %d, want 200", code)
			}
			return nil
		})
	}

	proc := nodes[old].cmd.Process
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	t.Cleanup(func() { proc.Signal(syscall.SIGCONT) }) // in case the test ends early
	eventually(t, 20*time.Second, "the standby becomes active while the old active is stopped", func() error {
		if code := nodes[next].healthCode(); code != http.StatusOK {
			return fmt.Errorf("sys/health = %d", code)
		}
		return nil
	})
	t.Logf("node %d active %s after SIGSTOP of node %d (lease 2s)", next, time.Since(stopped).Round(time.Millisecond), old)
	if _, err := nextCl.KVv2("secret").Put(t.Context(), "app", map[string]any{"v": "2"}); err != nil {
		t.Fatalf("write through the new active node = %v", err)
	}
	if err := nextCl.Auth().Token().RevokeTree(token); err != nil {
		t.Fatalf("revoke on the new active node = %v", err)
	}
	if code := read(nodes[next]); code != http.StatusForbidden {
		t.Errorf("revoked token on the new active node = %d, want 403", code)
	}

	// Requests sent while the old node is stopped wait in its kernel's
	// socket buffers: when it resumes they are served at once, racing
	// its own goroutines that notice the lapsed lease. Neither kind may
	// be answered as by an active node.
	type answer struct {
		what string
		code int
		err  error
	}
	const early = 8
	answers := make(chan answer, 2*early)
	for range early {
		go func() {
			code, err := statusOf(nodes[old].addr+"/v1/sys/health", "")
			answers <- answer{"sys/health", code, err}
		}()
		go func() {
			code, err := statusOf(nodes[old].addr+"/v1/secret/data/app", token)
			answers <- answer{"read with the revoked token", code, err}
		}()
	}
	time.Sleep(200 * time.Millisecond) // let the requests reach the stopped node's sockets
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var seen []string
	defer func() { t.Logf("resumed node answered %v", seen) }()
	for range 2 * early {
		a := <-answers
		seen = append(seen, fmt.Sprintf("%s %d", a.what, a.code))
		switch {
		case a.err != nil:
			t.Errorf("%s sent to the stopped node: %v", a.what, a.err)
		case a.code == http.StatusOK:
			t.Errorf("resumed old active node answered %s with 200", a.what)
		}
	}
	eventually(t, 15*time.Second, "the resumed node refuses the revoked token", func() error {
		switch code := read(nodes[old]); code {
		case http.StatusOK:
			t.Fatalf("resumed old active node served a read with a token revoked on the new active node")
		case http.StatusForbidden:
			return nil
		default:
			return fmt.Errorf("read with the revoked token = %d", code) // not forwarding yet
		}
		return nil
	})
	eventually(t, 15*time.Second, "the resumed node answers as a standby", func() error {
		if code := nodes[old].healthCode(); code != http.StatusTooManyRequests {
			return fmt.Errorf("sys/health = %d, want 429", code)
		}
		return nil
	})
	if code := nodes[next].healthCode(); code != http.StatusOK {
		t.Errorf("new active node's sys/health = %d after the old one resumed, want 200", code)
	}
	// A write sent to the resumed node goes to the new active node.
	code, body, _ := rawDo(t, http.MethodPut, nodes[old].addr+"/v1/secret/data/app", root, `{"data":{"v":"3"}}`)
	if code != http.StatusOK {
		t.Errorf("write through the resumed node = %d %s, want 200 (forwarded)", code, body)
	}
	s, err := nextCl.KVv2("secret").Get(t.Context(), "app")
	if err != nil || s.Data["v"] != "3" {
		t.Errorf("read on the new active node = %v, %v; want v 3", s, err)
	}
	logs, _ := os.ReadFile(nodes[old].log)
	// It logs the loss: as a lapsed lease, or as a renewal that timed out
	// when the one in flight at the pause could not finish.
	if !strings.Contains(string(logs), "leadership lost") {
		t.Errorf("the resumed node did not log the loss of its leadership:\n%s", logs)
	}
}

// statusOf does a GET with token and returns the status.
func statusOf(url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
