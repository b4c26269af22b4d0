package ha

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestTracker drives a standby's index bookkeeping through notices in
// order, out of order, gaps, a new term, pongs and reloads.
func TestTracker(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ix := func(term, seq uint32) uint64 { return MakeIndex(term, seq) }
	// step is one event: a notice, a pong's index, a reload (begin and
	// successful end), or only time passing; then what is expected.
	type step struct {
		notice      uint64
		pong        uint64
		reload      bool
		at          time.Duration // since t0
		wantApplied uint64
		wantReload  bool // needReload after the step
	}
	tests := []struct {
		name  string
		start uint64 // applied at the start (a loaded standby)
		steps []step
	}{
		{
			name:  "in order",
			start: ix(3, 0),
			steps: []step{
				{notice: ix(3, 1), wantApplied: ix(3, 1)},
				{notice: ix(3, 2), wantApplied: ix(3, 2)},
				{notice: ix(3, 2), wantApplied: ix(3, 2)}, // a duplicate changes nothing
			},
		},
		{
			name:  "gap filled in time",
			start: ix(3, 5),
			steps: []step{
				{notice: ix(3, 7), wantApplied: ix(3, 5)},
				{notice: ix(3, 8), at: 100 * time.Millisecond, wantApplied: ix(3, 5)},
				{notice: ix(3, 6), at: 900 * time.Millisecond, wantApplied: ix(3, 8)},
				{at: 5 * time.Second, wantApplied: ix(3, 8)},
			},
		},
		{
			name:  "gap not filled: reload to what was heard",
			start: ix(3, 5),
			steps: []step{
				{notice: ix(3, 7), wantApplied: ix(3, 5)},
				{at: 500 * time.Millisecond, wantApplied: ix(3, 5)},
				{at: gapWait, wantApplied: ix(3, 5), wantReload: true},
				{reload: true, at: gapWait, wantApplied: ix(3, 7)},
				{notice: ix(3, 8), at: gapWait, wantApplied: ix(3, 8)},
				{notice: ix(3, 6), at: gapWait, wantApplied: ix(3, 8)}, // the late one is ignored
			},
		},
		{
			name:  "newer term reloads at once",
			start: ix(3, 9),
			steps: []step{
				{notice: ix(4, 3), wantApplied: ix(3, 9), wantReload: true},
				{notice: ix(4, 4), wantApplied: ix(3, 9), wantReload: true},
				{reload: true, wantApplied: ix(4, 4)},
				{notice: ix(4, 5), wantApplied: ix(4, 5)},
				{notice: ix(3, 10), wantApplied: ix(4, 5)}, // the old term's late notice
			},
		},
		{
			name:  "notice during a reload",
			start: ix(3, 1),
			steps: []step{
				{notice: ix(4, 1), wantApplied: ix(3, 1), wantReload: true},
				// The reload begins having heard (4,1); (4,2) arrives
				// before it ends and is applied on top.
				{reload: true, notice: ix(4, 2), wantApplied: ix(4, 2)},
			},
		},
		{
			name: "a fresh standby learns the index from a pong",
			steps: []step{
				{pong: ix(2, 40), wantApplied: 0, wantReload: true},
				{reload: true, wantApplied: ix(2, 40)},
				{pong: ix(2, 40), wantApplied: ix(2, 40)},
			},
		},
		{
			name:  "pong ahead of the notices: they fill the gap",
			start: ix(2, 1),
			steps: []step{
				{pong: ix(2, 3), wantApplied: ix(2, 1)},
				{notice: ix(2, 2), at: 10 * time.Millisecond, wantApplied: ix(2, 2)},
				{notice: ix(2, 3), at: 20 * time.Millisecond, wantApplied: ix(2, 3)},
				{at: 3 * time.Second, wantApplied: ix(2, 3)},
			},
		},
		{
			name:  "pong ahead and the notice lost",
			start: ix(2, 1),
			steps: []step{
				{pong: ix(2, 3), wantApplied: ix(2, 1)},
				{notice: ix(2, 2), at: 10 * time.Millisecond, wantApplied: ix(2, 2)},
				{at: 10*time.Millisecond + gapWait, wantApplied: ix(2, 2), wantReload: true},
				{reload: true, at: 2 * gapWait, wantApplied: ix(2, 3)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := tracker{applied: tt.start, heard: tt.start}
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				var at uint64
				if s.reload {
					at = tr.beginReload()
				}
				if s.pong != 0 {
					tr.hear(s.pong, now)
				}
				if s.notice != 0 {
					tr.notice(s.notice, now)
				}
				if s.reload {
					tr.endReload(at, now)
				}
				if tr.applied != s.wantApplied {
					t.Fatalf("step %d: applied = %d/%d, want %d/%d", i, IndexTerm(tr.applied), uint32(tr.applied), IndexTerm(s.wantApplied), uint32(s.wantApplied))
				}
				if got := tr.needReload(now); got != s.wantReload {
					t.Fatalf("step %d: needReload = %v, want %v", i, got, s.wantReload)
				}
			}
		})
	}
}

