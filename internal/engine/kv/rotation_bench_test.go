package kv

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRotationSchedulerIdle measures what 10,000 secrets with
// rotation schedules cost while none is due: the CPU the whole process
// uses over each idle second (reported as %cpu, of one core), and the
// time a backend takes to load the schedules when it starts (load-ms).
// Run with -benchtime=5x: each iteration is one second of wall time.
func BenchmarkRotationSchedulerIdle(b *testing.B) {
	const secrets = 10000
	env := logicaltest.NewEnv(map[string]string{"version": "2"})
	env.Clock = logical.SystemClock{}
	h := &harness{logicaltest.NewHarness(b, Factory, env)}
	for i := range secrets {
		h.must(req{op: opUpdate, path: fmt.Sprintf("rotation/team%d/app%d", i%100, i),
			body: `{"period":"24h","window":"1h","keys":{"k":{"generator":"random"}}}`})
	}
	// A backend starting on this storage loads every schedule.
	start := time.Now()
	logicaltest.New(b, Factory, env)
	load := time.Since(start)

	var used, elapsed time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime(b)
		time.Sleep(time.Second) // idle: both schedulers wait on their timers
		used += cpuTime(b) - c0
		elapsed += time.Since(t0)
	}
	b.ReportMetric(100*float64(used)/float64(elapsed), "%cpu")
	b.ReportMetric(float64(load.Milliseconds()), "load-ms")
}
