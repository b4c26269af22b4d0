package ha

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClusterHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string
	}{
		{"", ""},
		{"https://127.0.0.1:8201", "127.0.0.1"},
		{"https://node1.internal:8201", "node1.internal"},
		{"https://[::1]:8201", "::1"},
		{"10.0.0.5:8201", "10.0.0.5"},
		{"node2", "node2"},
		{"https://%zz", ""},
	}
	for _, tt := range tests {
		if got := clusterHost(tt.addr); got != tt.want {
			t.Errorf("clusterHost(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// TestClusterCertificates checks the CA and a node certificate: key
// types, lifetimes, usages, names, and that the node certificate chains
// to the CA for both server and client authentication.
func TestClusterCertificates(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e, err := newClusterCA(now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		addr    string
		wantIPs []string
		wantDNS []string
	}{
		{name: "IP", addr: "https://127.0.0.1:8201", wantIPs: []string{"127.0.0.1"}},
		{name: "DNS", addr: "https://node1.coffer.internal:8201", wantDNS: []string{"node1.coffer.internal"}},
		{name: "none", addr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ct, err := newClusterTLS(e, "node1", tt.addr, now)
			if err != nil {
				t.Fatal(err)
			}
			ca := ct.ca
			if k, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
				t.Errorf("CA key = %T, want ECDSA P-256", ca.PublicKey)
			}
			if got := ca.NotAfter.Sub(now); got < 3649*24*time.Hour || got > 3651*24*time.Hour {
				t.Errorf("CA lifetime = %s, want about ten years", got)
			}
			leaf := ct.node.Leaf
			if got := leaf.NotAfter.Sub(now); got != clusterNodeLifetime {
				t.Errorf("node lifetime = %s, want %s", got, clusterNodeLifetime)
			}
			var ips []string
			for _, ip := range leaf.IPAddresses {
				ips = append(ips, ip.String())
			}
			if diff := cmp.Diff(tt.wantIPs, ips); diff != "" {
				t.Errorf("node IP SANs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDNS, leaf.DNSNames); diff != "" {
				t.Errorf("node DNS SANs (-want +got):\n%s", diff)
			}
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				_, err := leaf.Verify(x509.VerifyOptions{Roots: ct.pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
				if err != nil {
					t.Errorf("verify node certificate for usage %v: %v", usage, err)
				}
			}
			// Another CA's pool does not trust it.
			other, err := newClusterCA(now)
			if err != nil {
				t.Fatal(err)
			}
			oct, err := newClusterTLS(other, "x", "", now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: oct.pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
				t.Error("another cluster CA trusts this node's certificate")
			}
		})
	}
}

// TestClusterCertificateRenewal checks that the node certificate is kept
// while fresh and remade near its end.
func TestClusterCertificateRenewal(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e, err := newClusterCA(now)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := newClusterTLS(e, "node1", "10.1.2.3:8201", now)
	if err != nil {
		t.Fatal(err)
	}
	first := ct.node
	got, err := ct.certificate(now.Add(24 * time.Hour))
	if err != nil || got != first {
		t.Fatalf("certificate a day later = %p, %v; want the same certificate %p", got, err, first)
	}
	later := now.Add(20 * 24 * time.Hour)
	got, err = ct.certificate(later)
	if err != nil || got == first {
		t.Fatalf("certificate 20 days later = %p, %v; want a new one", got, err)
	}
	if want := later.Add(clusterNodeLifetime); !got.Leaf.NotAfter.Equal(want) {
		t.Errorf("renewed NotAfter = %s, want %s", got.Leaf.NotAfter, want)
	}
	if !got.Leaf.IPAddresses[0].Equal(net.ParseIP("10.1.2.3")) {
		t.Errorf("renewed IP SANs = %v", got.Leaf.IPAddresses)
	}
}

func TestParseClusterCARejects(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a, err := newClusterCA(now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newClusterCA(now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		e    clusterCAEntry
	}{
		{"key of another CA", clusterCAEntry{Cert: a.Cert, Key: b.Key}},
		{"garbage certificate", clusterCAEntry{Cert: []byte("nope"), Key: a.Key}},
		{"garbage key", clusterCAEntry{Cert: a.Cert, Key: []byte("nope")}},
		{"empty", clusterCAEntry{}},
	}
	for _, tt := range tests {
		if _, _, err := parseClusterCA(tt.e); err == nil {
			t.Errorf("%s: parseClusterCA = nil error, want one", tt.name)
		}
	}
	if _, _, err := parseClusterCA(a); err != nil {
		t.Errorf("parseClusterCA(valid) = %v", err)
	}
}
