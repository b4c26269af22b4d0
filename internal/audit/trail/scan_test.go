package trail

import (
	"encoding/json"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/google/go-cmp/cmp"
)

// scanSeeds are lines for TestScanLine and FuzzScanLine: the device's
// shapes, then what must go to encoding/json (or be refused).
var scanSeeds = []struct {
	name string
	line string
	fast bool // scanLine must read it itself
}{
	{"request", `{"seq":2,"chain_id":"0123456789abcdef","prev_hash":"` + hex64 + `","type":"request","time":"2025-03-01T12:00:00Z","auth":{"client_token":"hmac-sha256:ab","accessor":"hmac-sha256:cd","policies":["default"],"metadata":{"role":"x"},"token_ttl":3600},"request":{"id":"r1","operation":"read","namespace":{"id":"root"},"path":"secret/data/a","data":{"x":[1,2.5e3,true,null,"\u00e9\n"]},"remote_address":"127.0.0.1","wrap_ttl":0}}`, true},
	{"response", `{"seq":3,"chain_id":"0123456789abcdef","prev_hash":"` + hex64 + `","type":"response","time":"2025-03-01T12:00:00.5Z","response":{"mount_type":"kv","data":{"version":3},"secret":{"lease_id":"db/creds/x/1"},"auth":{"entity_id":"e"},"wrap_info":{"token":"t","ttl":60,"creation_time":"x"}},"error":"permission denied"}`, true},
	{"checkpoint", `{"seq":5,"chain_id":"0123456789abcdef","prev_hash":"` + hex64 + `","type":"checkpoint","time":"2025-03-01T12:00:00Z","hash":"` + hex64 + `","signature":"` + hex64 + hex64 + `"}`, true},
	{"torn write", `{"seq":7,"chain_id":"0123456789abcdef","prev_hash":"` + hex64 + `","type":"torn_write","time":"2025-03-01T12:00:00Z","offset":1234,"cut_bytes":-5,"failed_writes":2,"error":"disk full"}`, true},
	{"white space and unknown fields", " \t{ \"seq\" : 1 , \"x\":{\"A\":[{}]} ,\"chain_id\":\"0123456789abcdef\",\"type\":\"request\",\"time\":\"t\"}\r", true},
	{"null auth", `{"seq":1,"auth":null,"request":{"namespace":null,"data":null},"type":"request"}`, true},
	{"escaped chain field", `{"seq":1,"type":"req\u0075est"}`, false},
	{"upper-case key", `{"SEQ":1,"type":"request"}`, false},
	{"upper-case nested key", `{"seq":1,"auth":{"Policies":"x"}}`, false},
	{"duplicate seq", `{"seq":1,"seq":2}`, false},
	{"null seq", `{"seq":null}`, false},
	{"seq as string", `{"seq":"1"}`, false},
	{"seq too large", `{"seq":18446744073709551616}`, false},
	{"seq with fraction", `{"seq":1.0}`, false},
	{"negative seq", `{"seq":-1}`, false},
	{"policies not a list", `{"seq":1,"auth":{"policies":"default"}}`, false},
	{"metadata value a number", `{"seq":1,"auth":{"metadata":{"a":1}}}`, false},
	{"ttl a float", `{"seq":1,"auth":{"token_ttl":1.5}}`, false},
	{"request a list", `{"seq":1,"request":[]}`, false},
	{"non-ASCII chain field", `{"seq":1,"time":"é"}`, false},
	{"trailing comma", `{"seq":1,}`, false},
	{"trailing garbage", `{"seq":1}x`, false},
	{"two objects", `{"seq":1}{"seq":2}`, false},
	{"bad escape", `{"seq":1,"x":"\q"}`, false},
	{"control character", "{\"seq\":1,\"x\":\"a\x01\"}", false},
	{"leading zero", `{"seq":1,"x":01}`, false},
	{"bare minus", `{"seq":1,"x":-}`, false},
	{"cut off", `{"seq":1,"x":"ab`, false},
	{"not an object", `[1]`, false},
	{"null", `null`, false},
	{"empty", ``, false},
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// checkScan fails t when scanLine reads raw but encoding/json would not,
// or would give other chain fields; it returns whether scanLine read it.
func checkScan(t *testing.T, raw []byte) bool {
	t.Helper()
	var fast audit.Line
	ok := scanLine(lineSchema(), raw, &fast)
	if !ok {
		return false
	}
	var full audit.Line
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatalf("scanLine read %q, encoding/json refuses it: %v", raw, err)
	}
	if diff := cmp.Diff(chainFields(&full), fast); diff != "" {
		t.Fatalf("scanLine(%q) chain fields differ from encoding/json's (-json +scan):\n%s", raw, diff)
	}
	return true
}

func TestScanLine(t *testing.T) {
	t.Parallel()
	for _, tc := range scanSeeds {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkScan(t, []byte(tc.line)); got != tc.fast {
				t.Errorf("scanLine read it: %v, want %v", got, tc.fast)
			}
		})
	}
}

// FuzzScanLine checks that scanLine never accepts what encoding/json
// refuses, nor reads other chain fields than it: the verifier's verdicts
// do not depend on which of the two read a line.
func FuzzScanLine(f *testing.F) {
	for _, tc := range scanSeeds {
		f.Add([]byte(tc.line))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkScan(t, raw)
	})
}

// benchLine is a response line as a file device writes it (HMACed
// values, KV v2 data), about 950 bytes.
const benchLine = `{"seq":2,"chain_id":"0123456789abcdef","prev_hash":"` + hex64 + `","type":"response","time":"2026-01-01T00:00:00.001Z",` +
	`"auth":{"client_token":"hmac-sha256:` + hex64 + `","accessor":"hmac-sha256:` + hex64 + `","policies":["default","app"],"entity_id":"ent-other"},` +
	`"request":{"id":"req-1","operation":"read","mount_type":"kv","mount_point":"secret/","client_token":"hmac-sha256:` + hex64 + `","client_token_accessor":"hmac-sha256:` + hex64 + `","namespace":{"id":"root"},"path":"secret/data/app1/config","remote_address":"10.1.2.3"},` +
	`"response":{"mount_type":"kv","data":{"data":{"password":"hmac-sha256:` + hex64 + `","user":"hmac-sha256:` + hex64 + `"},"metadata":{"version":3,"created_time":"2026-01-01T00:00:00Z","destroyed":false}}}}`

// BenchmarkParseLine is the verifier's per-line decoding, the hot path
// of `coffer audit verify` and `coffer incident report`; "json" is what
// decoding the line with encoding/json costs, for comparison.
func BenchmarkParseLine(b *testing.B) {
	raw := []byte(benchLine)
	schema := lineSchema()
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var l audit.Line
			if err := parseLine(schema, raw, &l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var l audit.Line
			if err := json.Unmarshal(raw, &l); err != nil {
				b.Fatal(err)
			}
		}
	})
}
