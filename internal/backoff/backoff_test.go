package backoff

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestNext(t *testing.T) {
	t.Parallel()
	s := time.Second
	tests := []struct {
		name     string
		min, max time.Duration
		want     []time.Duration
	}{
		{name: "doubles to the cap", min: s, max: 30 * s, want: []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s}},
		{name: "postgres", min: 500 * time.Millisecond, max: 30 * s, want: []time.Duration{500 * time.Millisecond, s, 2 * s, 4 * s}},
		{name: "min equals max", min: 5 * s, max: 5 * s, want: []time.Duration{5 * s, 5 * s, 5 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := Backoff{Min: tt.min, Max: tt.max}
			var got []time.Duration
			for range tt.want {
				got = append(got, b.Next())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("waits = %v, want %v", got, tt.want)
			}
			b.Reset()
			if got := b.Next(); got != tt.min {
				t.Errorf("Next after Reset = %v, want %v", got, tt.min)
			}
		})
	}
}

func TestJitterStaysInRange(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: time.Second, Max: 8 * time.Second, Jitter: true}
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		got := b.Next()
		if got < d/2 || got > d {
			t.Fatalf("wait %d = %v, want between %v and %v", i, got, d/2, d)
		}
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !Sleep(make(chan struct{}), time.Minute) {
			t.Fatal("Sleep with an open done channel = false, want true")
		}
		if got := time.Since(start); got != time.Minute {
			t.Fatalf("Sleep waited %v, want 1m0s", got)
		}
		done := make(chan struct{})
		go func() {
			time.Sleep(time.Second)
			close(done)
		}()
		start = time.Now()
		if Sleep(done, time.Hour) {
			t.Fatal("Sleep interrupted by done = true, want false")
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("Sleep returned after %v, want 1s", got)
		}
	})
}
