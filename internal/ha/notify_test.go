package ha

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestChangePayload(t *testing.T) {
	t.Parallel()
	long := make([]string, 0, 200)
	for i := range 200 {
		long = append(long, "logical/0b7c3b6e-1f2a-4c1d-9e7a-000000000000/data/"+strconv.Itoa(i))
	}
	tests := []struct {
		name string
		keys []string
		want string
	}{
		{"one key", []string{"sys/policy/reader"}, "sys/policy/reader"},
		{"sorted and deduplicated", []string{"b", "a", "b"}, "a\nb"},
		{"a key with a newline", []string{"a", "b\nc"}, "*"},
		{"a key with a NUL byte", []string{"a\x00"}, "*"},
		{"a key that is not UTF-8", []string{"a\xff"}, "*"},
		{"a key that reads as everything", []string{"*"}, "*"},
		{"an empty key", []string{""}, "*"},
		{"too long", long, "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changePayload(tt.keys); got != tt.want {
				t.Errorf("changePayload(%d keys) = %.80q, want %q", len(tt.keys), got, tt.want)
			}
		})
	}
}

func TestEchoRoundTrip(t *testing.T) {
	t.Parallel()
	m := Member{NodeID: "n1", Hostname: "h", APIAddress: "https://a:8200", ClusterAddress: "https://a:8201", ActiveNode: true, Version: "0.1.0"}
	p, err := encodeEcho(m)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeEcho(p)
	if !ok {
		t.Fatalf("decodeEcho(%q) refused its own encoding", p)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("echo round trip mismatch (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "{", "[]", `{"node_id":""}`, `{"hostname":"x"}`} {
		if _, ok := decodeEcho(bad); ok {
			t.Errorf("decodeEcho(%q) accepted it", bad)
		}
	}
}

// FuzzDecodeEcho feeds arbitrary notification payloads to the parser of
// other nodes' announcements: it never panics, and what it accepts
// re-encodes to a payload it accepts again, equal.
func FuzzDecodeEcho(f *testing.F) {
	f.Add(`{"node_id":"n1","api_address":"http://127.0.0.1:8200","active_node":true}`)
	f.Add(`{"node_id":"\u0000"}`)
	f.Add("")
	f.Fuzz(func(t *testing.T, payload string) {
		m, ok := decodeEcho(payload)
		if !ok {
			return
		}
		p, err := encodeEcho(m)
		if err != nil {
			t.Fatal(err)
		}
		again, ok := decodeEcho(p)
		if !ok || again != m {
			t.Fatalf("re-decoding %q = %+v, %v; want %+v", p, again, ok, m)
		}
	})
}

// FuzzChangePayload checks that every payload is sendable (valid UTF-8,
// no NUL, within the limit) and names exactly the keys, or everything.
func FuzzChangePayload(f *testing.F) {
	f.Add("sys/policy/a", "core/mounts")
	f.Add("a\nb", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		p := changePayload([]string{a, b})
		if p == "" || len(p) > MaxNotifyPayload || !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
			t.Fatalf("changePayload(%q, %q) = %q: not sendable", a, b, p)
		}
		if p == "*" {
			return
		}
		for _, k := range []string{a, b} {
			found := false
			for _, got := range strings.Split(p, "\n") {
				found = found || got == k
			}
			if !found {
				t.Fatalf("changePayload(%q, %q) = %q misses %q", a, b, p, k)
			}
		}
	})
}
