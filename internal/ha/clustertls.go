package ha

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// Cluster TLS: the nodes of a cluster authenticate one another with
// certificates from a cluster CA kept behind the barrier at
// [ClusterTLSKey]. The active node creates the CA when it is missing;
// standbys only read it (and read it again on the change notice for that
// key). Every unsealed node makes its own key and certificate in memory,
// signed by the CA, each time it unseals or becomes active; the private
// keys never leave the barrier or the process.

// ClusterTLSKey is the barrier key of the cluster CA.
const ClusterTLSKey = "core/cluster-tls"

// Lifetimes of the cluster certificates.
const (
	clusterCALifetime   = 10 * 365 * 24 * time.Hour
	clusterNodeLifetime = 30 * 24 * time.Hour
	// clusterNodeRenew is how close to its end a node certificate is
	// remade when it is next used.
	clusterNodeRenew = 15 * 24 * time.Hour
)

// ErrClusterTLS is returned while the node has no cluster certificate:
// it is sealed, or a standby that has not seen the cluster CA yet.
var ErrClusterTLS = errors.New("cluster TLS is not available: the node is sealed or has no cluster CA yet")

// clusterCAEntry is the stored form of the cluster CA.
type clusterCAEntry struct {
	Cert []byte `json:"ca_cert"` // DER
	Key  []byte `json:"ca_key"`  // PKCS #8 DER
}

// clusterTLS is the cluster CA and this node's certificate.
type clusterTLS struct {
	mu     sync.Mutex
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	node   *tls.Certificate // guarded by mu; remade near its end
	sans   clusterSANs
	nodeID string
}

// clusterSANs are the names a node certificate is valid for.
type clusterSANs struct {
	ips []net.IP
	dns []string
}

