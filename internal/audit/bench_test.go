package audit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
)

func BenchmarkBrokerLog(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("file-devices=%d", n), func(b *testing.B) {
			br := audit.NewBroker(audit.BrokerOptions{})
			for i := range n {
				d, _ := newFileDevice(b, audit.DeviceOptions{Path: fmt.Sprintf("file%d/", i)})
				if err := br.Register(d); err != nil {
					b.Fatal(err)
				}
			}
			e := sampleEntry()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := br.LogResponse(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
