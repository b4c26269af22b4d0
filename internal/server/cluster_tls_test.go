package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// unreachableAPI is an api_addr nothing listens on: a standby that
// forwards there fails.
const unreachableAPI = `api_addr = "http://127.0.0.1:1"`

// TestClusterForwarding checks where a standby forwards a write. The
// active node's api_addr is unreachable, so a write through the standby
// succeeds only over the cluster listener; without cluster addresses the
// same write fails, which shows the first case did not use api_addr. An
// active node that announces no cluster address is reached at its
// api_addr.
func TestClusterForwarding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		activeCluster   bool // node 0 has a cluster address
		listenerCluster bool // node 0's cluster listener comes from a listener's cluster_address instead
		reachableAPI    bool // node 0's api_addr is its listener
		wantOK          bool
	}{
		{name: "over the cluster listener", activeCluster: true, reachableAPI: false, wantOK: true},
		{name: "over a listener's cluster_address", listenerCluster: true, reachableAPI: false, wantOK: true},
		{name: "no cluster address and api_addr unreachable", activeCluster: false, reachableAPI: false, wantOK: false},
		{name: "fall back to api_addr", activeCluster: false, reachableAPI: true, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 2, func(i int, o *testserver.Options) {
				if i == 1 || tt.activeCluster {
					o.ClusterAddr = "127.0.0.1:0"
				}
				if i == 0 && !tt.reachableAPI {
					o.ExtraConfig = unreachableAPI
				}
				if i == 0 && tt.listenerCluster {
					o.ExtraConfig += fmt.Sprintf("\nlistener \"tcp\" {\n address = %q\n tls_disable = true\n cluster_address = \"127.0.0.1:0\"\n}\n", freeAddr(t))
				}
			})
			root := c.nodes[0].RootToken
			if (tt.activeCluster || tt.listenerCluster) && !strings.HasPrefix(c.nodes[0].ClusterAddr, "https://127.0.0.1:") {
				t.Fatalf("node0 ClusterAddr = %q, want https://127.0.0.1:port", c.nodes[0].ClusterAddr)
			}
			if got := c.nodes[1].ClusterAddr; !strings.HasPrefix(got, "https://127.0.0.1:") || strings.HasSuffix(got, ":0") {
				t.Fatalf("node1 ClusterAddr = %q, want a picked port", got)
			}
			// The standby knows the active node's announced cluster address.
			eventually(t, 10*time.Second, "standby learns the active node", func() error {
				l, err := c.client(t, 1, root).Sys().Leader()
				if err != nil {
					return err
				}
				if l.LeaderClusterAddress != c.nodes[0].ClusterAddr {
					return fmt.Errorf("leader_cluster_address = %q, want %q", l.LeaderClusterAddress, c.nodes[0].ClusterAddr)
				}
				return nil
			})
			_, err := c.client(t, 1, root).Logical().Write("secret/data/forwarded", map[string]any{"data": map[string]any{"via": "standby"}})
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Fatalf("write through the standby: err = %v, want success %v", err, tt.wantOK)
			}
			if !tt.wantOK {
				return
			}
			s, err := c.client(t, 0, root).Logical().Read("secret/data/forwarded")
			if err != nil || s == nil {
				t.Fatalf("read on the active node: %v, %v", s, err)
			}
			if got := s.Data["data"].(map[string]any)["via"]; got != "standby" {
				t.Errorf("read on the active node: via = %v, want standby", got)
			}
		})
	}
}

// TestClusterListenerRefusesStrangers dials the active node's cluster
// listener as a client without a certificate, with a certificate from
// another CA, with the node's own cluster certificate (accepted), and
// with that certificate after the node sealed (refused).
func TestClusterListenerRefusesStrangers(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, func(_ int, o *testserver.Options) { o.ClusterAddr = "127.0.0.1:0" })
	node := c.nodes[0]
	host, _, err := net.SplitHostPort(strings.TrimPrefix(node.ClusterAddr, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	member, err := node.Core().ClusterClientTLS(host)
	if err != nil {
		t.Fatalf("ClusterClientTLS: %v", err)
	}
	stranger := foreignClientCert(t)

	tests := []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
	}{
		{name: "no client certificate", cfg: &tls.Config{InsecureSkipVerify: true}},
		{name: "certificate from another CA", cfg: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{stranger}}},
		{name: "no client certificate, TLS 1.2", cfg: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}},
		{name: "cluster certificate", cfg: member.Clone(), wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := clusterGet(t, node.ClusterAddr, tt.cfg)
			if tt.wantOK {
				if err != nil || code != http.StatusOK {
					t.Fatalf("GET sys/health with a cluster certificate = %d, %v; want 200", code, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("GET sys/health = %d, want the handshake refused", code)
			}
		})
	}

	if err := node.Core().Seal(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Core().ClusterServerTLS(); err == nil {
		t.Error("ClusterServerTLS on a sealed node: no error")
	}
	if code, err := clusterGet(t, node.ClusterAddr, member.Clone()); err == nil {
		t.Errorf("GET sys/health on a sealed node's cluster listener = %d, want the handshake refused", code)
	}
}

// clusterGet does GET /v1/sys/health on a cluster listener with cfg, on a
// fresh connection.
func clusterGet(t *testing.T, base string, cfg *tls.Config) (int, error) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v1/sys/health", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// foreignClientCert makes a client certificate signed by a CA the cluster
// does not know.
func foreignClientCert(t *testing.T) tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "intruder"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
}
