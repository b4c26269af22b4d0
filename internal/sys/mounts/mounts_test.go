package mounts

import (
	"encoding/json"
	"testing"
	"time"
)

func TestTTLInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ttlInput
		wantErr bool
	}{
		{in: `null`, want: ttlInput{}},
		{in: `""`, want: ttlInput{}},
		{in: `"system"`, want: ttlInput{Set: true}},
		{in: `3600`, want: ttlInput{TTL: time.Hour, Set: true}},
		{in: `"90m"`, want: ttlInput{TTL: 90 * time.Minute, Set: true}},
		{in: `"soon"`, wantErr: true},
	}
	for _, tt := range tests {
		var got ttlInput
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("unmarshal %s = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestTablePaths checks that sys/mounts and sys/auth are the same
// endpoints over the two halves of the mount table.
func TestTablePaths(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	want := map[bool][]string{
		false: {`mounts/?`, `mounts/(?P<path>.+)/tune`, `mounts/(?P<path>.+)`},
		true:  {`auth/?`, `auth/(?P<path>.+)/tune`, `auth/(?P<path>.+)`},
	}
	for auth, patterns := range want {
		paths := a.tablePaths(auth)
		if len(paths) != len(patterns) {
			t.Fatalf("tablePaths(%v) has %d paths, want %d", auth, len(paths), len(patterns))
		}
		for i, p := range paths {
			if p.Pattern != patterns[i] || !p.TopLevel || p.Synopsis == "" {
				t.Errorf("tablePaths(%v)[%d] = %q (top level %v, synopsis %q), want %q at top level with a synopsis", auth, i, p.Pattern, p.TopLevel, p.Synopsis, patterns[i])
			}
		}
	}
}
