package token

import (
	"net"
	"testing"
)

func TestUsableFrom(t *testing.T) {
	tests := []struct {
		name  string
		cidrs []string
		ip    string
		want  bool
	}{
		{name: "unbound", ip: "203.0.113.9", want: true},
		{name: "unbound, no address", want: true},
		{name: "in a CIDR", cidrs: []string{"10.0.0.0/8"}, ip: "10.1.2.3", want: true},
		{name: "outside every CIDR", cidrs: []string{"10.0.0.0/8", "192.168.0.0/16"}, ip: "172.16.0.1"},
		{name: "single address", cidrs: []string{"127.0.0.1"}, ip: "127.0.0.1", want: true},
		{name: "other single address", cidrs: []string{"127.0.0.1"}, ip: "127.0.0.2"},
		{name: "IPv6 CIDR", cidrs: []string{"::1/128"}, ip: "::1", want: true},
		{name: "bound, no address", cidrs: []string{"0.0.0.0/0"}},
		{name: "malformed entries skipped", cidrs: []string{"nonsense", "10.0.0.0/99", "10.0.0.0/8"}, ip: "10.0.0.1", want: true},
	}
	for _, tt := range tests {
		e := &Entry{BoundCIDRs: tt.cidrs}
		if got := e.UsableFrom(net.ParseIP(tt.ip)); got != tt.want {
			t.Errorf("%s: UsableFrom(%q) = %v, want %v", tt.name, tt.ip, got, tt.want)
		}
	}
}

// TestAccessorNeverLooksLikeAFlag: accessors are typed on command lines,
// so none may begin with '-' (nor hold characters a shell or URL treats
// specially).
func TestAccessorNeverLooksLikeAFlag(t *testing.T) {
	for range 2000 {
		a := newAccessor()
		if len(a) < 24 {
			t.Fatalf("accessor %q is shorter than 24 characters", a)
		}
		for _, r := range a {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
				t.Fatalf("accessor %q holds %q", a, r)
			}
		}
	}
}

// TestIDLength: the one-time pad length generate-root announces is the
// length of the IDs NewID makes.
func TestIDLength(t *testing.T) {
	if got, want := IDLength(), len(NewID()); got != want {
		t.Fatalf("IDLength() = %d, want %d", got, want)
	}
}