// TestDecodeNotice checks the index prefix of change notices, and that a
// notice without one (from an older node) keeps its keys.
func TestDecodeNotice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		wantIdx  uint64
		wantKeys string
	}{
		{encodeNotice(MakeIndex(7, 3), "a\nb"), MakeIndex(7, 3), "a\nb"},
		{encodeNotice(12, "*"), 12, "*"},
		{"12", 12, "*"},
		{"sys/token/id/x\nb", 0, "sys/token/id/x\nb"},
		{"*", 0, "*"},
		{"", 0, ""},
		{"99999999999999999999999\nk", 0, "99999999999999999999999\nk"},
		{"-1\nk", 0, "-1\nk"},
	}
	for _, tt := range tests {
		idx, keys := decodeNotice(tt.in)
		if idx != tt.wantIdx || keys != tt.wantKeys {
			t.Errorf("decodeNotice(%q) = %d, %q; want %d, %q", tt.in, idx, keys, tt.wantIdx, tt.wantKeys)
		}
	}
}

// TestState checks the X-Vault-Index round trip and what is refused.
func TestState(t *testing.T) {
	t.Parallel()
	k := &stateKey{ClusterID: "c1", Key: []byte(strings.Repeat("k", 32))}
	other := &stateKey{ClusterID: "c1", Key: []byte(strings.Repeat("o", 32))}
	foreign := &stateKey{ClusterID: "c2", Key: k.Key}
	idx := MakeIndex(5, 77)
	if got, err := parseState(k, encodeState(k, idx)); err != nil || got != idx {
		t.Fatalf("round trip = %d, %v; want %d", got, err, idx)
	}
	if got, err := parseState(k, mustState(k, "v1:c1:9:0")); err != nil || got != 9 {
		t.Fatalf("parseState(signed by hand) = %d, %v; want 9", got, err)
	}
	bad := []struct {
		name string
		v    string
	}{
		{"forged", encodeState(other, idx)},
		{"other cluster", encodeState(foreign, idx)},
		{"not base64", "%%%"},
		{"no colon", "bm9jb2xvbg=="},
		{"empty", ""},
		{"too long", strings.Repeat("A", 1000)},
		{"replicated index", mustState(k, "v1:c1:5:1")},
		{"v2", mustState(k, "v2:c1:5:0")},
		{"negative index", mustState(k, "v1:c1:-5:0")},
		{"line break", encodeState(k, idx)[:4] + "\n" + encodeState(k, idx)[4:]},
	}
	for _, tt := range bad {
		if got, err := parseState(k, tt.v); err == nil {
			t.Errorf("%s: parseState = %d, nil; want an error", tt.name, got)
		}
	}
}

// mustState signs an arbitrary state body under k.
func mustState(k *stateKey, body string) string {
	m := hmac.New(sha256.New, k.Key)
	m.Write([]byte(body))
	return base64.StdEncoding.EncodeToString([]byte(body + ":" + hex.EncodeToString(m.Sum(nil))))
}

// FuzzParseState checks that no header value panics the parser, and that
// whatever it accepts was signed with the key and round trips.
func FuzzParseState(f *testing.F) {
	k := &stateKey{ClusterID: "c1", Key: []byte(strings.Repeat("k", 32))}
	f.Add(encodeState(k, 42))
	f.Add("")
	f.Add("djE6YzE6NDI6MDp6eg==")
	f.Fuzz(func(t *testing.T, v string) {
		idx, err := parseState(k, v)
		if err == nil && encodeState(k, idx) != v {
			t.Fatalf("parseState(%q) accepted %d, which encodes as %q", v, idx, encodeState(k, idx))
		}
	})
}

// FuzzDecodeNotice checks that no notice panics the decoder and that
// numbered notices round trip.
func FuzzDecodeNotice(f *testing.F) {
	f.Add("1\na")
	f.Add("*")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		idx, keys := decodeNotice(s)
		if idx != 0 {
			if i2, k2 := decodeNotice(encodeNotice(idx, keys)); i2 != idx || k2 != keys {
				t.Fatalf("decodeNotice(%q) = %d, %q; does not round trip", s, idx, keys)
			}
		}
	})
}
