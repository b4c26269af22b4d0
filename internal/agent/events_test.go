package agent

import (
	"fmt"
	"path/filepath"
	"strings"
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
	tokenFile := agentToken(t, cl, dir, "app-reader", `
path "secret/data/app" { capabilities = ["read"] }
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
	}{
		{name: "no permission to subscribe", policy: `path "secret/data/app" { capabilities = ["read"] }`, wantLog: "events unavailable"},
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
			startAgent(t, eventsAgentConfig(s.Addr, tokenFile, dest, "1s", tt.extra), logs)
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
