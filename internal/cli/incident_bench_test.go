package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/incident"
)

// BenchmarkIncidentReport1M is `coffer incident report` without the
// server round trips: verify the hash chain of an audit log of 1,000,000
// lines (signatures checked) written by a real file device, then build
// the report of one identity in a thousand (docs/performance.md).
func BenchmarkIncidentReport1M(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "audit.log")
	f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := audit.GenerateKeys()
	if err != nil {
		b.Fatal(err)
	}
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Keys: keys, CheckpointEvery: 1000})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ent := "ent-other"
		if i%1000 == 0 {
			ent = "ent-leaked"
		}
		e := &audit.Entry{
			Time:     t0.Add(time.Duration(i) * time.Millisecond),
			Auth:     &audit.Auth{ClientToken: "cfs.token", Accessor: "acc", EntityID: ent, Policies: []string{"default", "app"}},
			Request:  audit.Request{ID: fmt.Sprint("req-", i), Operation: "read", MountType: "kv", MountPoint: "secret/", Path: fmt.Sprintf("secret/data/app%d/config", i%500), RemoteAddress: "10.1.2.3"},
			Response: &audit.Response{MountType: "kv", Data: json.RawMessage(`{"data":{"password":"p","user":"u"},"metadata":{"version":3,"created_time":"2026-01-01T00:00:00Z","destroyed":false}}`)},
		}
		if err := d.Log(b.Context(), audit.TypeResponse, e); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
	pub := d.PublicKey()
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		trusted, _, problems, err := verifyForReport(f, pub)
		if err != nil || !trusted {
			b.Fatalf("verify: %v %v", problems, err)
		}
		f.Seek(0, 0)
		rep, err := incident.Build(f, incident.Targets{EntityIDs: []string{"ent-leaked"}})
		f.Close()
		if err != nil || rep.Matched != n/1000 {
			b.Fatalf("report: %d matched, %v", rep.Matched, err)
		}
	}
}
