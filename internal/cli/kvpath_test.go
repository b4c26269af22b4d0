package cli

import "testing"

func TestKVTargetAPIPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target kvTarget
		prefix string
		want   string
	}{
		{kvTarget{mount: "secret/", rel: "foo", v2: true}, "data", "secret/data/foo"},
		{kvTarget{mount: "secret/", rel: "a/b/c", v2: true}, "metadata", "secret/metadata/a/b/c"},
		{kvTarget{mount: "secret/", rel: "", v2: true}, "metadata", "secret/metadata/"},
		{kvTarget{mount: "team/apps/", rel: "x", v2: true}, "destroy", "team/apps/destroy/x"},
		{kvTarget{mount: "kv1/", rel: "foo"}, "data", "kv1/foo"},
		{kvTarget{mount: "", rel: "old/foo"}, "data", "old/foo"},
	}
	for _, tt := range tests {
		if got := tt.target.apiPath(tt.prefix); got != tt.want {
			t.Errorf("%+v.apiPath(%q) = %q, want %q", tt.target, tt.prefix, got, tt.want)
		}
	}
}
