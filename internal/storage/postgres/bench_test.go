package postgres_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
)

// benchValueSize is the size of a small barrier-encrypted secret.
const benchValueSize = 256

func reportWrites(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func openBench(b *testing.B, maxParallel int) (*postgres.Storage, string) {
	b.Helper()
	url, schema := newSchema(b)
	s, err := postgres.Open(b.Context(), postgres.Options{ConnURL: url, MaxParallel: maxParallel})
	if err != nil {
		b.Fatalf("Open = %v", err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, schema
}

// fenceBench makes s the leader and sets its fence, so every write checks
// the epoch row.
func fenceBench(b *testing.B, s *postgres.Storage) {
	b.Helper()
	e, err := postgres.NewElector(s, postgres.ElectorOptions{NodeID: "bench-" + randomSuffix(b)})
	if err != nil {
		b.Fatal(err)
	}
	l, err := e.Acquire(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(l.Release)
	s.SetFence(l.Fence())
}

// BenchmarkPut measures one writer: each Put is a PostgreSQL commit of its
// own, flushed to the WAL before it returns; fenced, it also share-locks
// the epoch row.
func BenchmarkPut(b *testing.B) {
	for _, fenced := range []bool{false, true} {
		b.Run(fmt.Sprintf("fenced=%v", fenced), func(b *testing.B) {
			s, _ := openBench(b, 4)
			if fenced {
				fenceBench(b, s)
			}
			value := make([]byte, benchValueSize)
			i := 0
			for b.Loop() {
				if err := s.Put(b.Context(), &storage.Entry{Key: fmt.Sprintf("bench/%09d", i), Value: value}); err != nil {
					b.Fatal(err)
				}
				i++
			}
			reportWrites(b)
		})
	}
}

// BenchmarkPutParallel measures 64 concurrent writers over the default
// pool of 32 connections; PostgreSQL groups their WAL flushes. Fenced,
// all writers share-lock the same epoch row.
func BenchmarkPutParallel(b *testing.B) {
	for _, fenced := range []bool{false, true} {
		b.Run(fmt.Sprintf("fenced=%v", fenced), func(b *testing.B) {
			s, _ := openBench(b, postgres.DefaultMaxParallel)
			if fenced {
				fenceBench(b, s)
			}
			value := make([]byte, benchValueSize)
			var n atomic.Int64
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Put(b.Context(), &storage.Entry{Key: fmt.Sprintf("bench/%09d", n.Add(1)), Value: value}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportWrites(b)
		})
	}
}

// BenchmarkGet reads keys spread over 10,000.
func BenchmarkGet(b *testing.B) {
	const n = 10_000
	s, schema := openBench(b, 4)
	name := func(i int) string { return fmt.Sprintf("bench/%09d", i) }
	bulkLoad(b, schema, n, name)
	i := 0
	for b.Loop() {
		e, err := s.Get(b.Context(), name(i*7919%n))
		if err != nil || e == nil {
			b.Fatalf("Get = %v, %v", e, err)
		}
		i++
	}
}

// BenchmarkList lists in a table of 1,000,000 keys: 500,000 in 500
// folders of 1,000 sub-folders of one key each, and 500,000 flat in one
// folder. Setup (COPY and ANALYZE) takes about 10 to 20 s on a 2-core
// machine and is skipped under -short.
func BenchmarkList(b *testing.B) {
	if testing.Short() {
		b.Skip("setting up 1,000,000 keys takes a while; run without -short")
	}
	const half = 500_000
	s, schema := openBench(b, 4)
	start := time.Now()
	bulkLoad(b, schema, 2*half, func(i int) string {
		if i < half {
			return fmt.Sprintf("deep/f%03d/k%04d/v", i/1000, i%1000)
		}
		return fmt.Sprintf("flat/k%06d", i-half)
	})
	b.Logf("setup of %d keys: %s", 2*half, time.Since(start).Round(time.Millisecond))
	tests := []struct {
		name   string
		prefix string
		want   int
	}{
		{"2-folders-over-1M-keys", "", 2},
		{"500-folders-over-500k-keys", "deep/", 500},
		{"1000-folders-in-one-folder", "deep/f042/", 1000},
		{"100-leaves-by-plain-prefix", "flat/k0999", 100},
		{"500k-leaves", "flat/", half},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				names, err := s.List(b.Context(), tt.prefix)
				if err != nil || len(names) != tt.want {
					b.Fatalf("List(%q) = %d names, %v; want %d", tt.prefix, len(names), err, tt.want)
				}
			}
		})
	}
}
