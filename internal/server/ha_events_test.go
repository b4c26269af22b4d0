package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestClusterEventsReachStandby: a subscriber connected to a standby gets
// the events of writes made on the active node (through PostgreSQL's
// LISTEN/NOTIFY), still filtered by its token's ACL.
func TestClusterEventsReachStandby(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	active, standby := c.nodes[0], c.nodes[1]
	if err := active.Client.Sys().PutPolicy("watch", `path "sys/events/subscribe/*" { capabilities = ["read"] }
path "sys/policies/acl/app-*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(standby.Addr, "http") + "/v1/sys/events/subscribe/policy/*?json=true"
	var conn *websocket.Conn
	var tok string
	eventually(t, 10*time.Second, "a restricted token usable on the standby", func() error {
		sec, err := active.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"watch"}})
		if err != nil {
			return err
		}
		tok = sec.Auth.ClientToken
		cn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {tok}}})
		conn = cn
		return err
	})
	defer conn.CloseNow()
	if !standby.Core().HAStatus().Standby {
		t.Fatal("node1 is not a standby")
	}
	for _, p := range []string{"secret-ops", "app-1"} {
		if err := active.Client.Sys().PutPolicy(p, `path "x/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
	}
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read on the standby: %v", err)
	}
	var e events.Event
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if e.Type != "policy/changed" || e.Metadata["name"] != "app-1" {
		t.Errorf("standby subscriber got %s %v, want policy/changed for app-1 only", e.Type, e.Metadata)
	}
}

// TestClusterEventsStandbyWithAudit: with an audit device (each node
// writing its own file), a standby serves a subscription itself, audited
// in its own file, and its stream carries the active node's events.
func TestClusterEventsStandbyWithAudit(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(_ int, o *testserver.Options) { o.AuditAnyDir = true })
	active, standby := c.nodes[0], c.nodes[1]
	dir := t.TempDir()
	if err := active.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{
		Type: "file", Options: map[string]string{"file_path": filepath.Join(dir, "audit-{{node_id}}.log")},
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(standby.Addr, "http") + "/v1/sys/events/subscribe/policy/*?json=true"
	eventually(t, 15*time.Second, "the standby opens its own audit file", func() error {
		_, err := os.Stat(filepath.Join(dir, "audit-"+standby.NodeID+".log"))
		return err
	})
	// A standby serves only while it holds a read lease (ha_max_standby_lag):
	// until its first one, it forwards the subscription.
	eventually(t, 15*time.Second, "the standby holds a read lease", func() error {
		if !standby.Core().HANode().Fresh() {
			return errors.New("it does not")
		}
		return nil
	})
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {active.RootToken}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if n := active.Core().Events().Len(); n != 0 {
		t.Fatalf("the active node serves %d streams, want the standby to serve the subscription itself", n)
	}
	// The active node's first notices may reach the standby before it
	// listens: write until an event arrives.
	got := make(chan []byte, 1)
	go func() {
		_, b, _ := conn.Read(ctx)
		got <- b
	}()
	var b []byte
	for i := 0; b == nil; i++ {
		if err := active.Client.Sys().PutPolicy(fmt.Sprintf("p%d", i), `path "x/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		select {
		case b = <-got:
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event through the standby")
		}
	}
	var e events.Event
	if err := json.Unmarshal(b, &e); err != nil || e.Type != "policy/changed" {
		t.Errorf("event %s (%v), want policy/changed", b, err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "audit-"+standby.NodeID+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `"path":"sys/events/subscribe/policy/*"`) {
		t.Errorf("the standby's audit file does not record the subscription:\n%s", log)
	}
}

// TestClusterEventStreamSurvivesStepDown: a stream on the active node
// stays open when the node steps down, and then carries the new active
// node's events.
func TestClusterEventStreamSurvivesStepDown(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(c.nodes[0].Addr, "http") + "/v1/sys/events/subscribe/policy/*?json=true"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {c.nodes[0].RootToken}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := c.nodes[0].Client.Sys().StepDown(); err != nil {
		t.Fatal(err)
	}
	next := c.waitActive(t, 0, 20*time.Second)
	// The new active node's first notices may go out before node0
	// listens again as a standby: write until one arrives.
	got := make(chan string, 1)
	go func() {
		_, b, err := conn.Read(ctx)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		var e events.Event
		_ = json.Unmarshal(b, &e)
		got <- e.Type + " " + e.Metadata["name"]
	}()
	for {
		if err := c.nodes[next].Client.Sys().PutPolicy("after-step-down", `path "x/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			if g != "policy/changed after-step-down" {
				t.Fatalf("the stream on the former active node got %q", g)
			}
			return
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no event on the former active node's stream")
		}
	}
}
