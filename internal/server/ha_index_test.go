package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// doWith sends one request with extra headers and returns the status, the
// body and the response headers; redirects are not followed.
func doWith(t *testing.T, method, url, token, body string, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestIndexReadYourWrites checks X-Vault-Index with the official client:
// a client with ReadYourWrites pointed at a standby writes KV v2 (the
// standby forwards) and reads back at once, many times, always seeing its
// write; RequireState with ForwardInconsistent does the same by hand. Every
// answer of every node carries a state, and sys/ha-status shows each
// node's applied index and lag.
func TestIndexReadYourWrites(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	root := c.nodes[0].RootToken
	ctx := t.Context()

	for i := range c.nodes {
		code, body, hdr := rawGet(t, c.nodes[i].Addr+"/v1/sys/mounts", root)
		if code != http.StatusOK || hdr.Get("X-Vault-Index") == "" {
			t.Fatalf("node %d sys/mounts = %d, X-Vault-Index %q (%s)", i, code, hdr.Get("X-Vault-Index"), body)
		}
		st, err := api.ParseReplicationState(hdr.Get("X-Vault-Index"), nil)
		if err != nil {
			t.Fatalf("node %d: the client cannot parse the state: %v", i, err)
		}
		if want := c.nodes[0].Core().ClusterID(); st.ClusterID != want {
			t.Errorf("node %d state names cluster %q, want %q", i, st.ClusterID, want)
		}
	}

	cl, err := api.NewClient(&api.Config{Address: c.nodes[1].Addr, Timeout: 30 * time.Second, ReadYourWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(root)
	kv := cl.KVv2("secret")
	for i := range 40 {
		want := fmt.Sprint(i)
		if _, err := kv.Put(ctx, "ryw", map[string]any{"v": want}); err != nil {
			t.Fatalf("put %d through the standby: %v", i, err)
		}
		s, err := kv.Get(ctx, "ryw")
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if got := s.Data["v"]; got != want {
			t.Fatalf("read-your-writes %d: read %v, want %s", i, got, want)
		}
	}

	// By hand: the state of a write on the active node, required of the
	// standby, with and without forwarding when it is not reached.
	admin := c.client(t, 0, root)
	for i, fwd := range []bool{false, true} {
		var state string
		w := admin.WithResponseCallbacks(api.RecordState(&state))
		want := fmt.Sprint("by-hand-", i)
		if _, err := w.KVv2("secret").Put(ctx, "manual", map[string]any{"v": want}); err != nil {
			t.Fatal(err)
		}
		if state == "" {
			t.Fatal("the active node's answer to a write carries no X-Vault-Index")
		}
		cbs := []api.RequestCallback{api.RequireState(state)}
		if fwd {
			cbs = append(cbs, api.ForwardInconsistent())
		}
		s, err := c.client(t, 1, root).WithRequestCallbacks(cbs...).KVv2("secret").Get(ctx, "manual")
		if err != nil || s.Data["v"] != want {
			t.Fatalf("RequireState (forward %v) read = %v, %v; want %s", fwd, s, err, want)
		}
	}

	eventually(t, 10*time.Second, "sys/ha-status shows applied indexes and lags", func() error {
		code, body, _ := rawGet(t, c.nodes[0].Addr+"/v1/sys/ha-status", root)
		var out struct {
			Data struct {
				Nodes []struct {
					NodeID       string `json:"node_id"`
					ActiveNode   bool   `json:"active_node"`
					AppliedIndex uint64 `json:"applied_index"`
					LagMS        int64  `json:"lag_ms"`
				}
			}
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		if len(out.Data.Nodes) != 2 {
			return fmt.Errorf("nodes = %+v", out.Data.Nodes)
		}
		for _, n := range out.Data.Nodes {
			if n.AppliedIndex == 0 || n.LagMS < 0 {
				return fmt.Errorf("node %s: applied %d, lag %d ms", n.NodeID, n.AppliedIndex, n.LagMS)
			}
		}
		return nil
	})
}

// TestIndexRejectsBadStates checks that a forged, foreign or malformed
// X-Vault-Index is refused with 400 on every node and that the request
// then changes nothing.
func TestIndexRejectsBadStates(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	root := c.nodes[0].RootToken
	_, _, hdr := rawGet(t, c.nodes[0].Addr+"/v1/sys/mounts", root)
	good := hdr.Get("X-Vault-Index")
	st, err := api.ParseReplicationState(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	raw, _ := base64.StdEncoding.DecodeString(good)
	body, mac, _ := strings.Cut(string(raw), fmt.Sprintf(":%d:0:", st.LocalIndex))
	tests := []struct {
		name  string
		state string
	}{
		{"forged index", enc(fmt.Sprintf("%s:%d:0:%s", body, st.LocalIndex+1000, mac))},
		{"forged HMAC", enc(fmt.Sprintf("v1:%s:%d:0:%s", st.ClusterID, st.LocalIndex, strings.Repeat("ab", 32)))},
		{"other cluster", enc(fmt.Sprintf("v1:other:%d:0:%s", st.LocalIndex, mac))},
		{"not base64", "***"},
		{"malformed", enc("v1:x")},
	}
	for _, tt := range tests {
		for i := range c.nodes {
			h := http.Header{"X-Vault-Index": {good, tt.state}}
			code, out, _ := doWith(t, http.MethodPut, c.nodes[i].Addr+"/v1/secret/data/bad-state", root, `{"data":{"v":"1"}}`, h)
			if code != http.StatusBadRequest || !strings.Contains(out, "X-Vault-Index") {
				t.Errorf("%s on node %d = %d %s, want 400 naming X-Vault-Index", tt.name, i, code, out)
			}
		}
	}
	if s, err := c.client(t, 0, root).KVv2("secret").Get(t.Context(), "bad-state"); err == nil {
		t.Errorf("a refused write was stored: %v", s.Data)
	}
	// The good state alone is accepted.
	code, out, _ := doWith(t, http.MethodGet, c.nodes[1].Addr+"/v1/sys/mounts", root, "", http.Header{"X-Vault-Index": {good}})
	if code != http.StatusOK {
		t.Errorf("a valid state = %d %s", code, out)
	}
}

// TestRevokeNeverStale checks that once a revocation returns no node
// honours the old state: a token used (and cached) on every node is
// refused everywhere the moment revoke returns, as is a path a policy no
// longer grants. With one standby cut off from the notices, revoke still
// returns (within about the lag bound), and the cut standby does not serve
// the token (it redirects: it forwards nothing itself here) until it
// caught up. The standbys redirect what they do not serve, so a 403 from
// them is their own answer. It logs the time from revoke to effective
// on all nodes over many revocations (docs/performance.md).
func TestRevokeNeverStale(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, func(i int, o *testserver.Options) { o.DisableForwarding = i > 0 })
	root := c.nodes[0].RootToken
	admin := c.client(t, 0, root)
	ctx := t.Context()
	if _, err := admin.KVv2("secret").Put(ctx, "app", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Sys().PutPolicy("reader", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	newToken := func() string {
		tok, err := admin.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"reader"}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Auth.ClientToken
	}
	read := func(i int, tok string) int {
		code, _, _ := rawGet(t, c.nodes[i].Addr+"/v1/secret/data/app", tok)
		return code
	}
	servedEverywhere := func(tok string) {
		for i := range c.nodes {
			eventually(t, 10*time.Second, fmt.Sprintf("node %d serves the token", i), func() error {
				if got := read(i, tok); got != http.StatusOK {
					return fmt.Errorf("status %d", got)
				}
				return nil
			})
		}
	}
	// A standby that answers 307 did not serve the request (it may lack a
	// read lease for a moment on a loaded machine): that is allowed; an
	// answer other than 403 or 307 is not.
	refusedEverywhere := func(what, tok string) {
		for i := range c.nodes {
			got := read(i, tok)
			if got == http.StatusForbidden || (got == http.StatusTemporaryRedirect && i > 0) {
				continue
			}
			t.Errorf("%s: node %d answers %d right after it returned, want 403 (or 307 from a standby)", what, i, got)
		}
	}

	revokes := []struct {
		name   string
		revoke func(tok string) error
	}{
		{"revoke", func(tok string) error { return admin.Auth().Token().RevokeTree(tok) }},
		{"revoke-orphan", func(tok string) error { return admin.Auth().Token().RevokeOrphan(tok) }},
		{"revoke-accessor", func(tok string) error {
			s, err := admin.Auth().Token().Lookup(tok)
			if err != nil {
				return err
			}
			acc, _ := s.Data["accessor"].(string)
			return admin.Auth().Token().RevokeAccessor(acc)
		}},
	}
	for _, tt := range revokes {
		tok := newToken()
		servedEverywhere(tok)
		if err := tt.revoke(tok); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		refusedEverywhere(tt.name, tok)
	}

	// A policy narrowed by deleting it.
	tok := newToken()
	servedEverywhere(tok)
	if err := admin.Sys().DeletePolicy("reader"); err != nil {
		t.Fatal(err)
	}
	refusedEverywhere("policy delete", tok)
	if err := admin.Sys().PutPolicy("reader", `path "secret/data/app" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}

	// Node 2 is cut off from the notices and the read leases.
	tok = newToken()
	servedEverywhere(tok)
	cut := c.nodes[2].Core().HANode()
	cut.Isolate(true)
	start := time.Now()
	if err := admin.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	t.Logf("revoke with a standby cut off returned after %s (lag bound 2s)", time.Since(start).Round(time.Millisecond))
	refusedEverywhere("revoke with a standby cut off", tok)
	if got := read(2, tok); got != http.StatusTemporaryRedirect {
		t.Errorf("the cut standby answers %d, want 307 (it must not serve while cut off)", got)
	}
	cut.Isolate(false)
	eventually(t, 10*time.Second, "the standby catches up and refuses the token itself", func() error {
		if got := read(2, tok); got != http.StatusForbidden {
			return fmt.Errorf("status %d", got)
		}
		return nil
	})

	// Changes that take access away beyond the revoke endpoints, with
	// node 2 cut off so that only the barrier keeps it from serving.
	if err := admin.Sys().EnableAuthWithOptions("up", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	userToken := func(user string) string {
		if _, err := admin.Logical().Write("auth/up/users/"+user, map[string]any{"password": "pw-" + user, "token_policies": "reader"}); err != nil {
			t.Fatal(err)
		}
		s, err := admin.Logical().Write("auth/up/login/"+user, map[string]any{"password": "pw-" + user})
		if err != nil {
			t.Fatal(err)
		}
		return s.Auth.ClientToken
	}
	removals := []struct {
		name  string
		token func() string
		take  func() error
	}{
		{"auth method disabled", func() string { return userToken("u1") }, func() error { return admin.Sys().DisableAuth("up") }},
	}
	for _, tt := range removals {
		tok := tt.token()
		servedEverywhere(tok)
		cut.Isolate(true)
		if err := tt.take(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		refusedEverywhere(tt.name, tok)
		cut.Isolate(false)
	}

	// Time from revoke to effective on every node: when revoke returns.
	// For reference, a KV write on the same node (no barrier).
	var took, plain []time.Duration
	for i := range 50 {
		tok := newToken()
		start := time.Now()
		if err := admin.Auth().Token().RevokeTree(tok); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		start = time.Now()
		if _, err := admin.KVv2("secret").Put(ctx, "ref", map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
		plain = append(plain, time.Since(start))
	}
	pct := func(d []time.Duration, p int) time.Duration {
		slices.Sort(d)
		return d[(len(d)-1)*p/100].Round(10 * time.Microsecond)
	}
	t.Logf("revoke to effective on all 3 nodes over %d revocations: p50 %s, p99 %s; a KV write: p50 %s, p99 %s", len(took), pct(took, 50), pct(took, 99), pct(plain, 50), pct(plain, 99))
}
