package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestClusterRoles starts three nodes on one database: one active, two
// standbys, the third redirecting instead of forwarding. It checks
// sys/health codes, sys/leader and sys/ha-status, that writes through a
// standby reach the active node and are readable on every node, that a
// redirecting standby serves reads itself and redirects writes, and that
// sys/step-down hands the leadership to another node.
func TestClusterRoles(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, func(i int, o *testserver.Options) {
		o.DisableForwarding = i == 2
	})
	root := c.nodes[0].RootToken
	active := c.nodes[0]

	health := []struct {
		name  string
		node  int
		query string
		want  int
	}{
		{"active", 0, "", http.StatusOK},
		{"standby", 1, "", http.StatusTooManyRequests},
		{"standby with standbyok", 1, "?standbyok=true", http.StatusOK},
		{"standby with standbycode", 2, "?standbycode=472", 472},
		{"active ignores standbycode", 0, "?standbycode=472", http.StatusOK},
	}
	for _, tt := range health {
		code, body, _ := rawGet(t, c.nodes[tt.node].Addr+"/v1/sys/health"+tt.query, "")
		if code != tt.want {
			t.Errorf("%s: sys/health%s = %d, want %d (%s)", tt.name, tt.query, code, tt.want, body)
		}
		var h struct{ Standby bool }
		json.Unmarshal([]byte(body), &h)
		if h.Standby != (tt.node != 0) {
			t.Errorf("%s: health standby = %v", tt.name, h.Standby)
		}
	}

	for i := range c.nodes {
		l, err := c.client(t, i, root).Sys().Leader()
		if err != nil {
			t.Fatalf("node %d sys/leader: %v", i, err)
		}
		if !l.HAEnabled || l.IsSelf != (i == 0) || l.LeaderAddress != active.Addr {
			t.Errorf("node %d sys/leader = %+v, want ha_enabled, is_self %v, leader %s", i, l, i == 0, active.Addr)
		}
	}

	// A write through a forwarding standby lands on the active node and
	// every node reads it.
	if _, err := c.client(t, 1, root).KVv2("secret").Put(t.Context(), "through-standby", map[string]any{"v": "1"}); err != nil {
		t.Fatalf("write through standby: %v", err)
	}
	for i := range c.nodes {
		s, err := c.client(t, i, root).KVv2("secret").Get(t.Context(), "through-standby")
		if err != nil || s.Data["v"] != "1" {
			t.Errorf("node %d read = %v, %v", i, s, err)
		}
	}

	// The redirecting standby serves the read itself (200, no redirect)
	// and redirects a write to the same path on the active node.
	// It serves once it holds a read lease whose index it has applied
	// (a moment after the write); until then it redirects.
	eventually(t, 10*time.Second, "the redirecting standby serves the read itself", func() error {
		code, body, _ := rawGet(t, c.nodes[2].Addr+"/v1/secret/data/through-standby", root)
		if code != http.StatusOK || !strings.Contains(body, `"v":"1"`) {
			return fmt.Errorf("read on redirecting standby = %d %s, want 200 served locally", code, body)
		}
		return nil
	})
	code, _, hdr := rawDo(t, http.MethodPut, c.nodes[2].Addr+"/v1/secret/data/x?a=b", root, `{"data":{"v":"2"}}`)
	if want := active.Addr + "/v1/secret/data/x?a=b"; code != http.StatusTemporaryRedirect || hdr.Get("Location") != want {
		t.Errorf("write on redirecting standby = %d Location %q, want 307 %q", code, hdr.Get("Location"), want)
	}

	eventually(t, 10*time.Second, "sys/ha-status lists three nodes", func() error {
		code, body, _ := rawGet(t, c.nodes[1].Addr+"/v1/sys/ha-status", root)
		var out struct {
			Data struct {
				Nodes []struct {
					APIAddress string `json:"api_address"`
					ActiveNode bool   `json:"active_node"`
					LastEcho   string `json:"last_echo"`
				}
			}
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		actives := 0
		for _, n := range out.Data.Nodes {
			if n.ActiveNode {
				actives++
				if n.APIAddress != active.Addr {
					return fmt.Errorf("active node listed at %s", n.APIAddress)
				}
			}
			if _, err := time.Parse(time.RFC3339Nano, n.LastEcho); err != nil {
				return fmt.Errorf("last_echo %q: %v", n.LastEcho, err)
			}
		}
		if len(out.Data.Nodes) != 3 || actives != 1 {
			return fmt.Errorf("nodes = %+v", out.Data.Nodes)
		}
		return nil
	})

	// Step down through a standby (forwarded): another node takes over.
	if err := c.client(t, 1, root).Sys().StepDown(); err != nil {
		t.Fatalf("sys/step-down: %v", err)
	}
	next := c.waitActive(t, 0, 15*time.Second)
	if c.nodes[0].Core().HAStatus().Active {
		t.Errorf("node 0 is still active after stepping down")
	}
	s, err := c.client(t, next, root).KVv2("secret").Get(t.Context(), "through-standby")
	if err != nil || s.Data["v"] != "1" {
		t.Errorf("new active node %d read = %v, %v", next, s, err)
	}
	if _, err := c.client(t, 0, root).KVv2("secret").Put(t.Context(), "after-step-down", map[string]any{"v": "2"}); err != nil {
		t.Errorf("write through the old active node: %v", err)
	}
}

