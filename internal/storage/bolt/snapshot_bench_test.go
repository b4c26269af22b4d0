package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage/bolt"
	"github.com/coffer-secrets/coffer/internal/storage/storagetest"
)

// BenchmarkSnapshot100k saves and restores 100,000 keys (see
// docs/performance.md for the numbers and the machine).
func BenchmarkSnapshot100k(b *testing.B) {
	s, err := bolt.Open(bolt.Options{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storagetest.BenchSnapshot(b, s, 100_000)
}

// BenchmarkSnapshot1M saves and restores 1,000,000 keys.
func BenchmarkSnapshot1M(b *testing.B) {
	s, err := bolt.Open(bolt.Options{Path: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storagetest.BenchSnapshot(b, s, 1_000_000)
}
