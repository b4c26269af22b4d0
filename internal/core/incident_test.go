package core_test

import (
	"path/filepath"
	"testing"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// BenchmarkIncidentContain measures sys/incident/contain of one token
// with 10,000 child tokens holding one lease each, through the real HTTP
// API on bolt storage (the default; the in-memory backend lists by
// scanning every key, which no deployment uses). The leases belong to a mount that is gone, so
// the figure is Coffer's own work (matching, the token tree, the lease
// records, the incident record), not a database's DROP ROLE.
func BenchmarkIncidentContain(b *testing.B) {
	const children = 10_000
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	c := s.Core()
	for range b.N {
		b.StopTimer()
		accessor := core.BuildTokenTreeForBench(b.Context(), b, c, children)
		b.StartTimer()
		sec, err := s.Client.Logical().Write("sys/incident/contain", map[string]any{"accessor": accessor})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n := len(sec.Data["revoked"].([]any)); n != children+1 {
			b.Fatalf("revoked %d tokens, want %d", n, children+1)
		}
		b.StartTimer()
	}
}