// clusterHost returns the host of a cluster address ("https://h:p" or
// "h:p").
func clusterHost(addr string) string {
	if addr == "" {
		return ""
	}
	if strings.Contains(addr, "://") {
		if u, err := url.Parse(addr); err == nil {
			return u.Hostname()
		}
		return ""
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func sansFor(addr string) clusterSANs {
	h := clusterHost(addr)
	if h == "" {
		return clusterSANs{}
	}
	if ip := net.ParseIP(h); ip != nil {
		return clusterSANs{ips: []net.IP{ip}}
	}
	return clusterSANs{dns: []string{h}}
}

// newClusterCA makes a cluster CA, ECDSA P-256, valid for ten years.
func newClusterCA(now time.Time) (clusterCAEntry, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return clusterCAEntry{}, fmt.Errorf("generate cluster CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "coffer cluster CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(clusterCALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return clusterCAEntry{}, fmt.Errorf("sign cluster CA: %w", err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return clusterCAEntry{}, fmt.Errorf("encode cluster CA key: %w", err)
	}
	return clusterCAEntry{Cert: der, Key: k}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// parseClusterCA checks a stored CA and returns the certificate and key.
func parseClusterCA(e clusterCAEntry) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cert, err := x509.ParseCertificate(e.Cert)
	if err != nil {
		return nil, nil, fmt.Errorf("parse cluster CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(e.Key)
	if err != nil {
		return nil, nil, errors.New("parse cluster CA key: malformed")
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !cert.IsCA || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, errors.New("cluster CA: the key does not match the certificate")
	}
	return cert, key, nil
}

// newClusterTLS builds a node's cluster TLS state from the CA.
func newClusterTLS(e clusterCAEntry, nodeID, clusterAddr string, now time.Time) (*clusterTLS, error) {
	ca, key, err := parseClusterCA(e)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ct := &clusterTLS{ca: ca, caKey: key, pool: pool, sans: sansFor(clusterAddr), nodeID: nodeID}
	if ct.node, err = ct.issue(now); err != nil {
		return nil, err
	}
	return ct, nil
}

// issue makes a fresh node key and certificate for server and client
// authentication.
func (ct *clusterTLS) issue(now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	notAfter := now.Add(clusterNodeLifetime)
	if notAfter.After(ct.ca.NotAfter) {
		notAfter = ct.ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: ct.nodeID},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  ct.sans.ips,
		DNSNames:     ct.sans.dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ct.ca, &key.PublicKey, ct.caKey)
	if err != nil {
		return nil, fmt.Errorf("sign node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse node certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der, ct.ca.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// certificate returns the node certificate, remade when it nears its end.
func (ct *clusterTLS) certificate(now time.Time) (*tls.Certificate, error) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.node.Leaf.NotAfter.Sub(now) < clusterNodeRenew {
		n, err := ct.issue(now)
		if err != nil {
			return nil, err
		}
		ct.node = n
	}
	return ct.node, nil
}

// LoadClusterTLS reads the cluster CA (the active node creates it when
// missing: create) and makes this node's certificate. A standby that
// finds no CA is left without cluster TLS until the active node writes
// it. The caller holds the state lock; the server calls it when it
// reloads its state after a snapshot restore.
func (n *Node) LoadClusterTLS(ctx context.Context, create bool) error {
	st := n.host.Storage()
	e, err := st.Get(ctx, ClusterTLSKey)
	if err != nil {
		return fmt.Errorf("read cluster CA: %w", err)
	}
	var ca clusterCAEntry
	switch {
	case e != nil:
		if err := json.Unmarshal(e.Value, &ca); err != nil {
			return fmt.Errorf("decode cluster CA: %w", err)
		}
	case create:
		if ca, err = newClusterCA(n.now()); err != nil {
			return err
		}
		buf, err := json.Marshal(ca)
		if err != nil {
			return fmt.Errorf("encode cluster CA: %w", err)
		}
		if err := st.Put(ctx, &storage.Entry{Key: ClusterTLSKey, Value: buf}); err != nil {
			return fmt.Errorf("write cluster CA: %w", err)
		}
		n.logger.Info("created the cluster CA")
	default:
		n.clusterTLS.Store(nil)
		return nil
	}
	ct, err := newClusterTLS(ca, n.opts.NodeID, n.opts.ClusterAddr, n.now())
	if err != nil {
		return err
	}
	n.clusterTLS.Store(ct)
	return nil
}

// currentClusterTLS returns the node's cluster TLS state, or
// [ErrClusterTLS].
func (n *Node) currentClusterTLS() (*clusterTLS, error) {
	if n.host.Sealed() {
		return nil, ErrClusterTLS
	}
	ct := n.clusterTLS.Load()
	if ct == nil {
		return nil, ErrClusterTLS
	}
	return ct, nil
}

// ServerTLS returns the TLS configuration of this node's cluster
// listener: the node certificate, TLS 1.2 or later, and a client
// certificate from the cluster CA required. It returns [ErrClusterTLS]
// while the node is sealed or has no cluster CA; a listener's
// GetConfigForClient then fails the handshake. Each call builds a new
// configuration, so a reloaded CA applies to the next connection.
func (n *Node) ServerTLS() (*tls.Config, error) {
	ct, cert, err := n.nodeCertificate()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ct.pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// ClientTLS returns the TLS configuration a node uses to reach another
// node's cluster listener at serverName: it presents this node's
// certificate and trusts only the cluster CA. It returns [ErrClusterTLS]
// while the node is sealed or has no cluster CA.
func (n *Node) ClientTLS(serverName string) (*tls.Config, error) {
	ct, cert, err := n.nodeCertificate()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		RootCAs:      ct.pool,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// IsPeer reports whether state is a TLS connection whose client presented
// a certificate from this cluster's CA, verified in the handshake and
// valid now for client authentication: another node of the cluster (or
// this one). Only such a peer may vouch for the client address of a
// request it forwards. It is false while the node is sealed or has no
// cluster CA.
func (n *Node) IsPeer(state *tls.ConnectionState) bool {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return false
	}
	ct, err := n.currentClusterTLS()
	if err != nil {
		return false
	}
	_, err = state.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:       ct.pool,
		CurrentTime: n.now(),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// nodeCertificate returns the cluster TLS state and this node's current
// certificate, for both ends of a cluster connection.
func (n *Node) nodeCertificate() (*clusterTLS, *tls.Certificate, error) {
	ct, err := n.currentClusterTLS()
	if err != nil {
		return nil, nil, err
	}
	cert, err := ct.certificate(n.now())
	if err != nil {
		return nil, nil, err
	}
	return ct, cert, nil
}
