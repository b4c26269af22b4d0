package cli

import (
	"encoding/json"
	"testing"
)

func TestTable(t *testing.T) {
	t.Parallel()
	got, width := kvTable([][2]string{{"foo", "bar"}, {"longer_key", ""}, {"é", "ünïcode"}})
	want := "Key           Value\n" +
		"---           -----\n" +
		"foo           bar\n" +
		"longer_key    n/a\n" +
		"é             ünïcode\n"
	if got != want {
		t.Errorf("kvTable() =\n%s\nwant\n%s", got, want)
	}
	if width != 19 {
		t.Errorf("kvTable() width = %d, want 19", width)
	}
}

func TestSectionHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		title string
		width int
		want  string
	}{
		{"Data", 0, "== Data =="},
		{"Secret Path", 15, "== Secret Path =="},
		{"Metadata", 24, "======= Metadata ======="},
		{"Data", 20, "======= Data ======="},
	}
	for _, tt := range tests {
		if got := sectionHeader(tt.title, tt.width); got != tt.want {
			t.Errorf("sectionHeader(%q, %d) = %q, want %q", tt.title, tt.width, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		secs int
		want string
	}{
		{0, "∞"},
		{30, "30s"},
		{300, "5m"},
		{3600, "1h"},
		{2764800, "768h"},
		{5400, "1h30m"},
		{3661, "1h1m1s"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.secs); got != tt.want {
			t.Errorf("humanDuration(%d) = %q, want %q", tt.secs, got, tt.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
	}{
		{nil, "<nil>"},
		{"s", "s"},
		{json.Number("12345678901234567890"), "12345678901234567890"},
		{true, "true"},
		{[]any{"a", "b"}, "[a b]"},
		{map[string]any{"k": "v"}, "map[k:v]"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.in); got != tt.want {
			t.Errorf("formatValue(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
