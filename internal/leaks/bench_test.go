package leaks

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"testing"
)

// bigSource is a source of n secrets of one 24-byte value each, like
// generated passwords.
func bigSource(n int) *source {
	src := newSource()
	for i := range n {
		src.secrets[fmt.Sprintf("team-%03d/app-%06d", i%100, i)] = map[string]string{"password": fmt.Sprintf("pw-%021d", i)}
	}
	return src
}

func builtIndex(tb testing.TB, n int) *Index {
	tb.Helper()
	ms := &mounts{}
	ms.set(Mount{Accessor: "m", Path: "secret/", Source: bigSource(n)})
	x := New(Options{Storage: &memStorage{}, Mounts: ms})
	if _, err := x.Check(tb.Context(), nil); err != nil {
		tb.Fatal(err)
	}
	return x
}

// BenchmarkCheck checks batches of 1,000 candidates (one in a hundred a
// live secret) against an index of 100,000 values.
func BenchmarkCheck(b *testing.B) {
	x := builtIndex(b, 100_000)
	hs := make([][sha256.Size]byte, 1000)
	for i := range hs {
		v := fmt.Sprintf("candidate-%d", i)
		if i%100 == 0 {
			v = fmt.Sprintf("pw-%021d", i*37)
		}
		hs[i] = sha256.Sum256([]byte(v))
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := x.Check(b.Context(), hs)
		if err != nil || len(got[0]) != 1 {
			b.Fatalf("Check: %v, %v", got[0], err)
		}
	}
	b.ReportMetric(float64(b.N*len(hs))/b.Elapsed().Seconds(), "candidates/s")
}

// BenchmarkBuild builds an index of 100,000 values and reports the heap
// it holds per 100,000 values.
func BenchmarkBuild(b *testing.B) {
	const n = 100_000
	var held float64
	for b.Loop() {
		b.StopTimer()
		ms := &mounts{}
		ms.set(Mount{Accessor: "m", Path: "secret/", Source: bigSource(n)})
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		x := New(Options{Storage: &memStorage{}, Mounts: ms})
		if _, err := x.Check(b.Context(), nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		held = float64(after.HeapAlloc) - float64(before.HeapAlloc)
		runtime.KeepAlive(x)
		runtime.KeepAlive(ms)
		b.StartTimer()
	}
	b.ReportMetric(held, "heap-bytes/100k-values")
}

// BenchmarkCheckCommonValues checks batches of 1,000 candidates, each a
// value 100 secrets hold (100,000 secrets in all): the worst case of
// places per candidate, bounded by MaxPlaces.
func BenchmarkCheckCommonValues(b *testing.B) {
	src := newSource()
	for i := range 100_000 {
		src.secrets[fmt.Sprintf("team-%03d/app-%06d", i%100, i)] = map[string]string{"password": fmt.Sprintf("common-%017d", i%1000)}
	}
	ms := &mounts{}
	ms.set(Mount{Accessor: "m", Path: "secret/", Source: src})
	x := New(Options{Storage: &memStorage{}, Mounts: ms})
	if _, err := x.Check(b.Context(), nil); err != nil { // builds
		b.Fatal(err)
	}
	hs := make([][sha256.Size]byte, 1000)
	for i := range hs {
		hs[i] = sha256.Sum256(fmt.Appendf(nil, "common-%017d", i))
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := x.Check(b.Context(), hs)
		if err != nil || len(got[0]) != MaxPlaces {
			b.Fatalf("Check: %d places, %v", len(got[0]), err)
		}
	}
	b.ReportMetric(float64(b.N*len(hs))/b.Elapsed().Seconds(), "candidates/s")
}
