package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/gcpapi"
	"github.com/coffer-secrets/coffer/internal/tlsutil"
)

// Connection caps of the Google Cloud Secret Manager listener, as the
// HTTP listeners' defaults.
const (
	gcpMaxConns      = 4096
	gcpMaxConnsPerIP = 256
)

// gcpListener is the gRPC listener of the Google Cloud Secret Manager
// API: bound by New, served by Run.
type gcpListener struct {
	ln   net.Listener
	srv  *grpc.Server
	svc  *gcpapi.Service
	addr string // "host:port" as bound
	// rot sends SECRET_ROTATE when a secret's next_rotation_time
	// passes: background work of the active node, run by Run.
	rot *gcpapi.Rotator
}

// listenGCP binds the gcp_secret_manager listener, with TLS unless it is
// disabled, and builds its gRPC server over c. A nil block binds
// nothing.
func (s *Server) listenGCP(g *config.GCPSecretManager, c *core.Core) error {
	if g == nil {
		return nil
	}
	ln, err := net.Listen("tcp", g.Address)
	if err != nil {
		return fmt.Errorf("gcp_secret_manager: listen on %s: %w", g.Address, err)
	}
	addr := ln.Addr().String()
	ln = limitConns(ln, gcpMaxConns, gcpMaxConnsPerIP)
	var creds credentials.TransportCredentials
	if !g.TLSDisable {
		tcfg, rl, err := tlsutil.ServerConfig(g.TLSCertFile, g.TLSKeyFile, tlsutil.ServerOptions{MinVersion: tls.VersionTLS12})
		if err != nil {
			ln.Close()
			return fmt.Errorf("gcp_secret_manager: TLS: %w", err)
		}
		s.reloaders = append(s.reloaders, rl)
		creds = credentials.NewTLS(tcfg)
	}
	prefix := g.MountPrefix
	svc := gcpapi.New(gcpapi.Options{Core: c, MountPrefix: &prefix, Logger: s.logger, Events: c, Cluster: c})
	rot := gcpapi.NewRotator(gcpapi.RotatorOptions{Host: c, MountPrefix: &prefix, Logger: s.logger})
	s.gcp = &gcpListener{ln: ln, srv: gcpapi.NewServer(svc, creds), svc: svc, addr: addr, rot: rot}
	return nil
}

// GCPAddr answers the address the Google Cloud Secret Manager API
// listens on ("host:port"), "" when it is not served.
func (s *Server) GCPAddr() string {
	if s.gcp == nil {
		return ""
	}
	return s.gcp.addr
}

// serveGCP serves the gRPC listener until stopGCP.
func (g *gcpListener) serve() error {
	if err := g.srv.Serve(g.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("gcp_secret_manager: %w", err)
	}
	return nil
}

// stop lets calls in flight finish until ctx ends, then cuts the rest.
func (g *gcpListener) stop(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		g.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		g.srv.Stop()
		<-done
	}
	g.svc.Close()
}

// withGCPForwarded routes the gRPC calls that reach the cluster listener
// (HTTP/2, which it offers by ALPN), forwarded by a standby, to the
// Google Cloud Secret Manager service; everything else goes to next. Only
// the cluster listener's server is wrapped: its handshake requires a
// cluster certificate, which the service checks again.
func (s *Server) withGCPForwarded(next http.Handler) http.Handler {
	if s.gcp == nil {
		return next
	}
	g := s.gcp
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			g.svc.ServeCluster(g.srv, w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
