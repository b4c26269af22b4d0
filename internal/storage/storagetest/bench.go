package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/coffer-secrets/coffer/internal/snapshot"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// BenchSnapshot fills s with n keys of 256-byte values (the size of a
// small barrier-encrypted secret) and benchmarks, as sub-benchmarks, a
// snapshot of it written to a file ("save") and that file verified into a
// temporary file and restored over it ("restore"), as the server does. s
// must implement [storage.Snapshotter] and [storage.Restorer].
func BenchSnapshot(b *testing.B, s storage.Storage, n int) {
	b.Helper()
	sn, ok1 := s.(storage.Snapshotter)
	rs, ok2 := s.(storage.Restorer)
	if !ok1 || !ok2 {
		b.Fatal("storage does not implement storage.Snapshotter and storage.Restorer")
	}
	value := bytes.Repeat([]byte{0xa5}, 256)
	ops := make([]storage.Op, 0, 1000)
	for i := range n {
		key := fmt.Sprintf("logical/6f1b0c2e-aa11-4c1e-9d7f-%012d/data/app-%07d", i%100, i)
		ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: key, Value: value}})
		if len(ops) == cap(ops) || i == n-1 {
			if err := s.Txn(b.Context(), ops); err != nil {
				b.Fatalf("fill: %v", err)
			}
			ops = ops[:0]
		}
	}
	file := filepath.Join(b.TempDir(), "bench.snap")
	save := func(ctx context.Context) int64 {
		f, err := os.Create(file)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		err = sn.Snapshot(ctx, func(v storage.View) error {
			_, err := snapshot.Write(ctx, f, snapshot.Header{StorageType: "bench"}, v)
			return err
		})
		if err != nil {
			b.Fatalf("snapshot: %v", err)
		}
		info, _ := f.Stat()
		return info.Size()
	}
	b.Run("save", func(b *testing.B) {
		var size int64
		for b.Loop() {
			size = save(b.Context())
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
		b.ReportMetric(float64(size)/(1<<20), "MiB")
	})
	b.Run("restore", func(b *testing.B) {
		save(b.Context())
		for b.Loop() {
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			sf, err := snapshot.Spool(f, b.TempDir())
			f.Close()
			if err != nil {
				b.Fatalf("spool: %v", err)
			}
			err = rs.Restore(b.Context(), func(yield func(storage.Entry, error) bool) {
				for r, err := range sf.Records() {
					if !yield(storage.Entry{Key: r.Key, Value: r.Value}, err) || err != nil {
						return
					}
				}
			})
			sf.Close()
			if err != nil {
				b.Fatalf("restore: %v", err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}
