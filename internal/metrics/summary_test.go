package metrics

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestSummary(t *testing.T) {
	t.Parallel()
	m := New(Gauges{
		Sealed:             func() float64 { return 1 },
		Tokens:             func() float64 { return math.NaN() },
		Leases:             func() float64 { return 7 },
		BarrierEncryptions: func() float64 { return math.Inf(1) },
	})
	m.Request("kv", "read", 200, 30*time.Millisecond)
	m.Request("kv", "read", 204, 10*time.Millisecond)
	now := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	s, err := m.Summary(now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Timestamp != "2025-01-02 03:04:05 +0000 UTC" {
		t.Errorf("Timestamp = %q", s.Timestamp)
	}
	gauges := map[string]float64{}
	for _, g := range s.Gauges {
		gauges[g.Name] = g.Value
	}
	for name, want := range map[string]float64{"coffer_sealed": 1, "coffer_tokens": 0, "coffer_leases": 7, "coffer_barrier_encryptions": 0} {
		if got, ok := gauges[name]; !ok || got != want {
			t.Errorf("gauge %s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	var reads SampledValue
	for _, c := range s.Counters {
		if c.Name == "coffer_requests_total" && c.Labels["mount_type"] == "kv" && c.Labels["status"] == "2xx" {
			reads = c
		}
	}
	if reads.Count != 2 || reads.Sum != 2 || reads.Mean != 1 {
		t.Errorf("kv read counter = %+v, want count 2, sum 2, mean 1", reads)
	}
	var latency SampledValue
	for _, v := range s.Samples {
		if v.Name == "coffer_request_duration_seconds" && v.Labels["mount_type"] == "kv" {
			latency = v
		}
	}
	if latency.Count != 2 || math.Abs(latency.Sum-0.04) > 1e-9 || math.Abs(latency.Mean-0.02) > 1e-9 {
		t.Errorf("latency sample = %+v, want count 2, sum 0.04, mean 0.02", latency)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("the summary does not encode: %v", err)
	}
}
