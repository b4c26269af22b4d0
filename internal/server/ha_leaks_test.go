package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"
)

// TestClusterLeaksCheck: sys/leaks/check sent to a standby is forwarded
// to the active node, which answers from its index; after a failover the
// new active node builds its own index from the shared storage (with the
// same index key) and finds the secrets written before and after.
func TestClusterLeaksCheck(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	active, standby := c.nodes[0], c.nodes[1]
	ctx := t.Context()
	hashOf := func(v string) string {
		s := sha256.Sum256([]byte(v))
		return base64.StdEncoding.EncodeToString(s[:])
	}
	first := fmt.Sprint("first-live-secret-", time.Now().UnixNano())
	if _, err := active.Client.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": first}); err != nil {
		t.Fatal(err)
	}
	checkVia := func(name string, i int, v string) {
		t.Helper()
		eventually(t, 15*time.Second, "check via "+name, func() error {
			sec, err := c.nodes[i].Client.Logical().WriteWithContext(ctx, "sys/leaks/check", map[string]any{"candidates": []string{hashOf(v)}})
			if err != nil {
				return err
			}
			ms, _ := sec.Data["matches"].([]any)
			if len(ms) != 1 {
				return fmt.Errorf("matches %v, want one", sec.Data["matches"])
			}
			m, _ := ms[0].(map[string]any)
			if m["readable"] != true || m["path"] != "app/db" || m["current"] != true {
				return fmt.Errorf("match %v, want app/db readable and current", m)
			}
			return nil
		})
	}
	if !standby.Core().HAStatus().Standby {
		t.Fatal("node1 is not a standby")
	}
	checkVia("the standby", 1, first)

	if err := active.Client.Sys().StepDown(); err != nil {
		t.Fatal(err)
	}
	now := c.waitActive(t, 0, 20*time.Second)
	second := fmt.Sprint("second-live-secret-", time.Now().UnixNano())
	eventually(t, 15*time.Second, "write on the new active node", func() error {
		_, err := c.nodes[now].Client.KVv2("secret").Put(ctx, "app/db", map[string]any{"password": second})
		return err
	})
	checkVia("the new active node", now, second)
}
