package identity

import (
	"fmt"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// benchStore returns a store with 1,000 groups, each with its own policy:
// a chain in which group i is a member of group i+1, with the entity a
// member of group 0, so that the entity inherits all 1,000 groups.
func benchStore(b *testing.B) (*Store, string) {
	b.Helper()
	h := newHarness(b)
	id, err := h.s.LoginEntity(b.Context(), accUserpass, "userpass", logical.Alias{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	prev := h.create("g", "group", fmt.Sprintf(`{"name":"g0","policies":["p0"],"member_entity_ids":[%q]}`, id))
	for i := 1; i < 1000; i++ {
		prev = h.create("g", "group", fmt.Sprintf(`{"name":"g%d","policies":["p%d","shared"],"member_group_ids":[%q]}`, i, i, prev))
	}
	p, err := h.s.Policies(b.Context(), id)
	if err != nil || len(p) != 1001 {
		b.Fatalf("Policies = %d policies, %v, want 1001", len(p), err)
	}
	return h.s, id
}

func BenchmarkPolicies1000Groups(b *testing.B) {
	s, id := benchStore(b)
	b.Run("memoised", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Policies(b.Context(), id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("after-change", func(b *testing.B) {
		// Every iteration recomputes, as the first call after any
		// identity change does.
		b.ReportAllocs()
		for b.Loop() {
			s.mu.Lock()
			s.invalidateLocked()
			s.mu.Unlock()
			if _, err := s.Policies(b.Context(), id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Policies(b.Context(), id); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
