package metrics

import (
	"testing"
	"time"
)

func TestFailureCounters(t *testing.T) {
	t.Parallel()
	m := New(Gauges{})
	m.BackgroundFailure("lease sweep")
	m.BackgroundFailure("lease sweep")
	m.AuditFailure("file/")
	m.RevokeFailure("database/")
	m.RotationFailure("secret/")
	s, err := m.Summary(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, label, value string
		want               float64
	}{
		{"coffer_background_failures_total", "task", "lease sweep", 2},
		{"coffer_audit_write_failures_total", "device", "file/", 1},
		{"coffer_lease_revocation_failures_total", "mount", "database/", 1},
		{"coffer_kv_rotation_failures_total", "mount", "secret/", 1},
	}
	for _, tt := range tests {
		var got float64
		for _, c := range s.Counters {
			if c.Name == tt.name && c.Labels[tt.label] == tt.value {
				got = c.Sum
			}
		}
		if got != tt.want {
			t.Errorf("%s{%s=%q} = %v, want %v", tt.name, tt.label, tt.value, got, tt.want)
		}
	}
}
