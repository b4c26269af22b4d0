package policy

import "testing"

func TestNeedsSudo(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{path: "sys/auth", want: false},
		{path: "sys/auth/", want: false},
		{path: "sys/auth/approle", want: true},
		{path: "sys/audit", want: true},
		{path: "sys/audit/file", want: true},
		{path: "sys/mounts/secret", want: false},
		{path: "sys/remount", want: true},
		{path: "sys/seal", want: true},
		{path: "sys/raw/core/mounts", want: true},
		{path: "sys/storage/snapshot", want: true},
		{path: "sys/storage/snapshot-force", want: true},
		{path: "sys/access/who", want: true},
		{path: "sys/access/report", want: true},
		{path: "sys/accessor", want: false},
		{path: "auth/token/accessors/", want: true},
		{path: "auth/token/lookup", want: false},
		{path: "sys/leases/lookup/prefix", want: true},
		{path: "sys/leases/lookup-x", want: false},
		{path: "secret/data/x", want: false},
		{path: "sys/events/webhooks", want: true},
		{path: "sys/events/webhooks/", want: true},
		{path: "sys/events/webhooks/ops", want: true},
		{path: "sys/events/webhooks/ops/replay", want: true},
		{path: "sys/events/webhooksx", want: false},
		{path: "sys/events/subscribe/kv*", want: false},
	}
	for _, tt := range tests {
		if got := NeedsSudo(tt.path); got != tt.want {
			t.Errorf("NeedsSudo(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
