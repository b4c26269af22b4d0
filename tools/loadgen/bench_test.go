package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testbin"
)

// cofferBin is the coffer binary the benchmarks run, built by TestMain.
var cofferBin string

func TestMain(m *testing.M) { testbin.Main(m, &cofferBin) }

// The benchmarks below measure the server as an operator runs it: the
// built coffer binary in a process of its own (bolt storage with fsync,
// the default configuration, 1,000 secrets written first), driven over
// loopback by this load generator's own workers, each with a keep-alive
// connection. The server's CPU time comes from /proc/PID/stat of the
// server process, before and after, so no client work is in it and
// nothing is subtracted (see docs/performance.md for why the in-process
// benchmarks it replaces were misleading).
//
//	go test -run '^$' -bench Server -benchtime 5000x ./tools/loadgen/
//
// The kernel counts CPU time in 10 ms ticks: give each scenario a few
// thousand requests (-benchtime 5000x) so that a tick is noise.
//
// With $COFFER_BENCH_AUDIT set, a file audit device is enabled first.

// benchServer is a coffer server process set up for a benchmark.
type benchServer struct {
	cfg config
	cl  *http.Client
}

// startBenchServer starts the binary on a free port with bolt storage in
// a temporary directory, initializes, unseals and mounts KV v2, and writes
// the secrets; the process is stopped when b ends.
func startBenchServer(b *testing.B, keys int) *benchServer {
	b.Helper()
	dir := b.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	hcl := fmt.Sprintf("audit_allowed_dirs = [%q]\nstorage \"bolt\" {\n path = %q\n}\nlistener \"tcp\" {\n address = %q\n tls_disable = true\n}\n", dir, filepath.Join(dir, "coffer.db"), addr)
	if err := os.WriteFile(filepath.Join(dir, "coffer.hcl"), []byte(hcl), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(cofferBin, "server", "-config", filepath.Join(dir, "coffer.hcl"), "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	s := &benchServer{
		cfg: config{addr: "http://" + addr, c: 64, keys: keys, valueSize: 150, mount: "secret", pids: []int{cmd.Process.Pid}},
		cl:  newClient(64),
	}
	b.Cleanup(s.cl.CloseIdleConnections)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(s.cfg.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("no health answer from the server: %v", err)
		}
	}
	ctx := context.Background()
	if s.cfg.token, err = setup(ctx, s.cl, &s.cfg, io.Discard); err != nil {
		b.Fatal(err)
	}
	if os.Getenv("COFFER_BENCH_AUDIT") != "" {
		cfg := s.cfg
		cfg.op, cfg.auditPath = "audit-on", filepath.Join(dir, "audit.log")
		if err := run(ctx, &cfg, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := fill(ctx, s.cl, &s.cfg); err != nil {
		b.Fatal(err)
	}
	return s
}

// bench runs op b.N times from clients workers and reports the server's
// CPU time per request, the throughput, latencies and the server's RSS.
func (s *benchServer) bench(b *testing.B, clients int, op func(context.Context, int) error) {
	cfg := s.cfg
	cfg.c = clients
	before, err := readProc(cfg.pids[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	r, err := work(context.Background(), &cfg, op, func(i int) bool { return i < b.N })
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	after, err := readProc(cfg.pids[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((after.cpu-before.cpu).Nanoseconds())/1e3/float64(r.n), "server-µs/op")
	b.ReportMetric(float64(r.n)/r.elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(r.q(0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(r.q(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(after.rss)/(1<<20), "rss-MiB")
}

// BenchmarkServer runs each scenario of the performance table against one
// server process: KV v2 read (16 clients) and write (64), AppRole login
// and token creation (64), lookup-self and transit encryption (16).
func BenchmarkServer(b *testing.B) {
	s := startBenchServer(b, 1000)
	ctx := context.Background()
	scenarios := []struct {
		op      string
		clients int
	}{
		{"read", 16}, {"write", 64}, {"login", 64}, {"token-create", 64}, {"lookup-self", 16}, {"transit", 16},
	}
	for _, sc := range scenarios {
		b.Run(fmt.Sprintf("%s/c=%d", sc.op, sc.clients), func(b *testing.B) {
			cfg := s.cfg
			cfg.op = sc.op
			var op func(context.Context, int) error
			switch sc.op {
			case "read":
				op = readOp(s.cl, &cfg)
			case "write":
				op = writeOp(s.cl, &cfg)
			default:
				var err error
				if op, err = prepare(ctx, s.cl, &cfg); err != nil {
					b.Fatal(err)
				}
			}
			s.bench(b, sc.clients, op)
		})
	}
}
