package httpapi

import "testing"

func TestPathTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct{ pattern, want string }{
		{`mounts/?`, `mounts`},
		{`keys/(?P<name>[^/]+)/rotate`, `keys/{name}/rotate`},
		{`data/(?P<path>.+)`, `data/{path}`},
		{`policy/(?P<name>.+)`, `policy/{name}`},
		{`locked-users/(?P<accessor>[^/]+)/unlock/(?P<alias>.+)`, `locked-users/{accessor}/unlock/{alias}`},
		{`hmac/(?P<name>[^/]+)(?:/(?P<alg>[^/]+))?`, `hmac/{name}(?:/{alg})?`},
		{`a/(?P<x>[)(]+)`, `a/{x}`},
		{`broken/(?P<x>(`, `broken/(?P<x>(`},
	}
	for _, tt := range tests {
		if got := pathTemplate(tt.pattern); got != tt.want {
			t.Errorf("pathTemplate(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}
