package agent

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// eventsAgentConfig is an agent that renders secret/data/app's password
// to dest with tokenFile's token, polling every interval.
func eventsAgentConfig(addr, tokenFile, dest, interval, extra string) string {
	return fmt.Sprintf(`
vault {
  address = %q
  retry { num_retries = 0 }
}
auto_auth {
  method "token_file" {
    config = { token_file_path = %q }
  }
}
template_config {
  static_secret_render_interval = %q
  %s
}
template {
  contents    = "{{ with secret \"secret/data/app\" }}{{ .Data.data.password }}{{ end }}"
  destination = %q
}
`, addr, tokenFile, interval, extra, dest)
}

// agentToken makes a token with policy text and writes it to a file.
func agentToken(t *testing.T, cl *api.Client, dir, name, policy string) string {
	t.Helper()
	if err := cl.Sys().PutPolicy(name, policy); err != nil {
		t.Fatal(err)
	}
	sec, err := cl.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name+".token")
	writeFile(t, f, sec.Auth.ClientToken)
	return f
}

// TestAgentFollowsEvents: with a five-minute interval, a template that
// reads a KV secret is rendered again right after each change an event
// reports (write, patch, a rotation), while changes to other secrets are
// ignored.
func TestAgentFollowsEvents(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl, ctx := s.Client, t.Context()
	kv := cl.KVv2("secret")
	if _, err := kv.Put(ctx, "app", map[string]any{"password": "v1", "user": "u"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Read on the metadata path lets the metadata-delete event through
	// (it names only that path).
	tokenFile := agentToken(t, cl, dir, "app-reader", `
path "secret/data/app" { capabilities = ["read"] }
path "secret/metadata/app" { capabilities = ["read"] }
path "sys/events/subscribe/kv-v2/*" { capabilities = ["read"] }`)
	dest := filepath.Join(dir, "out.txt")
	logs := &logBuffer{}
	startAgent(t, eventsAgentConfig(s.Addr, tokenFile, dest, "5m", ""), logs)
	waitFor(t, 10*time.Second, "the agent to subscribe", func() bool { return s.Core().Events().Len() == 1 })
	if got := readFile(t, dest); got != "v1" {
		t.Fatalf("first render = %q", got)
	}

	steps := []struct {
		name   string
		change func() error
	}{
		{"write", func() error {
			_, err := kv.Put(ctx, "app", map[string]any{"password": "pw-two-abc", "user": "u"})
			return err
		}},
		{"patch", func() error { _, err := kv.Patch(ctx, "app", map[string]any{"password": "pw-three-abc"}); return err }},
		{"rotation", func() error {
			if _, err := cl.Logical().Write("secret/rotation/app", map[string]any{
				"period": "24h", "keys": map[string]any{"password": map[string]any{"generator": "random", "length": 20}},
			}); err != nil {
				return err
			}
			_, err := cl.Logical().Write("secret/rotate/app", nil)
			return err
		}},
	}
	for _, st := range steps {
		before := readFile(t, dest)
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		cur, err := kv.Get(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		want := cur.Data["password"].(string)
		if want == before {
			t.Fatalf("%s did not change the secret", st.name)
		}
		// Well under the five-minute interval: only an event explains it.
		waitFor(t, 10*time.Second, "the render after the "+st.name, func() bool { return readFile(t, dest) == want })
	}
	// Deleting makes the agent read again too (the read then fails and
	// the file keeps the last value, as with polling).
	for _, del := range []struct {
		event string
		do    func() error
	}{
		{"kv-v2/destroy", func() error { return kv.Destroy(ctx, "app", []int{1}) }},
		{"kv-v2/data-delete", func() error { return kv.Delete(ctx, "app") }},
		{"kv-v2/metadata-delete", func() error { return kv.DeleteMetadata(ctx, "app") }},
	} {
		if err := del.do(); err != nil {
			t.Fatalf("%s: %v", del.event, err)
		}
		waitFor(t, 10*time.Second, "the agent to follow "+del.event, func() bool {
			return strings.Contains(logs.String(), "event="+del.event+" path=secret/data/app")
		})
	}
	// Events about secrets the agent does not render are not followed.
	if _, err := kv.Put(ctx, "other", map[string]any{"password": "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "app", map[string]any{"password": "pw-last-abc", "user": "u"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the last render", func() bool { return readFile(t, dest) == "pw-last-abc" })
	if strings.Contains(logs.String(), "secret/data/other") {
		t.Errorf("the agent acted on another secret's event:\n%s", logs)
	}
	assertNoSecrets(t, "the agent's log", logs.String(), "pw-two-abc", "pw-three-abc", "pw-last-abc")
}

// TestAgentEventsUnavailable: when the agent may not subscribe (403) it
// says so and keeps polling on its interval; with use_events = false it
// does not try.
func TestAgentEventsUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, policy, extra, wantLog string
		// noUpgrade puts a proxy that drops WebSocket upgrades in
		// front of the server.
		noUpgrade bool
	}{
		{name: "no permission to subscribe", policy: `path "secret/data/app" { capabilities = ["read"] }`, wantLog: "events unavailable"},
		{name: "proxy without websockets", policy: `path "secret/data/app" { capabilities = ["read"] }
path "sys/events/subscribe/*" { capabilities = ["read"] }`, noUpgrade: true, wantLog: "events unavailable"},
		{name: "turned off", policy: `path "secret/data/app" { capabilities = ["read"] }
path "sys/events/subscribe/*" { capabilities = ["read"] }`, extra: "use_events = false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := testserver.Start(t)
			cl, ctx := s.Client, t.Context()
			kv := cl.KVv2("secret")
			if _, err := kv.Put(ctx, "app", map[string]any{"password": "v1"}); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			tokenFile := agentToken(t, cl, dir, "reader", tt.policy)
			dest := filepath.Join(dir, "out.txt")
			logs := &logBuffer{}
			addr := s.Addr
			if tt.noUpgrade {
				addr = noUpgradeProxy(t, s.Addr)
			}
			startAgent(t, eventsAgentConfig(addr, tokenFile, dest, "1s", tt.extra), logs)
			if _, err := kv.Put(ctx, "app", map[string]any{"password": "v2"}); err != nil {
				t.Fatal(err)
			}
			// Polling renders the change.
			waitFor(t, 15*time.Second, "the render by polling", func() bool { return readFile(t, dest) == "v2" })
			if n := s.Core().Events().Len(); n != 0 {
				t.Errorf("%d subscribers, want none", n)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			if tt.wantLog == "" && strings.Contains(logs.String(), "part=events") {
				t.Errorf("use_events = false, yet the agent tried to subscribe:\n%s", logs)
			}
		})
	}
}

// noUpgradeProxy is an HTTP proxy to target that forwards requests
// without their Upgrade header, as proxies without WebSocket support do.
func noUpgradeProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Upgrade")
		r.Header.Del("Connection")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// cutProxy is a TCP proxy that can cut every connection and refuse new
// ones while down.
type cutProxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn // guarded by mu
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) setDown(down bool) {
	p.down.Store(down)
	if down {
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
		p.mu.Unlock()
	}
}

// TestAgentEventsReconnect: the connection to the server is cut and
// refused for a while, during which the secret changes. When the server
// is reachable again the agent subscribes again and catches up with the
// change it missed (its interval is five minutes), then follows events
// again.
func TestAgentEventsReconnect(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl, ctx := s.Client, t.Context()
	kv := cl.KVv2("secret")
	if _, err := kv.Put(ctx, "app", map[string]any{"password": "pw-one-abc"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := agentToken(t, cl, dir, "reader", `
path "secret/data/app" { capabilities = ["read"] }
path "sys/events/subscribe/kv-v2/*" { capabilities = ["read"] }`)
	dest := filepath.Join(dir, "out.txt")
	proxy := newCutProxy(t, strings.TrimPrefix(s.Addr, "http://"))
	logs := &logBuffer{}
	startAgent(t, eventsAgentConfig("http://"+proxy.ln.Addr().String(), tokenFile, dest, "5m", ""), logs)
	waitFor(t, 10*time.Second, "the agent to subscribe", func() bool { return s.Core().Events().Len() == 1 })

	proxy.setDown(true)
	waitFor(t, 10*time.Second, "the subscription to end", func() bool { return s.Core().Events().Len() == 0 })
	if _, err := kv.Put(ctx, "app", map[string]any{"password": "pw-missed-abc"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the agent to notice", func() bool { return strings.Contains(logs.String(), "events unavailable") })
	if got := readFile(t, dest); got != "pw-one-abc" {
		t.Fatalf("file = %q while the server was unreachable", got)
	}
	proxy.setDown(false)
	waitFor(t, 15*time.Second, "the catch-up render after reconnecting", func() bool { return readFile(t, dest) == "pw-missed-abc" })
	waitFor(t, 10*time.Second, "the agent to subscribe again", func() bool { return s.Core().Events().Len() == 1 })
	if _, err := kv.Put(ctx, "app", map[string]any{"password": "pw-after-abc"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the render by event after reconnecting", func() bool { return readFile(t, dest) == "pw-after-abc" })
}
