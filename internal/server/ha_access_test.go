package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/access"
)

// TestClusterAccessDirectory checks that a standby's live-token index,
// once built, follows the tokens the active node creates and revokes.
func TestClusterAccessDirectory(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	ctx := t.Context()
	admin := c.client(t, 0, c.nodes[0].RootToken)
	create := func() string {
		t.Helper()
		sec, err := admin.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h"})
		if err != nil {
			t.Fatal(err)
		}
		return sec.Auth.Accessor
	}
	first := create()
	standby := c.nodes[1].Core()
	accessors := func() (map[string]bool, error) {
		d, err := standby.AccessDirectory(ctx)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		d.Tokens.Each(func(tk *access.Token) bool {
			out[tk.Accessor] = true
			return true
		})
		return out, nil
	}
	eventually(t, 10*time.Second, "the standby lists the first token", func() error {
		got, err := accessors()
		if err != nil || !got[first] {
			return fmt.Errorf("accessors %v, %v", got, err)
		}
		return nil
	})
	second := create()
	if err := admin.Auth().Token().RevokeAccessor(first); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the standby follows a creation and a revocation", func() error {
		got, err := accessors()
		if err != nil || got[first] || !got[second] {
			return fmt.Errorf("accessors %v, %v", got, err)
		}
		return nil
	})
}
