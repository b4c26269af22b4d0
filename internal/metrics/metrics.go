// Package metrics holds Coffer's Prometheus metrics: one registry per
// server, the collectors the server's parts report to, and an
// instrumented storage wrapper. It never sees secrets: labels are mount
// types, operations, status classes, auth method types and audit device
// paths.
//
// Metrics is safe for concurrent use. It imports storage and the
// Prometheus client only.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one server's collectors.
type Metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	logins          *prometheus.CounterVec
	auditFailures   *prometheus.CounterVec
	revokeFailures  *prometheus.CounterVec
	bgFailures      *prometheus.CounterVec
	rotFailures     *prometheus.CounterVec
	storageOps      *prometheus.CounterVec
	storageDuration *prometheus.HistogramVec
	snapshotSuccess prometheus.Gauge
}

// Gauges are read when metrics are scraped.
type Gauges struct {
	// Sealed reports 1 while the server is sealed.
	Sealed func() float64
	// Tokens and Leases count live tokens and leases.
	Tokens func() float64
	Leases func() float64
	// BarrierEncryptions is the active key term's encryption count.
	BarrierEncryptions func() float64
	// LockoutEntries is the size of the failed-login lockout table.
	LockoutEntries func() float64
}

// New returns the collectors, registered with a fresh registry together
// with the Go runtime and process collectors.
func New(g Gauges) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_requests_total", Help: "API requests by mount type, operation and status class.",
		}, []string{"mount_type", "operation", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "coffer_request_duration_seconds", Help: "API request latency by mount type and operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"mount_type", "operation"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_logins_total", Help: "Logins by auth method type and result.",
		}, []string{"method", "result"}),
		auditFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_audit_write_failures_total", Help: "Failed audit log writes by device.",
		}, []string{"device"}),
		revokeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_lease_revocation_failures_total", Help: "Failed lease revocations by mount.",
		}, []string{"mount"}),
		bgFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_background_failures_total", Help: "Background tasks (sweeps, rotation, audit checkpoints) that stopped while unsealed, by task.",
		}, []string{"task"}),
		rotFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_kv_rotation_failures_total", Help: "Failed scheduled or requested rotations of KV secrets (the rotator or the generation failed), by mount.",
		}, []string{"mount"}),
		storageOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coffer_storage_operations_total", Help: "Physical storage operations (each barrier read or write is one).",
		}, []string{"op"}),
		storageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "coffer_storage_operation_seconds", Help: "Physical storage latency by operation.",
			Buckets: []float64{.00001, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
		}, []string{"op"}),
		snapshotSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "coffer_snapshot_last_success_timestamp_seconds", Help: "Unix time of the last scheduled snapshot written; 0 before the first.",
		}),
	}
	r.MustRegister(m.requests, m.requestDuration, m.logins, m.auditFailures, m.revokeFailures, m.bgFailures, m.rotFailures, m.storageOps, m.storageDuration, m.snapshotSuccess)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		if f != nil {
			r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
		}
	}
	gauge("coffer_sealed", "1 while the server is sealed, else 0.", g.Sealed)
	gauge("coffer_tokens", "Live service tokens.", g.Tokens)
	gauge("coffer_leases", "Live leases.", g.Leases)
	gauge("coffer_barrier_encryptions", "Encryptions under the active barrier key term (an upper bound).", g.BarrierEncryptions)
	gauge("coffer_lockout_entries", "Entries in the failed-login lockout table (existing aliases with recent failures or a lockout).", g.LockoutEntries)
	return m
}

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// StatusClass turns an HTTP status into "2xx", "4xx" and so on.
func StatusClass(status int) string {
	return strconv.Itoa(status/100) + "xx"
}

// Request records one API request.
func (m *Metrics) Request(mountType, operation string, status int, d time.Duration) {
	if mountType == "" {
		mountType = "none"
	}
	m.requests.WithLabelValues(mountType, operation, StatusClass(status)).Inc()
	m.requestDuration.WithLabelValues(mountType, operation).Observe(d.Seconds())
}

// Login records a login attempt by auth method type.
func (m *Metrics) Login(method string, ok bool) {
	result := "failure"
	if ok {
		result = "success"
	}
	m.logins.WithLabelValues(method, result).Inc()
}

// AuditFailure records a failed write to the audit device at path.
func (m *Metrics) AuditFailure(device string) { m.auditFailures.WithLabelValues(device).Inc() }

// RevokeFailure records a failed lease revocation for a mount.
func (m *Metrics) RevokeFailure(mount string) { m.revokeFailures.WithLabelValues(mount).Inc() }

// BackgroundFailure records a background task that stopped while the
// server was unsealed.
func (m *Metrics) BackgroundFailure(task string) { m.bgFailures.WithLabelValues(task).Inc() }

// RotationFailure counts a failed rotation of a KV secret at mount.
func (m *Metrics) RotationFailure(mount string) { m.rotFailures.WithLabelValues(mount).Inc() }

// SnapshotSaved records the time of a scheduled snapshot written.
func (m *Metrics) SnapshotSaved(at time.Time) {
	m.snapshotSuccess.Set(float64(at.UnixNano()) / 1e9)
}

// Storage wraps st so that every operation is counted and timed.
func (m *Metrics) Storage(st storage.Storage) storage.Storage {
	return &instrumented{st: st, m: m}
}

type instrumented struct {
	st storage.Storage
	m  *Metrics
}

func (s *instrumented) observe(op string, start time.Time) {
	s.m.storageOps.WithLabelValues(op).Inc()
	s.m.storageDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *instrumented) Get(ctx context.Context, key string) (*storage.Entry, error) {
	defer s.observe("get", time.Now())
	return s.st.Get(ctx, key)
}

func (s *instrumented) Put(ctx context.Context, e *storage.Entry) error {
	defer s.observe("put", time.Now())
	return s.st.Put(ctx, e)
}

func (s *instrumented) Delete(ctx context.Context, key string) error {
	defer s.observe("delete", time.Now())
	return s.st.Delete(ctx, key)
}

func (s *instrumented) List(ctx context.Context, prefix string) ([]string, error) {
	defer s.observe("list", time.Now())
	return s.st.List(ctx, prefix)
}

func (s *instrumented) Txn(ctx context.Context, ops []storage.Op) error {
	defer s.observe("txn", time.Now())
	return s.st.Txn(ctx, ops)
}

// Unwrap returns the wrapped storage, whose optional interfaces (such as
// [storage.Snapshotter]) [storage.As] finds through the wrapper.
func (s *instrumented) Unwrap() storage.Storage { return s.st }

// Close closes the wrapped storage when it can be closed.
func (s *instrumented) Close() error {
	if c, ok := s.st.(storage.Closer); ok {
		return c.Close()
	}
	return nil
}
