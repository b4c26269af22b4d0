package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestClusterLockdown checks that a lockdown set on the active node is
// enforced by a standby serving reads itself, and that lifting it there
// takes effect too (the invalidation path carries sys/incident/lockdowns).
func TestClusterLockdown(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(i int, o *testserver.Options) { o.DisableForwarding = i > 0 })
	ctx := t.Context()
	admin := c.client(t, 0, c.nodes[0].RootToken)
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
	readOnStandby := func(want int) func() error {
		return func() error {
			if code, body, _ := rawGet(t, c.nodes[1].Addr+"/v1/secret/data/app", tok.Auth.ClientToken); code != want {
				return fmt.Errorf("status %d: %s", code, body)
			}
			return nil
		}
	}
	eventually(t, 10*time.Second, "the standby serves the reader", readOnStandby(http.StatusOK))
	if _, err := admin.Logical().Write("sys/incident/lockdown", map[string]any{"prefix": "secret/data/app", "mode": "deny"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the standby enforces the lockdown", readOnStandby(http.StatusForbidden))
	if _, err := admin.Logical().DeleteWithData("sys/incident/lockdown", map[string][]string{"prefix": {"secret/data/app"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the standby lifts the lockdown", readOnStandby(http.StatusOK))
}
