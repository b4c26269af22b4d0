package search_test

import (
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestMetadataWritersFollowSearchAccess: a KV metadata read names each
// version's writer (accessor, entity ID) only to a token that may use
// sys/access/search (read and sudo), which answers the same; a token that
// may only read metadata sees the versions without them.
func TestMetadataWritersFollowSearchAccess(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	cl := s.Client
	if _, err := cl.KVv2("secret").Put(ctx, "app/db", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	policies := map[string]string{
		"meta":        `path "secret/metadata/*" { capabilities = ["read"] }`,
		"search":      `path "sys/access/search" { capabilities = ["read"] }`,
		"search-sudo": `path "sys/access/search" { capabilities = ["read", "sudo"] }`,
	}
	for name, p := range policies {
		if err := cl.Sys().PutPolicyWithContext(ctx, name, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		policies []string
		want     bool
	}{
		{"metadata read only", []string{"meta"}, false},
		{"search without sudo", []string{"meta", "search"}, false},
		{"search with sudo", []string{"meta", "search-sudo"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := cl.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: tc.policies})
			if err != nil {
				t.Fatal(err)
			}
			c, err := cl.Clone()
			if err != nil {
				t.Fatal(err)
			}
			c.SetToken(sec.Auth.ClientToken)
			md, err := c.Logical().ReadWithContext(ctx, "secret/metadata/app/db")
			if err != nil {
				t.Fatal(err)
			}
			v1, _ := md.Data["versions"].(map[string]any)["1"].(map[string]any)
			if v1 == nil {
				t.Fatalf("no version 1 in %v", md.Data)
			}
			_, got := v1["created_by_accessor"]
			if got != tc.want || v1["created_time"] == nil {
				t.Errorf("version 1 = %v; want created_by_accessor shown: %v", v1, tc.want)
			}
		})
	}
	// The root token may do anything, sudo included.
	md, err := cl.Logical().ReadWithContext(ctx, "secret/metadata/app/db")
	if err != nil {
		t.Fatal(err)
	}
	if v1, _ := md.Data["versions"].(map[string]any)["1"].(map[string]any); v1["created_by_accessor"] == nil {
		t.Errorf("root's metadata read: version 1 = %v, want created_by_accessor", v1)
	}
}
