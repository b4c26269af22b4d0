package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// BenchmarkAutoUnsealStart measures a server process with an auto seal
// from its start to its first unsealed answer (the process start, opening
// bolt, reaching the key source, unwrapping the root key, loading the
// mount table), for each seal that needs no outside hardware. See
// docs/performance.md for the figures and the machine.
func BenchmarkAutoUnsealStart(b *testing.B) {
	b.Run("static", func(b *testing.B) {
		ss := newSealServer(b)
		benchRestarts(b, ss, staticBlock(writeKeyFile(b, ss.dir, "unseal.key"), false))
	})
	b.Run("transit", func(b *testing.B) {
		a, _ := startTransitDev(b)
		ss := newSealServer(b)
		benchRestarts(b, ss, fmt.Sprintf("seal \"transit\" {\n  address = %q\n  token = %q\n  key_name = \"seal\"\n  mount_path = \"transit/\"\n}\n", a.Addr, rootToken))
	})
}

// benchRestarts initializes a server with block, then times b.N restarts
// until unsealed.
func benchRestarts(b *testing.B, ss *sealServer, block string) {
	s := ss.start(b, block)
	if _, err := s.Client.Sys().Init(&api.InitRequest{RecoveryShares: 1, RecoveryThreshold: 1}); err != nil {
		b.Fatal(err)
	}
	waitUnsealed(b, s, 10*time.Second)
	s.stop()
	b.ResetTimer()
	for range b.N {
		s = ss.start(b, block)
		waitUnsealed(b, s, 10*time.Second)
		b.StopTimer()
		s.stop()
		b.StartTimer()
	}
}
