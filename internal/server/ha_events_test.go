package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/events"
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
