package gcpapi_test

import (
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAccessSecretVersion reads one version through the official
// client over gRPC (loopback, plain text) from parallel goroutines; the
// process CPU per call includes the client's.
func BenchmarkAccessSecretVersion(b *testing.B) {
	e := newEnv(b)
	c := e.client(b, e.ts.RootToken)
	ctx := b.Context()
	if _, err := c.CreateSecret(ctx, &secretmanagerpb.CreateSecretRequest{Parent: parent, SecretId: "bench", Secret: &secretmanagerpb.Secret{Replication: automatic()}}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.AddSecretVersion(ctx, &secretmanagerpb.AddSecretVersionRequest{Parent: parent + "/secrets/bench", Payload: &secretmanagerpb.SecretPayload{Data: []byte("a 32-byte secret value, roughly.")}}); err != nil {
		b.Fatal(err)
	}
	for _, v := range []string{"latest", "1"} {
		b.Run(v, func(b *testing.B) {
			req := &secretmanagerpb.AccessSecretVersionRequest{Name: parent + "/secrets/bench/versions/" + v}
			start, wall := cpuTime(b), time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.AccessSecretVersion(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(wall).Seconds(), "req/s")
			b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
