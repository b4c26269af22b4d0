package plugins

import (
	"errors"
	"slices"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

func TestCatalog(t *testing.T) {
	t.Parallel()
	c := &Catalog{Auth: []string{"userpass", "approle"}, Secret: []string{"kv", "transit"}, Database: []string{"postgresql-database-plugin"}, Version: "v1.2.3"}
	b := &framework.Backend{Paths: c.Paths()}
	call := func(op logical.Operation, path string) (*logical.Response, error) {
		return b.HandleRequest(t.Context(), &logical.Request{Operation: op, Path: path})
	}
	resp, err := call(logical.ListOperation, "plugins/catalog/auth")
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Data.(*framework.ListData).Keys; !slices.Equal(got, []string{"approle", "userpass"}) {
		t.Errorf("list auth = %q, want sorted [approle userpass]", got)
	}
	tests := []struct {
		path    string
		found   bool
		wantErr error
	}{
		{path: "plugins/catalog/secret/kv", found: true},
		{path: "plugins/catalog/kv", found: true},
		{path: "plugins/catalog/auth/kv"},
		{path: "plugins/catalog/nope"},
		{path: "plugins/catalog/widget/kv", wantErr: logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		resp, err := call(logical.ReadOperation, tt.path)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("read %s error = %v, want %v", tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil || (resp != nil) != tt.found {
			t.Errorf("read %s = %v, %v; want found %v", tt.path, resp, err, tt.found)
			continue
		}
		if tt.found {
			if v := resp.Data.(pluginOutput).Version; v != "v1.2.3+builtin" {
				t.Errorf("read %s version = %q, want v1.2.3+builtin", tt.path, v)
			}
		}
	}
	if _, err := call(logical.UpdateOperation, "plugins/catalog/secret/mine"); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("register error = %v, want an invalid-request error", err)
	}
}
