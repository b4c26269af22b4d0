package kms

import (
	"testing"
	"time"
)

func TestStatusWait(t *testing.T) {
	t.Parallel()
	const s = time.Second
	tests := []struct {
		name        string
		left, limit time.Duration
		want        time.Duration
	}{
		{"probe: the limit binds", 10 * s, 5 * s, 5 * s},
		{"API server's 3s timeout", 3 * s, 5 * s, 2250 * time.Millisecond},
		{"long deadline keeps a second", 5500 * time.Millisecond, 5 * s, 4500 * time.Millisecond},
		{"short deadline keeps a quarter", 1 * s, 5 * s, 750 * time.Millisecond},
		{"deadline passed", -s, 5 * s, 0},
		{"no time left", 0, 5 * s, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := statusWait(tt.left, tt.limit); got != tt.want {
				t.Errorf("statusWait(%v, %v) = %v, want %v", tt.left, tt.limit, got, tt.want)
			}
		})
	}
}
