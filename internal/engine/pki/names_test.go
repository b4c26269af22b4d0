package pki

import (
	"math/big"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything.at.all", true},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a**c", "ac", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*x", "xxxxx", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestSegmentGlobMatch(t *testing.T) {
	t.Parallel()
	const p = "spiffe://cluster/ns/*/sa/*"
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{p, "spiffe://cluster/ns/prod/sa/api", true},
		{p, "spiffe://cluster/ns/prod/sa/", true},
		{p, "spiffe://cluster/ns/a/b/sa/c", false},
		{p, "spiffe://cluster/ns/prod/sa/api/x", false},
		{p, "spiffe://other/ns/prod/sa/api", false},
		{"spiffe://*/ns/prod", "spiffe://c1/ns/prod", true},
		{"spiffe://*/ns/prod", "spiffe://c1/x/ns/prod", false},
	}
	for _, tt := range tests {
		if got := segmentGlobMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("segmentGlobMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestValidHostname(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		want bool
	}{
		{"example.com", true},
		{"*.example.com", true},
		{"a-b.c-d.example", true},
		{"localhost", true},
		{"", false},
		{"*.", false},
		{"a..b", false},
		{"-a.com", false},
		{"a-.com", false},
		{"a_b.com", false},
		{"a b.com", false},
		{"a.*.com", false},
		{string(make([]byte, 64)) + ".com", false},
	}
	for _, tt := range tests {
		if got := validHostname(tt.s); got != tt.want {
			t.Errorf("validHostname(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestSerials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, wantKey string
		ok          bool
	}{
		{"01:ab:FF", "01-ab-ff", true},
		{"01-ab-ff", "01-ab-ff", true},
		{"1:ab", "", false},
		{"01:ab:", "", false},
		{"0g", "", false},
		{"01.ab", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		key, ok := serialKey(tt.in)
		if key != tt.wantKey || ok != tt.ok {
			t.Errorf("serialKey(%q) = %q, %v; want %q, %v", tt.in, key, ok, tt.wantKey, tt.ok)
		}
	}
	if got := formatSerial(big.NewInt(0x01abff)); got != "01:ab:ff" {
		t.Errorf("formatSerial(0x01abff) = %q", got)
	}
	seen := map[string]bool{}
	for range 200 {
		n, err := newSerial()
		if err != nil {
			t.Fatal(err)
		}
		if n.Sign() <= 0 || n.BitLen() > 159 {
			t.Fatalf("newSerial() = %v (%d bits), want positive and at most 159 bits", n, n.BitLen())
		}
		s := formatSerial(n)
		if seen[s] {
			t.Fatalf("newSerial repeated %s", s)
		}
		seen[s] = true
		if key, ok := serialKey(s); !ok || apiSerial(key) != s {
			t.Fatalf("serial %s does not round-trip through its storage key", s)
		}
	}
}
