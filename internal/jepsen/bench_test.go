package jepsen

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkClusterReads measures KV version 2 read throughput of a
// cluster of one, two and three nodes, each with a file audit device,
// driven by tools/loadgen spreading reads over every node, and each node's
// CPU time per request read from /proc, net of what the node uses idle
// (measured for 5 s first). Run it once per size:
//
//	go test -run '^$' -bench ClusterReads -benchtime 1x ./internal/jepsen/
//
// COFFER_BENCH_DURATION sets each run's length (default 10s). On a machine
// with fewer cores than nodes plus load generator, the CPU per request is
// the figure to project from, not the throughput.
func BenchmarkClusterReads(b *testing.B) {
	d := 10 * time.Second
	if s := os.Getenv("COFFER_BENCH_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			b.Fatalf("COFFER_BENCH_DURATION=%q: %v", s, err)
		}
	}
	loadgen := filepath.Join(b.TempDir(), "loadgen")
	if out, err := exec.Command("go", "build", "-o", loadgen, "github.com/coffer-secrets/coffer/tools/loadgen").CombinedOutput(); err != nil {
		b.Fatalf("build loadgen: %v\n%s", err, out)
	}
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			// The server's default lease and lag: a 2 s lease can lapse
			// on a machine this loaded, and the benchmark needs no fast
			// failover.
			c := startCluster(b, n, nil)
			active, err := c.waitStable(10 * time.Second)
			if err != nil {
				b.Fatal(err)
			}
			var addrs, pids []string
			for _, nd := range c.nodes {
				addrs = append(addrs, nd.api)
				pids = append(pids, strconv.Itoa(nd.pid()))
			}
			fill := "true"
			b.ResetTimer()
			for range b.N {
				cmd := exec.Command(loadgen, "-op", "read", "-fill="+fill, "-keys", "1000", "-c", "16", "-d", d.String(), "-idle", "5s",
					"-addr", strings.Join(addrs, ","), "-pid", strings.Join(pids, ","))
				cmd.Env = append(os.Environ(), "VAULT_TOKEN="+c.root) // not on the command line
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("loadgen: %v\n%s", err, out)
				}
				fill = "false"
				b.Logf("%d node(s), %s active (servers in node order n0, n1, ...):\n%s", n, active.id, out)
				reportLoadgen(b, string(out))
			}
		})
	}
}

// reportLoadgen turns loadgen's figures into benchmark metrics.
func reportLoadgen(b *testing.B, out string) {
	b.Helper()
	loadgenRate := regexp.MustCompile(`(?m)^read: \d+ requests in \S+ from \d+ clients: (\d+) req/s$`)
	loadgenNetCPU := regexp.MustCompile(`(?m)^server.* idle [\d.]+ cores busy; net of idle (-?[\d.]+) µs/request$`)
	m := loadgenRate.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no throughput in loadgen's output:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(m[1], 64)
	b.ReportMetric(rate, "req/s")
	var total float64
	for i, m := range loadgenNetCPU.FindAllStringSubmatch(out, -1) {
		us, _ := strconv.ParseFloat(m[1], 64)
		total += us
		b.ReportMetric(us, fmt.Sprintf("net-cpu-µs/req-n%d", i))
	}
	b.ReportMetric(total, "net-cpu-µs/req")
}
