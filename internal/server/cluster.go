package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/httpapi"
)

// The cluster listener: each node of a cluster with a cluster address
// serves the API there as well, over mutual TLS with certificates from the
// cluster CA that core keeps behind the barrier. Standbys forward requests
// to the active node's cluster listener (see httpapi), so only nodes of
// the cluster reach it.

// clusterHostPort returns the host:port to listen on for a cluster
// address, "https://host:port" or "host:port".
func clusterHostPort(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("cluster address %q: %w", addr, err)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("cluster address %q: the scheme must be https", addr)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", fmt.Errorf("cluster address %q: want host:port", addr)
	}
	return u.Host, nil
}

// clusterListener returns the listener that sets cluster_address (the
// configuration allows one), or else the first listener.
func clusterListener(ls []config.Listener) config.Listener {
	for _, l := range ls {
		if l.ClusterAddress != "" {
			return l
		}
	}
	if len(ls) == 0 {
		return config.Listener{}
	}
	return ls[0]
}

// listenCluster binds the cluster listener and returns the address to
// announce to the other nodes. It binds to bind (a listener's
// cluster_address) when set, else to announce's host and port. It
// announces announce (cluster_addr) when set, else the bound address,
// with the port the system picked when the announced port is 0 or
// missing. Each handshake takes its configuration from the core
// at that moment, so it fails while the node is sealed.
func (s *Server) listenCluster(bind, announce string) (string, error) {
	hostPort := bind
	if hostPort == "" {
		var err error
		if hostPort, err = clusterHostPort(announce); err != nil {
			return "", err
		}
	}
	var announcedHost, announcedPort string
	if announce != "" {
		hp, err := clusterHostPort(announce)
		if err != nil {
			return "", err
		}
		announcedHost, announcedPort, _ = net.SplitHostPort(hp)
	} else {
		announcedHost, _, _ = net.SplitHostPort(hostPort)
		if ip := net.ParseIP(announcedHost); announcedHost == "" || ip != nil && ip.IsUnspecified() {
			return "", fmt.Errorf("cluster_address %q listens on every interface; set cluster_addr to the address other nodes should use", hostPort)
		}
	}
	ln, err := net.Listen("tcp", hostPort)
	if err != nil {
		return "", fmt.Errorf("cluster listener on %s: %w", hostPort, err)
	}
	// The same connection caps as the API listener that sets
	// cluster_address: its TLS handshake comes after accept.
	h := clusterListener(s.cfg.Listeners).HTTP
	ln = limitConns(ln, connCap(h.MaxConnections), int(h.MaxConnectionsPerIP))
	if announcedPort == "" || announcedPort == "0" {
		_, announcedPort, _ = net.SplitHostPort(ln.Addr().String())
	}
	announced := "https://" + net.JoinHostPort(announcedHost, announcedPort)
	tcfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg, err := s.core.ClusterServerTLS()
			if err != nil {
				return nil, err
			}
			// HTTP/2 for the gRPC calls standbys forward (the Google
			// Cloud Secret Manager API); forwarded HTTP requests
			// offer no ALPN and stay on HTTP/1.1.
			cfg.NextProtos = []string{"h2", "http/1.1"}
			return cfg, nil
		},
	}
	s.clusterLn = tls.NewListener(markingListener{ln}, tcfg)
	s.clusterAddr = announced
	return announced, nil
}

// markingListener marks the connections it accepts as cluster
// connections, so that the HTTP server can tell them from the API
// listeners' (see connContext).
type markingListener struct{ net.Listener }

// clusterConn is a connection accepted on the cluster listener, under its
// TLS layer.
type clusterConn struct{ net.Conn }

func (l markingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return clusterConn{c}, nil
}

// connContext marks the context of a connection accepted on the cluster
// listener for the API handler, which then believes the client address a
// standby forwards with a request (after checking its cluster
// certificate).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if _, ok := tc.NetConn().(clusterConn); ok {
			return httpapi.OnClusterListener(ctx)
		}
	}
	return ctx
}

// clusterTransport carries forwarded requests to the active node's
// cluster listener: each connection presents this node's certificate and
// trusts only the cluster CA, both taken from the core when it is dialed.
func (s *Server) clusterTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		cfg, err := s.core.ClusterClientTLS(host)
		if err != nil {
			return nil, err
		}
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}
		return d.DialContext(ctx, network, addr)
	}
	return t
}

// ClusterAddr returns the address this node announces for its cluster
// listener, e.g. "https://127.0.0.1:8201", or "" when it has none.
func (s *Server) ClusterAddr() string { return s.clusterAddr }
