package cert

import (
	"fmt"
	"math/big"
	"testing"
)

// BenchmarkLogin measures a login through an intermediate, with a CRL of
// 1000 serials, against one entry and against the last of 20 entries.
func BenchmarkLogin(b *testing.B) {
	tp := newTestPKI(b, testNow)
	revoked := make([]*big.Int, 1000)
	for i := range revoked {
		revoked[i] = big.NewInt(int64(1_000_000 + i))
	}
	crl := crlFor(b, tp.inter, revoked...)
	for _, entries := range []int{1, 20} {
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			h := newHarness(b)
			h.Must(opUpdate, "crls/big", map[string]any{"crl": crl})
			for i := range entries - 1 {
				// Entries that sort first and do not verify the chain.
				h.Must(opCreate, fmt.Sprintf("certs/a%02d", i), map[string]any{"certificate": pemOf(tp.other.cert)})
			}
			h.Must(opCreate, "certs/z", map[string]any{"certificate": pemOf(tp.root.cert), "allowed_uri_sans": "spiffe://cluster/ns/*/sa/*"})
			req := loginRequest("", tp.web, tp.inter.cert)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := h.Backend.HandleRequest(b.Context(), req)
				if err != nil || resp.Auth == nil {
					b.Fatalf("login: %v", err)
				}
			}
		})
	}
}
