package cli

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/duration"
)

func TestDurationFlagAPIValue(t *testing.T) {
	t.Parallel()
	var f durationFlag
	if got := f.apiValue(); got != "" {
		t.Errorf("unset apiValue() = %q, want empty", got)
	}
	if err := f.Set("1h"); err != nil {
		t.Fatal(err)
	}
	if got := f.apiValue(); got != "3600s" {
		t.Errorf("apiValue() after Set(1h) = %q, want 3600s", got)
	}
}

func TestIntListFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sets    []string
		want    []int
		wantErr bool
	}{
		{sets: []string{"1"}, want: []int{1}},
		{sets: []string{"1,2,3"}, want: []int{1, 2, 3}},
		{sets: []string{"1, 2", "5"}, want: []int{1, 2, 5}},
		{sets: []string{"1,,2"}, want: []int{1, 2}},
		{sets: []string{"a"}, wantErr: true},
		{sets: []string{"-1"}, wantErr: true},
	}
	for _, tt := range tests {
		var l intListFlag
		var err error
		for _, s := range tt.sets {
			if err = l.Set(s); err != nil {
				break
			}
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("Set(%q) error = %v, wantErr %v", tt.sets, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !cmp.Equal([]int(l), tt.want) {
			t.Errorf("Set(%q) = %v, want %v", tt.sets, l, tt.want)
		}
	}
}

func TestMapFlag(t *testing.T) {
	t.Parallel()
	m := mapFlag{}
	for _, s := range []string{"a=1", "b=x=y", "a=2"} {
		if err := m.Set(s); err != nil {
			t.Fatalf("Set(%q) = %v", s, err)
		}
	}
	if diff := cmp.Diff(mapFlag{"a": "2", "b": "x=y"}, m); diff != "" {
		t.Errorf("mapFlag mismatch (-want +got):\n%s", diff)
	}
	for _, s := range []string{"novalue", "=v"} {
		if err := m.Set(s); err == nil {
			t.Errorf("Set(%q) succeeded, want an error", s)
		}
	}
}

// FuzzDurationFlag checks that what a duration flag sends the API parses
// back to the same whole seconds.
func FuzzDurationFlag(f *testing.F) {
	for _, s := range []string{"30", "5m", "768h", "7d", "-1", "", "1e9", "99999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := duration.Parse(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("duration.Parse(%q) = %v, want a non-negative duration", s, d)
		}
		// What the API is sent parses back to the same whole seconds.
		f := durationFlag{d: d, set: true}
		back, err := duration.Parse(f.apiValue())
		if err != nil || back != d.Truncate(time.Second) {
			t.Fatalf("duration.Parse(%q) = %v; apiValue %q parses to %v, %v", s, d, f.apiValue(), back, err)
		}
	})
}
