package bolt_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
)

// benchValueSize is the size of a small barrier-encrypted secret.
const benchValueSize = 256

func reportWrites(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkPut measures one writer: each Put is a commit of its own, with
// bbolt's two fsyncs.
func BenchmarkPut(b *testing.B) {
	s := openTemp(b, false)
	ctx := b.Context()
	benchValue := make([]byte, benchValueSize)
	i := 0
	for b.Loop() {
		if err := s.Put(ctx, &storage.Entry{Key: fmt.Sprintf("bench/%09d", i), Value: benchValue}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportWrites(b)
}

// BenchmarkPutParallel measures about 64 concurrent writers sharing commits.
func BenchmarkPutParallel(b *testing.B) {
	s := openTemp(b, false)
	ctx := b.Context()
	benchValue := make([]byte, benchValueSize)
	var n atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("bench/%09d", n.Add(1))
			if err := s.Put(ctx, &storage.Entry{Key: key, Value: benchValue}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportWrites(b)
}

// fill writes n keys named by name(i) in large transactions.
func fill(b *testing.B, s *bolt.Storage, n int, name func(i int) string) {
	b.Helper()
	const chunk = 5000
	benchValue := make([]byte, benchValueSize)
	for start := 0; start < n; start += chunk {
		ops := make([]storage.Op, 0, chunk)
		for i := start; i < min(n, start+chunk); i++ {
			ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: name(i), Value: benchValue}})
		}
		if err := s.Txn(b.Context(), ops); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet reads random keys among 10,000.
func BenchmarkGet(b *testing.B) {
	const n = 10_000
	s := openTemp(b, true)
	name := func(i int) string { return fmt.Sprintf("bench/%09d", i) }
	fill(b, s, n, name)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		e, err := s.Get(ctx, name(i*7919%n))
		if err != nil || e == nil {
			b.Fatalf("Get = %v, %v", e, err)
		}
		i++
	}
}

// BenchmarkList lists over 100,000 keys laid out as 100 folders of 1,000
// keys each, plus 100,000 keys flat in another folder.
func BenchmarkList(b *testing.B) {
	const folders, perFolder = 100, 1000
	s := openTemp(b, true)
	fill(b, s, folders*perFolder, func(i int) string {
		return fmt.Sprintf("deep/f%03d/k%04d/v", i/perFolder, i%perFolder)
	})
	fill(b, s, folders*perFolder, func(i int) string { return fmt.Sprintf("flat/k%06d", i) })
	tests := []struct {
		name   string
		prefix string
		want   int
	}{
		// 100 folder names over 100,000 keys: the folder skip makes this
		// cost about 100 seeks.
		{"100-folders-over-100k-keys", "deep/", folders},
		{"1000-folders-in-one-folder", "deep/f042/", perFolder},
		{"100k-leaves", "flat/", folders * perFolder},
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

// BenchmarkPutParallelFreelist is BenchmarkPutParallel with bbolt's free
// list written with each commit (the default) and left out (rebuilt by a
// scan at open instead): what keeping start-up flat costs a commit.
func BenchmarkPutParallelFreelist(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("no-freelist-sync=%v", noSync), func(b *testing.B) {
			s, err := bolt.Open(bolt.Options{Path: filepath.Join(b.TempDir(), "coffer.db"), NoFreelistSync: noSync})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			// Some data and some freed pages, as in a used database.
			fill(b, s, 20_000, func(i int) string { return fmt.Sprintf("seed/%09d", i) })
			fill(b, s, 20_000, func(i int) string { return fmt.Sprintf("seed/%09d", i) })
			benchValue := make([]byte, benchValueSize)
			var n atomic.Int64
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("bench/%09d", n.Add(1))
					if err := s.Put(b.Context(), &storage.Entry{Key: key, Value: benchValue}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportWrites(b)
		})
	}
}

// BenchmarkOpen times Open and Close of a database holding 0 and 100,000
// keys of a small secret's size (and the sizes in $COFFER_BOLT_OPEN_KEYS, a
// comma-separated list, for example "1000000"), with the free list kept
// on disk (the default) and rebuilt by scanning the file at open.
func BenchmarkOpen(b *testing.B) {
	sizes := []int{0, 100_000}
	for f := range strings.SplitSeq(os.Getenv("COFFER_BOLT_OPEN_KEYS"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n >= 0 {
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		path := filepath.Join(b.TempDir(), "coffer.db")
		s, err := bolt.Open(bolt.Options{Path: path, NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		fill(b, s, n, func(i int) string { return fmt.Sprintf("logical/0123abcd/ver/app/%09d/1", i) })
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		for _, noSync := range []bool{false, true} {
			b.Run(fmt.Sprintf("keys=%d/no-freelist-sync=%v", n, noSync), func(b *testing.B) {
				// A first open in the mode leaves the file as that mode
				// writes it: with or without the free list.
				s, err := bolt.Open(bolt.Options{Path: path, NoFreelistSync: noSync})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
				for b.Loop() {
					s, err := bolt.Open(bolt.Options{Path: path, NoFreelistSync: noSync})
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
				}
				if fi, err := os.Stat(path); err == nil && n > 0 {
					b.ReportMetric(float64(fi.Size())/float64(n), "file-B/key")
				}
			})
		}
	}
}
