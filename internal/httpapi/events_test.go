package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/httpapi"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// subscribe dials the event stream of typ with token and an optional
// path filter; it returns the connection and the HTTP status of a refusal.
func subscribe(t *testing.T, s *testserver.Server, token, typ, filter string) (*websocket.Conn, int) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(s.Addr, "http") + "/v1/sys/events/subscribe/" + typ + "?json=true"
	if filter != "" {
		u += "&filter=" + filter
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {token}}})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn, http.StatusSwitchingProtocols
}

// readEvent reads one event, failing after a few seconds.
func readEvent(t *testing.T, conn *websocket.Conn) (*events.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, b, err := conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var e events.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("event %s: %v", b, err)
	}
	return &e, nil
}

// restrictedToken makes a token with one policy of the given rules.
func restrictedToken(t *testing.T, c *api.Client, name, rules string) string {
	t.Helper()
	if err := c.Sys().PutPolicy(name, rules); err != nil {
		t.Fatal(err)
	}
	sec, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// TestEventSubscribeACL: a subscriber with a restricted token sees exactly
// the events for the paths it may read, in order; one that may not
// subscribe is refused before the upgrade.
func TestEventSubscribeACL(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := restrictedToken(t, s.Client, "watcher", `
path "sys/events/subscribe/*" { capabilities = ["read"] }
path "sys/policies/acl/app-*" { capabilities = ["read"] }
`)
	none := restrictedToken(t, s.Client, "nothing", `path "sys/policies/acl/*" { capabilities = ["read"] }`)

	tests := []struct {
		name, token, typ, filter string
		wantStatus               int
		want                     []string // policy names, in order
	}{
		{"acl filters", tok, "policy/*", "", http.StatusSwitchingProtocols, []string{"app-1:write", "app-2:write", "app-1:delete"}},
		{"path filter", tok, "policy/changed", "sys/policies/acl/app-2*", http.StatusSwitchingProtocols, []string{"app-2:write"}},
		{"root sees all", s.RootToken, "*", "", http.StatusSwitchingProtocols, []string{"app-1:write", "other:write", "app-2:write", "app-1:delete"}},
		{"no subscribe permission", none, "policy/*", "", http.StatusForbidden, nil},
		{"no token", "", "policy/*", "", http.StatusForbidden, nil},
	}
	conns := make([]*websocket.Conn, len(tests))
	for i, tt := range tests {
		conn, status := subscribe(t, s, tt.token, tt.typ, tt.filter)
		if status != tt.wantStatus {
			t.Fatalf("%s: subscribe status %d, want %d", tt.name, status, tt.wantStatus)
		}
		conns[i] = conn
	}
	for _, p := range []string{"app-1", "other", "app-2"} {
		if err := s.Client.Sys().PutPolicy(p, `path "x/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Client.Sys().DeletePolicy("app-1"); err != nil {
		t.Fatal(err)
	}
	// A last event every stream may see closes each expected sequence:
	// anything unexpected shows up before it.
	if err := s.Client.Sys().PutPolicy("app-2-end", `path "x/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if conns[i] == nil {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for {
				e, err := readEvent(t, conns[i])
				if err != nil {
					t.Fatalf("read: %v (so far %q)", err, got)
				}
				if e.Metadata["name"] == "app-2-end" {
					break
				}
				if e.Type != "policy/changed" || e.Plugin.MountClass != "system" || e.ID == "" {
					t.Errorf("event %+v: want a policy/changed system event with an ID", e)
				}
				got = append(got, e.Metadata["name"]+":"+e.Metadata["operation"])
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEventSubscribeRevokedToken: the stream of a revoked token ends.
func TestEventSubscribeRevokedToken(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := restrictedToken(t, s.Client, "watcher", `path "sys/events/subscribe/*" { capabilities = ["read"] }
path "sys/policies/acl/*" { capabilities = ["read"] }`)
	conn, status := subscribe(t, s, tok, "*", "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("subscribe status %d", status)
	}
	if err := s.Client.Sys().PutPolicy("p1", `path "x/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := readEvent(t, conn); err != nil {
		t.Fatalf("first event: %v", err)
	}
	if err := s.Client.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("p2", `path "x/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	e, err := readEvent(t, conn)
	if err == nil {
		t.Fatalf("revoked token still got %+v", e)
	}
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("read after revoke: %v, want a normal closure", err)
	}
}

// TestEventSubscribeBadRequests: what cannot be a stream answers 4xx.
func TestEventSubscribeBadRequests(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tests := []struct {
		name, method, path string
		upgrade            bool
		want               int
	}{
		{"plain GET", http.MethodGet, "/v1/sys/events/subscribe/kv*?json=true", false, http.StatusBadRequest},
		{"POST", http.MethodPost, "/v1/sys/events/subscribe/kv*", true, http.StatusMethodNotAllowed},
		{"protobuf", http.MethodGet, "/v1/sys/events/subscribe/kv*?json=false", true, http.StatusBadRequest},
		{"control character filter", http.MethodGet, "/v1/sys/events/subscribe/kv*?filter=%01", true, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, s.Addr+tt.path, nil)
			req.Header.Set("X-Vault-Token", s.RootToken)
			if tt.upgrade {
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		})
	}
}

// TestEventSubscribeKV: a subscriber whose token reads only
// secret/data/app/* sees exactly the KV writes and deletes under it, in
// order, with full paths and versions and no value.
func TestEventSubscribeKV(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	tok := restrictedToken(t, s.Client, "app-reader", `
path "sys/events/subscribe/kv*" { capabilities = ["read"] }
path "secret/data/app/*" { capabilities = ["read"] }`)
	conn, status := subscribe(t, s, tok, "kv*", "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("subscribe status %d", status)
	}
	kv := s.Client.KVv2("secret")
	steps := []struct {
		path string
		del  bool
	}{
		{"app/db", false}, {"other/db", false}, {"app/db", false}, {"app/api", false}, {"other/db", true}, {"app/db", true},
	}
	for _, st := range steps {
		var err error
		if st.del {
			err = kv.Delete(ctx, st.path)
		} else {
			_, err = kv.Put(ctx, st.path, map[string]any{"password": "hunter2-" + st.path})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Put(ctx, "app/zz-end", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kv-v2/data-write secret/data/app/db 1",
		"kv-v2/data-write secret/data/app/db 2",
		"kv-v2/data-write secret/data/app/api 1",
		"kv-v2/data-delete secret/data/app/db 2",
	}
	var got []string
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, got)
		}
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("an event holds a secret value: %s", b)
		}
		var e events.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if e.Metadata["data_path"] == "secret/data/app/zz-end" {
			break
		}
		if e.Plugin.MountPath != "secret/" || e.Plugin.Plugin != "kv" {
			t.Errorf("event %s plugin_info %+v, want the kv mount at secret/", e.Type, e.Plugin)
		}
		got = append(got, e.Type+" "+e.Metadata["data_path"]+" "+e.Metadata["current_version"])
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEventStreamLimit: past MaxEventStreams a subscription answers 503
// with Retry-After; a closed stream frees its place.
func TestEventStreamLimit(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Core: s.Core(), MaxEventStreams: 1}))
	t.Cleanup(srv.Close)
	dial := func() (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sys/events/subscribe/*?json=true",
			&websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {s.RootToken}}})
	}
	first, _, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := dial()
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second stream: %v, %+v; want 503 with Retry-After", err, resp)
	}
	first.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := dial()
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream after the first closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readUntil reads events until one whose data path is end; it returns
// "TYPE PATH DATA_PATH" of those before it.
func readUntil(t *testing.T, conn *websocket.Conn, end string) []string {
	t.Helper()
	var got []string
	for {
		e, err := readEvent(t, conn)
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, got)
		}
		if e.Metadata["data_path"] == end || (e.Metadata["data_path"] == "" && e.Metadata["path"] == end) {
			return got
		}
		got = append(got, e.Type+" "+e.Metadata["path"]+" "+e.Metadata["data_path"])
	}
}

// TestEventPathsNamingTheMount: a key whose relative path starts with the
// mount's own name still gets the mount path in front (kv v2 at data/,
// kv v1 at kv1/), and the ACL is checked on that full path: a token that
// reads kv1/db (key "db") does not see key "kv1/db" (kv1/kv1/db).
func TestEventPathsNamingTheMount(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	if err := s.Client.Sys().Mount("data", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	tok := restrictedToken(t, s.Client, "kv1-db", `
path "sys/events/subscribe/*" { capabilities = ["read"] }
path "kv1/db" { capabilities = ["read"] }
path "kv1/end" { capabilities = ["read"] }`)
	all, status := subscribe(t, s, s.RootToken, "kv*", "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("subscribe status %d", status)
	}
	some, status := subscribe(t, s, tok, "kv*", "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("subscribe status %d", status)
	}
	if _, err := s.Client.KVv2("data").Put(ctx, "x", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"kv1/db", "db", "end"} {
		if _, err := s.Client.Logical().Write("kv1/"+p, map[string]any{"k": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"kv-v2/data-write data/data/x data/data/x",
		"kv-v1/write kv1/kv1/db kv1/kv1/db",
		"kv-v1/write kv1/db kv1/db",
	}
	if d := cmp.Diff(want, readUntil(t, all, "kv1/end")); d != "" {
		t.Errorf("root's events (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want[2:], readUntil(t, some, "kv1/end")); d != "" {
		t.Errorf("kv1/db reader's events (-want +got):\n%s", d)
	}
}

// TestEventStreamLockdown: a deny lockdown withholds its paths' events
// from a stream whose token has no sudo on sys/incident, even though its
// ACL allows the read; lifting it lets them through again.
func TestEventStreamLockdown(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	tok := restrictedToken(t, s.Client, "kv-reader", `
path "sys/events/subscribe/*" { capabilities = ["read"] }
path "secret/data/*" { capabilities = ["read"] }`)
	conn, status := subscribe(t, s, tok, "kv*", "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("subscribe status %d", status)
	}
	kv := s.Client.KVv2("secret")
	put := func(p string) {
		t.Helper()
		if _, err := kv.Put(ctx, p, map[string]any{"k": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.Logical().Write("sys/incident/lockdown", map[string]any{"prefix": "secret/data/pay", "mode": "deny"}); err != nil {
		t.Fatal(err)
	}
	put("pay")
	put("pay/card")
	put("app")
	put("end1")
	want := []string{"kv-v2/data-write secret/data/app secret/data/app"}
	if d := cmp.Diff(want, readUntil(t, conn, "secret/data/end1")); d != "" {
		t.Errorf("events under a deny lockdown (-want +got):\n%s", d)
	}
	if _, err := s.Client.Logical().DeleteWithData("sys/incident/lockdown", map[string][]string{"prefix": {"secret/data/pay"}}); err != nil {
		t.Fatal(err)
	}
	put("pay")
	put("end2")
	want = []string{"kv-v2/data-write secret/data/pay secret/data/pay"}
	if d := cmp.Diff(want, readUntil(t, conn, "secret/data/end2")); d != "" {
		t.Errorf("events after the lift (-want +got):\n%s", d)
	}
}

// TestEventStreamsPerToken: one token holds at most
// events.DefaultMaxPerOwner streams; the next answers 429 with a message
// saying so, another token still subscribes, and a closed stream frees
// its place.
func TestEventStreamsPerToken(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := restrictedToken(t, s.Client, "sub", `path "sys/events/subscribe/*" { capabilities = ["read"] }`)
	dial := func(token string) (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.Addr, "http")+"/v1/sys/events/subscribe/*?json=true",
			&websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {token}}})
	}
	var conns []*websocket.Conn
	for i := range events.DefaultMaxPerOwner {
		c, _, err := dial(tok)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		conns = append(conns, c)
		t.Cleanup(func() { c.CloseNow() })
	}
	_, resp, err := dial(tok)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("stream past the token's limit: %v, %+v; want 429 with Retry-After", err, resp)
	}
	var body struct{ Errors []string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Errors) != 1 || !strings.Contains(body.Errors[0], "too many event streams for this token") {
		t.Errorf("429 body %+v (%v), want the reason", body, err)
	}
	other, _, err := dial(s.RootToken)
	if err != nil {
		t.Fatalf("another token's stream: %v", err)
	}
	other.CloseNow()
	conns[0].Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _, err := dial(tok)
		if err == nil {
			c.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
