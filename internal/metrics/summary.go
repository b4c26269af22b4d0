package metrics

import (
	"fmt"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Summary is sys/metrics in Vault's default JSON shape (the one its
// in-memory metrics sink reports): the time, then gauges, points,
// counters and samples, each named, with its labels.
//
// Coffer's metrics are Prometheus metrics, so the values differ in
// meaning from Vault's ten-second aggregates: a counter's Count and Sum
// are its total since the server started, and a sample (a histogram) has
// a Count, Sum and Mean but no Min, Max, Rate or Stddev (reported as 0).
type Summary struct {
	Timestamp string
	Gauges    []GaugeValue
	Points    []PointValue
	Counters  []SampledValue
	Samples   []SampledValue
}

// GaugeValue is one gauge.
type GaugeValue struct {
	Name   string
	Value  float64
	Labels map[string]string
}

// PointValue is one series of points; Coffer has none, but the list is
// part of the shape.
type PointValue struct {
	Name   string
	Points []float64
}

// SampledValue is one counter or one sample (histogram or summary).
type SampledValue struct {
	Name   string
	Count  int64
	Rate   float64
	Sum    float64
	Min    float64
	Max    float64
	Mean   float64
	Stddev float64
	Labels map[string]string
}

// Summary gathers every metric of the registry into Vault's JSON shape,
// stamped with now.
func (m *Metrics) Summary(now time.Time) (*Summary, error) {
	families, err := m.registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	s := &Summary{
		// Vault's sink stamps its interval in time.Time's String form.
		Timestamp: now.UTC().Truncate(time.Second).String(),
		Gauges:    []GaugeValue{},
		Points:    []PointValue{},
		Counters:  []SampledValue{},
		Samples:   []SampledValue{},
	}
	for _, f := range families {
		name := f.GetName()
		for _, mt := range f.GetMetric() {
			labels := make(map[string]string, len(mt.GetLabel()))
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				v := mt.GetCounter().GetValue()
				s.Counters = append(s.Counters, sampled(name, labels, countOf(v), v))
			case dto.MetricType_GAUGE:
				s.Gauges = append(s.Gauges, GaugeValue{Name: name, Value: finite(mt.GetGauge().GetValue()), Labels: labels})
			case dto.MetricType_UNTYPED:
				s.Gauges = append(s.Gauges, GaugeValue{Name: name, Value: finite(mt.GetUntyped().GetValue()), Labels: labels})
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := mt.GetHistogram()
				s.Samples = append(s.Samples, sampled(name, labels, int64(h.GetSampleCount()), h.GetSampleSum()))
			case dto.MetricType_SUMMARY:
				q := mt.GetSummary()
				s.Samples = append(s.Samples, sampled(name, labels, int64(q.GetSampleCount()), q.GetSampleSum()))
			}
		}
	}
	return s, nil
}

// sampled is a SampledValue of count values adding up to sum.
func sampled(name string, labels map[string]string, count int64, sum float64) SampledValue {
	v := SampledValue{Name: name, Count: count, Sum: finite(sum), Labels: labels}
	if count > 0 {
		v.Mean = finite(sum / float64(count))
	}
	return v
}

// countOf is a counter's value as a whole count.
func countOf(v float64) int64 {
	if v <= 0 || math.IsNaN(v) {
		return 0
	}
	if v >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// finite maps NaN and infinities, which JSON cannot carry, to 0.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
