package httpapi_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// storageServers starts a server for each storage the KV benchmarks
// compare: bolt (one file, fsync), PostgreSQL without HA, and the active
// node of a PostgreSQL cluster (every write fenced and announced to the
// standbys).
func storageServers() []struct {
	name  string
	start func(b *testing.B) *testserver.Server
} {
	pg := func(ha bool) func(b *testing.B) *testserver.Server {
		return func(b *testing.B) *testserver.Server {
			d := testdb.New(b, testdb.Postgres)
			return testserver.StartWith(b, testserver.Options{Postgres: &testserver.Postgres{
				URL: "postgres://postgres@127.0.0.1:5432/" + d.Name + "?sslmode=disable",
				HA:  ha,
			}})
		}
	}
	return []struct {
		name  string
		start func(b *testing.B) *testserver.Server
	}{
		{"bolt", func(b *testing.B) *testserver.Server {
			return testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
		}},
		{"postgresql", pg(false)},
		{"postgresql-ha", pg(true)},
	}
}

// reportRate reports throughput and latency quantiles.
func reportRate(b *testing.B, lat *latencies) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(lat.quantile(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat.quantile(0.99).Microseconds()), "p99-µs")
}

// BenchmarkKVv2Storage compares KV v2 reads (16 clients) and writes (64
// clients) through the whole stack on each storage. Reads and writes on
// PostgreSQL are durable when acknowledged, as on bolt.
func BenchmarkKVv2Storage(b *testing.B) {
	for _, st := range storageServers() {
		b.Run(st.name, func(b *testing.B) {
			s := st.start(b)
			body := []byte(benchSecret)
			urls := make([]string, benchKeys)
			for i := range urls {
				urls[i] = fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i)
			}
			b.Run("read", func(b *testing.B) {
				cl := newBenchClient(readClients)
				defer cl.CloseIdleConnections()
				for _, u := range urls {
					if code, err := doRequest(cl, http.MethodPost, u, s.RootToken, body); err != nil || code != http.StatusOK {
						b.Fatalf("write %s = %d, %v", u, code, err)
					}
				}
				_, lat := runParallel(b, readClients, func(i int64) error {
					code, err := doRequest(cl, http.MethodGet, urls[i%benchKeys], s.RootToken, nil)
					if err == nil && code != http.StatusOK {
						err = fmt.Errorf("read = %d", code)
					}
					return err
				})
				reportRate(b, lat)
			})
			b.Run("write", func(b *testing.B) {
				cl := newBenchClient(writeClients)
				defer cl.CloseIdleConnections()
				_, lat := runParallel(b, writeClients, func(i int64) error {
					code, err := doRequest(cl, http.MethodPost, urls[i%benchKeys], s.RootToken, body)
					if err == nil && code != http.StatusOK {
						err = fmt.Errorf("write = %d", code)
					}
					return err
				})
				reportRate(b, lat)
			})
		})
	}
}