// TestClusterInvalidation checks that what the active node changes is seen
// by standbys that serve reads themselves: a changed policy, a revoked
// token and a rotated transit key take effect on every node as soon as the
// change notice arrives (polled briefly). The standbys redirect what they
// do not serve, so an answer other than 307 proves they served it.
func TestClusterInvalidation(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, func(i int, o *testserver.Options) { o.DisableForwarding = i > 0 })
	ctx := t.Context()
	root := c.nodes[0].RootToken
	admin := c.client(t, 0, root)
	if _, err := admin.KVv2("secret").Put(ctx, "app", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Sys().PutPolicy("reader", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
	if err != nil {
		t.Fatal(err)
	}
	appToken := tok.Auth.ClientToken
	readStatus := func(i int) int {
		code, _, _ := rawGet(t, c.nodes[i].Addr+"/v1/secret/data/app", appToken)
		return code
	}
	for i := range c.nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("node %d serves the reader token", i), func() error {
			if got := readStatus(i); got != http.StatusOK {
				return fmt.Errorf("status %d", got)
			}
			return nil
		})
	}

	// The policy loses the path: every node refuses (the standbys had the
	// token and the compiled policy cached).
	if err := admin.Sys().PutPolicy("reader", `path "secret/data/other" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("node %d refuses after the policy change", i), func() error {
			if got := readStatus(i); got != http.StatusForbidden {
				return fmt.Errorf("status %d", got)
			}
			return nil
		})
	}
	if err := admin.Sys().PutPolicy("reader", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("node %d allows again", i), func() error {
			if got := readStatus(i); got != http.StatusOK {
				return fmt.Errorf("status %d", got)
			}
			return nil
		})
	}

	// The token is revoked: every node refuses it.
	if err := admin.Auth().Token().RevokeTree(appToken); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("node %d refuses the revoked token", i), func() error {
			if got := readStatus(i); got != http.StatusForbidden {
				return fmt.Errorf("status %d", got)
			}
			return nil
		})
	}

	// Transit: a standby encrypts and decrypts itself with its cached key
	// ring; after a rotation on the active node it decrypts version 2
	// ciphertexts and its own encryptions use version 2.
	if err := admin.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Logical().Write("transit/keys/k", nil); err != nil {
		t.Fatal(err)
	}
	encrypt := func() (int, string) {
		code, body, _ := rawDo(t, http.MethodPost, c.nodes[1].Addr+"/v1/transit/encrypt/k", root, `{"plaintext":"aGk="}`)
		return code, body
	}
	eventually(t, 5*time.Second, "standby encrypts itself", func() error {
		if code, body := encrypt(); code != http.StatusOK || !strings.Contains(body, "vault:v1:") {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if _, err := admin.Logical().Write("transit/keys/k/rotate", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "standby encrypts with the rotated key", func() error {
		if code, body := encrypt(); code != http.StatusOK || !strings.Contains(body, "vault:v2:") {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	// A write on a standby is redirected, never served.
	if code, _, _ := rawDo(t, http.MethodPost, c.nodes[1].Addr+"/v1/transit/keys/k/rotate", root, ""); code != http.StatusTemporaryRedirect {
		t.Errorf("rotate on a standby = %d, want 307", code)
	}
}

// clientFrom returns an official client for node i with token whose
// connections come from the loopback address src (e.g. "127.0.0.2").
func (c *cluster) clientFrom(t *testing.T, i int, token, src string) *api.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	cfg := api.DefaultConfig()
	cfg.Address = c.nodes[i].Addr
	cfg.HttpClient = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
	cl, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(token)
	return cl
}

// TestForwardedBoundCIDRs checks that a token bound to CIDRs works through
// a standby: the standby forwards the client's address over the cluster
// transport, and the active node checks the CIDRs against it rather than
// against the standby's own address. The client connects from 127.0.0.2
// and the standby reaches the active node from 127.0.0.1. A client that
// sends the forwarding header itself, straight to the active node, is not
// believed.
func TestForwardedBoundCIDRs(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(_ int, o *testserver.Options) { o.ClusterAddr = "127.0.0.1:0" })
	root := c.nodes[0].RootToken
	admin := c.client(t, 0, root)
	if err := admin.Sys().PutPolicy("writer", `path "secret/data/*" { capabilities = ["create", "update", "read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Logical().Write("auth/token/roles/bound", map[string]any{"allowed_policies": "writer", "token_bound_cidrs": "127.0.0.2/32"}); err != nil {
		t.Fatal(err)
	}
	sec, err := admin.Auth().Token().CreateWithRole(&api.TokenCreateRequest{Policies: []string{"writer"}}, "bound")
	if err != nil {
		t.Fatal(err)
	}
	tok := sec.Auth.ClientToken
	eventually(t, 10*time.Second, "standby learns the active node's cluster address", func() error {
		l, err := c.client(t, 1, root).Sys().Leader()
		if err != nil {
			return err
		}
		if l.LeaderClusterAddress != c.nodes[0].ClusterAddr {
			return fmt.Errorf("leader_cluster_address = %q", l.LeaderClusterAddress)
		}
		return nil
	})
	write := func(cl *api.Client) error {
		_, err := cl.Logical().Write("secret/data/bound", map[string]any{"data": map[string]any{"a": "b"}})
		return err
	}
	tests := []struct {
		name   string
		node   int
		src    string
		header string // X-Coffer-Client-Addr sent by the client itself
		wantOK bool
	}{
		{name: "on the active node, from a bound address", node: 0, src: "127.0.0.2", wantOK: true},
		{name: "through the standby, from a bound address", node: 1, src: "127.0.0.2", wantOK: true},
		{name: "through the standby, from another address", node: 1, src: "127.0.0.3", wantOK: false},
		{name: "through the standby, another address claiming a bound one", node: 1, src: "127.0.0.3", header: "127.0.0.2:1234", wantOK: false},
		{name: "on the active node, another address claiming a bound one", node: 0, src: "127.0.0.3", header: "127.0.0.2:1234", wantOK: false},
	}
	for _, tt := range tests {
		cl := c.clientFrom(t, tt.node, tok, tt.src)
		if tt.header != "" {
			cl.AddHeader("X-Coffer-Client-Addr", tt.header)
		}
		err := write(cl)
		if tt.wantOK && err != nil {
			t.Errorf("%s: %v, want success", tt.name, err)
		}
		if !tt.wantOK {
			var re *api.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %v, want 403", tt.name, err)
			}
		}
	}
}
