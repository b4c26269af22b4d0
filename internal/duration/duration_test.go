package duration

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestParse is the one table of Vault's duration forms: every parser of
// durations in Coffer (API bodies, CLI flags, policies, server and agent
// configuration) is this one.
func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string // a part of the error; "" for success
	}{
		{in: "0", want: 0},
		{in: "30", want: 30 * time.Second},
		{in: "0030", want: 30 * time.Second},
		{in: "30s", want: 30 * time.Second},
		{in: "5m", want: 5 * time.Minute},
		{in: "768h", want: 768 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "3h25m19s", want: 3*time.Hour + 25*time.Minute + 19*time.Second},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "0d", want: 0},
		{in: " 10 ", want: 10 * time.Second},
		{in: "\t5m\n", want: 5 * time.Minute},
		{in: "+5m", want: 5 * time.Minute},
		{in: "9223372036", want: 9223372036 * time.Second},
		{in: "106751d", want: 106751 * 24 * time.Hour},

		{in: "", wantErr: "empty duration: want whole seconds"},
		{in: "  ", wantErr: "empty duration"},
		{in: "-5", wantErr: `duration "-5" must not be negative`},
		{in: "-1s", wantErr: "must not be negative"},
		{in: "-7d", wantErr: "must not be negative"},
		{in: "-0", wantErr: "must not be negative"},
		{in: "soon", wantErr: `invalid duration "soon": want whole seconds or a duration such as "30s", "5m", "1h30m" or "7d"`},
		{in: "5x", wantErr: "invalid duration"},
		{in: "xd", wantErr: "invalid duration"},
		{in: "1.5d", wantErr: "invalid duration"},
		{in: "7d12h", wantErr: "invalid duration"},
		{in: "1 week", wantErr: "invalid duration"},
		{in: "1.5", wantErr: "invalid duration"},
		{in: "1e3", wantErr: "invalid duration"},
		{in: "+5", wantErr: "invalid duration"},
		{in: "d", wantErr: "invalid duration"},
		{in: "9223372037", wantErr: `duration "9223372037" is out of range`},
		{in: "99999999999999999999", wantErr: "is out of range"},
		{in: "106752d", wantErr: "is out of range"},
		{in: "9999999999999999999999d", wantErr: "is out of range"},
		{in: "2562048h", wantErr: "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      int64
		want    time.Duration
		wantErr string
	}{
		{in: 0, want: 0},
		{in: 90, want: 90 * time.Second},
		{in: maxSeconds, want: time.Duration(maxSeconds) * time.Second},
		{in: -1, wantErr: "duration -1 must not be negative"},
		{in: maxSeconds + 1, wantErr: "duration of 9223372037 seconds is out of range"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.in, 10), func(t *testing.T) {
			t.Parallel()
			got, err := Seconds(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Seconds(%d) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Seconds(%d) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzParse checks that any input either fails or yields a non-negative
// duration that parses back to itself from its Go form and, for whole
// seconds, from its seconds form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"30", "5m", "1h30m", "1.5h", "7d", "-1", "", "1e9", "99999999999999999999d", " 10 ", "+5m", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), "duration") {
				t.Fatalf("Parse(%q) error %q does not say what was wrong", s, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("Parse(%q) = %v, want a non-negative duration", s, d)
		}
		if back, err := Parse(d.String()); err != nil || back != d {
			t.Fatalf("Parse(%q) = %v; Parse(%q) = %v, %v", s, d, d.String(), back, err)
		}
		secs := int64(d / time.Second)
		if back, err := Parse(strconv.FormatInt(secs, 10)); err != nil || back != d.Truncate(time.Second) {
			t.Fatalf("Parse(%q) = %v; its whole seconds %d parse to %v, %v", s, d, secs, back, err)
		}
	})
}
