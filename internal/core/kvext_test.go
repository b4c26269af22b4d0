package core_test

import (
	"reflect"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestKVExtensionParamLimits runs the KV extensions that change metadata
// (docs/aws-secrets-manager.md, "The KV extensions behind it") against
// policies that limit the parameters of metadata/<path> or data/<path>,
// through the real server and the official client: an extension is
// refused with 403, and changes nothing, whenever a metadata request with
// the body it stands for would be.
func TestKVExtensionParamLimits(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	root := s.Client
	ctx := t.Context()
	for name, rules := range map[string]string{
		// The review's policy: only max_versions may change in the
		// metadata; data may be written freely.
		"maxonly": `
path "secret/metadata/app" {
  capabilities = ["patch", "read", "delete"]
  allowed_parameters = { "max_versions" = [] }
}
path "secret/data/app" { capabilities = ["create", "update", "read"] }
path "secret/rotate/app" { capabilities = ["update"] }`,
		"nocustom": `
path "secret/metadata/app" {
  capabilities = ["patch", "read"]
  denied_parameters = { "custom_metadata" = [] }
}
path "secret/data/app" { capabilities = ["create", "update", "read"] }`,
		"needmax": `
path "secret/metadata/app" {
  capabilities = ["patch", "read"]
  required_parameters = ["max_versions"]
}
path "secret/data/app" { capabilities = ["create", "update", "read"] }`,
		// current_version may be patched in the metadata, but the data
		// rule allows only data and options.
		"dataonly": `
path "secret/metadata/app" { capabilities = ["patch", "read"] }
path "secret/data/app" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = { "data" = [], "options" = [] }
}`,
		// The extensions' names allowed: they work.
		"allowed": `
path "secret/metadata/app" {
  capabilities = ["patch", "read", "delete"]
  allowed_parameters = { "custom_metadata" = [], "current_version" = [], "recovery_window_days" = [] }
}
path "secret/data/app" { capabilities = ["create", "update", "read"] }
path "secret/rotate/app" { capabilities = ["update"] }`,
	} {
		if err := root.Sys().PutPolicy(name, rules); err != nil {
			t.Fatalf("put policy %s: %v", name, err)
		}
	}
	as := func(policy string) *api.Client {
		tok, _ := createToken(t, root, &api.TokenCreateRequest{Policies: []string{policy}})
		return clientWith(t, s, tok)
	}
	mustWrite(t, root, "secret/data/app", map[string]any{"data": map[string]any{"v": "1"}})
	mustWrite(t, root, "secret/rotation/app", map[string]any{"period": "24h", "keys": map[string]any{"v": map[string]any{"generator": "random", "encoding": "hex", "length": 8}}})
	if _, err := root.Logical().JSONMergePatch(ctx, "secret/metadata/app", map[string]any{"custom_metadata": map[string]any{"owner": "ops"}}); err != nil {
		t.Fatal(err)
	}

	// state is what a Vault reader sees: current_version and
	// custom_metadata of the key, and how many versions it has.
	type state struct {
		current, versions int
		custom            map[string]any
	}
	read := func() state {
		t.Helper()
		sec, err := root.Logical().Read("secret/metadata/app")
		if err != nil || sec == nil {
			t.Fatalf("read metadata: %v, %v", sec, err)
		}
		cur, _ := sec.Data["current_version"].(interface{ Int64() (int64, error) })
		n, _ := cur.Int64()
		cm, _ := sec.Data["custom_metadata"].(map[string]any)
		vs, _ := sec.Data["versions"].(map[string]any)
		return state{current: int(n), versions: len(vs), custom: cm}
	}
	type call func(cl *api.Client) error
	write := func(body map[string]any) call {
		return func(cl *api.Client) error {
			_, err := cl.Logical().WriteWithContext(ctx, "secret/data/app", body)
			return err
		}
	}
	patchData := func(body map[string]any) call {
		return func(cl *api.Client) error {
			_, err := cl.Logical().JSONMergePatch(ctx, "secret/data/app", body)
			return err
		}
	}
	patchMeta := func(body map[string]any) call {
		return func(cl *api.Client) error {
			_, err := cl.Logical().JSONMergePatch(ctx, "secret/metadata/app", body)
			return err
		}
	}
	rotate := func(body map[string]any) call {
		return func(cl *api.Client) error {
			_, err := cl.Logical().WriteWithContext(ctx, "secret/rotate/app", body)
			return err
		}
	}
	deleteWith := func(days string) call {
		return func(cl *api.Client) error {
			_, err := cl.Logical().DeleteWithDataWithContext(ctx, "secret/metadata/app", map[string][]string{"recovery_window_days": {days}})
			return err
		}
	}
	custom := map[string]any{"owner": "me"}
	staged := map[string]any{"data": map[string]any{"v": "2"}, "options": map[string]any{"current": false}}
	tests := []struct {
		name   string
		policy string
		do     call
		want   int // HTTP status; 0 for success
	}{
		{"plain metadata patch of custom_metadata", "maxonly", patchMeta(map[string]any{"custom_metadata": custom}), 403},
		{"data write with custom_metadata", "maxonly", write(map[string]any{"data": map[string]any{"v": "2"}, "options": map[string]any{"custom_metadata": custom}}), 403},
		{"data patch with custom_metadata", "maxonly", patchData(map[string]any{"data": map[string]any{"v": "2"}, "options": map[string]any{"custom_metadata": custom}}), 403},
		{"staged write", "maxonly", write(staged), 403},
		{"rotate with custom_metadata", "maxonly", rotate(map[string]any{"version": 2, "custom_metadata": custom}), 403},
		{"delete with a recovery window", "maxonly", deleteWith("0"), 403},
		{"denied custom_metadata", "nocustom", write(map[string]any{"data": map[string]any{"v": "2"}, "options": map[string]any{"custom_metadata": custom}}), 403},
		{"required max_versions", "needmax", write(map[string]any{"data": map[string]any{"v": "2"}, "options": map[string]any{"custom_metadata": custom}}), 403},
		{"current_version without it on data", "dataonly", patchMeta(map[string]any{"current_version": 1}), 403},
		{"empty recovery window", "allowed", deleteWith(""), 400},
		{"allowed custom_metadata", "allowed", write(map[string]any{"data": map[string]any{"v": "2"}, "options": map[string]any{"custom_metadata": custom}}), 0},
		{"allowed staged write", "allowed", write(staged), 0},
		{"cas 0 on an existing key", "allowed", write(map[string]any{"data": map[string]any{"v": "3"}, "options": map[string]any{"cas": 0}}), 400},
		{"allowed current_version", "allowed", patchMeta(map[string]any{"current_version": 3}), 0},
	}
	for _, tt := range tests {
		before := read()
		err := tt.do(as(tt.policy))
		if got := statusCode(err); got != tt.want || (tt.want == 0 && err != nil) {
			t.Fatalf("%s (policy %s): status %d, err %v; want %d", tt.name, tt.policy, got, err, tt.want)
		}
		if after := read(); tt.want != 0 && !reflect.DeepEqual(after, before) {
			t.Errorf("%s: refused but the key changed: %+v, was %+v", tt.name, after, before)
		}
	}
	if got := read(); got.current != 3 || got.custom["owner"] != "me" {
		t.Errorf("after the allowed requests: %+v, want current 3 and owner me", got)
	}
}
