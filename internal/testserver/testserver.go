// Package testserver runs a real Coffer server on 127.0.0.1:0 for tests:
// the whole stack (HTTP API, core, barrier, storage), in-memory storage by
// default, initialized and unsealed with KV version 2 at secret/, as
// `coffer server --dev` starts. Tests drive it with the official Vault API
// client.
package testserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/server"
	"github.com/coffer-secrets/coffer/internal/uuid"
	"github.com/hashicorp/vault/api"
)

// Options changes how the test server starts.
type Options struct {
	// Sealed leaves the server initialized but sealed.
	Sealed bool
	// Uninitialized leaves the server uninitialized (and so sealed).
	Uninitialized bool
	// BoltPath, when set, stores data in a bolt file there instead of in
	// memory. A server started again on the same path finds it initialized:
	// it is then unsealed with UnsealKeys (unless Sealed is set).
	BoltPath string
	// UnsealKeys unseal a server whose storage is already initialized.
	UnsealKeys []string
	// RootToken is the root token ID to create (default: random).
	RootToken string
	// MaxRequestSize overrides the body limit.
	MaxRequestSize int64
	// Logger receives the server log (default: discarded).
	Logger *slog.Logger
	// Clock, when set, is the server's clock (for tests of expiry).
	Clock logical.Clock
	// ExtraConfig is appended to the server's HCL configuration (audit
	// blocks, telemetry, audit_allowed_dirs...).
	ExtraConfig string
	// AuditAnyDir lets the API enable audit files anywhere, as dev mode
	// does.
	AuditAnyDir bool
	// Postgres, when set, stores data in PostgreSQL instead (BoltPath is
	// then ignored). With Postgres.HA several test servers on one
	// database form a cluster: the first (uninitialized storage) is
	// initialized, unsealed and waited for until active; later ones find
	// the storage initialized and are unsealed with UnsealKeys, as
	// standbys.
	Postgres *Postgres
	// NodeID names the node in a cluster (default: random).
	NodeID string
	// DisableForwarding makes a standby redirect (307) instead of
	// forwarding.
	DisableForwarding bool
	// StepDownWait is how long a node that stepped down waits before it
	// competes again (default: the core's).
	StepDownWait time.Duration
	// OnTransition hears each change of the node's role, with its time.
	OnTransition func(ha.Transition)
	// ClusterAddr, with Postgres.HA, opens a cluster listener (mutual TLS
	// between nodes) there, e.g. "127.0.0.1:0" for a free port; the
	// server's ClusterAddr reports the address it announces.
	ClusterAddr string
}

// Postgres selects PostgreSQL storage for a test server.
type Postgres struct {
	// URL is the connection string (with the test's own database or
	// search_path).
	URL string
	// Table is the table (default: the configuration's default).
	Table string
	// HA enables leader election (ha_enabled).
	HA bool
}

// Server is a running test server.
type Server struct {
	// Addr is the API base URL, e.g. "http://127.0.0.1:41234".
	Addr string
	// RootToken is the root token (empty when the storage was already
	// initialized by an earlier server).
	RootToken string
	// UnsealKeys are the base64 key shares (one share, threshold one).
	UnsealKeys []string
	// Client is an official API client with the root token set.
	Client *api.Client
	// NodeID is the node's name in a cluster.
	NodeID string
	// ClusterAddr is the node's cluster listener URL, e.g.
	// "https://127.0.0.1:41235"; empty without one.
	ClusterAddr string

	srv    *server.Server
	cancel context.CancelFunc
	done   chan error

	closeOnce sync.Once
	closeErr  error // set by closeOnce
}

// New starts a server; callers must Close it.
func New(opts Options) (*Server, error) {
	storageBlock := `storage "inmem" {}`
	switch {
	case opts.Postgres != nil:
		storageBlock = fmt.Sprintf("storage \"postgresql\" {\n connection_url = %s\n ha_enabled = %t\n max_parallel = 16\n", strconv.Quote(opts.Postgres.URL), opts.Postgres.HA)
		if opts.Postgres.Table != "" {
			storageBlock += fmt.Sprintf(" table = %s\n", strconv.Quote(opts.Postgres.Table))
		}
		storageBlock += "}"
	case opts.BoltPath != "":
		storageBlock = fmt.Sprintf("storage \"bolt\" {\n path = %s\n}", strconv.Quote(opts.BoltPath))
	}
	src := storageBlock + "\nlistener \"tcp\" {\n address = \"127.0.0.1:0\"\n tls_disable = true\n}\n"
	src += opts.ExtraConfig + "\n"
	if opts.MaxRequestSize > 0 {
		src += fmt.Sprintf("max_request_size = %d\n", opts.MaxRequestSize)
	}
	cfg, err := config.Parse([]byte(src), "testserver.hcl", func(string) string { return "" })
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	nodeID := opts.NodeID
	if nodeID == "" {
		nodeID = "node-" + uuid.New()[:8]
	}
	startCtx, cancelStart := context.WithTimeout(ctx, 30*time.Second)
	defer cancelStart()
	srv, err := server.New(startCtx, server.Options{
		Config:            cfg,
		Logger:            opts.Logger,
		Clock:             opts.Clock,
		Dev:               opts.AuditAnyDir,
		NodeID:            nodeID,
		DisableForwarding: opts.DisableForwarding,
		StepDownWait:      opts.StepDownWait,
		OnTransition:      opts.OnTransition,
		ClusterAddr:       opts.ClusterAddr,
	})
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: srv.Addrs()[0], ClusterAddr: srv.ClusterAddr(), NodeID: nodeID, srv: srv, UnsealKeys: opts.UnsealKeys, done: make(chan error, 1)}
	runCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go func() { s.done <- srv.Run(runCtx) }()
	if err := s.setUp(ctx, opts); err != nil {
		s.Close()
		return nil, err
	}
	cl, err := api.NewClient(&api.Config{Address: s.Addr})
	if err != nil {
		s.Close()
		return nil, err
	}
	cl.SetToken(s.RootToken)
	s.Client = cl
	return s, nil
}

func (s *Server) setUp(ctx context.Context, opts Options) error {
	c := s.srv.Core()
	initialized, err := c.Initialized(ctx)
	if err != nil {
		return err
	}
	switch {
	case opts.Uninitialized:
		if initialized {
			return errors.New("testserver: storage is already initialized")
		}
		return nil
	case initialized:
		// A node joining a cluster shares the first node's root token.
		s.RootToken = opts.RootToken
		if opts.Sealed {
			return nil
		}
		for _, k := range s.UnsealKeys {
			b, err := base64.StdEncoding.DecodeString(k)
			if err != nil {
				return err
			}
			if _, err := c.Unseal(ctx, b); err != nil {
				return err
			}
		}
		return nil
	case opts.Sealed:
		res, err := c.Initialize(ctx, core.InitRequest{SecretShares: 1, SecretThreshold: 1, RootTokenID: opts.RootToken})
		if err != nil {
			return err
		}
		s.RootToken = string(res.RootToken)
		s.UnsealKeys = []string{base64.StdEncoding.EncodeToString(res.Shares[0])}
		return nil
	case opts.Postgres != nil && opts.Postgres.HA:
		return s.setUpCluster(ctx, opts)
	default:
		info, err := server.SetUpDev(ctx, c, opts.RootToken)
		if err != nil {
			return err
		}
		s.RootToken = info.RootToken
		s.UnsealKeys = []string{info.UnsealKey}
		return nil
	}
}

// setUpCluster initializes the first node of a cluster, unseals it, waits
// until it leads and mounts KV version 2 at secret/.
func (s *Server) setUpCluster(ctx context.Context, opts Options) error {
	c := s.srv.Core()
	res, err := c.Initialize(ctx, core.InitRequest{SecretShares: 1, SecretThreshold: 1, RootTokenID: opts.RootToken})
	if err != nil {
		return err
	}
	s.RootToken = string(res.RootToken)
	s.UnsealKeys = []string{base64.StdEncoding.EncodeToString(res.Shares[0])}
	if _, err := c.Unseal(ctx, res.Shares[0]); err != nil {
		return err
	}
	if err := s.WaitActive(ctx, 30*time.Second); err != nil {
		return err
	}
	return c.Mount(ctx, core.MountInput{Path: "secret", Type: "kv", Description: "key/value secret storage", Options: map[string]string{"version": "2"}})
}

// WaitActive polls until the node is the active node of its cluster, or
// fails after timeout.
func (s *Server) WaitActive(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !s.srv.Core().HAStatus().Active {
		if time.Now().After(deadline) {
			return fmt.Errorf("testserver: node %s did not become active within %s", s.NodeID, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Core returns the server's core, for tests that check internal state.
func (s *Server) Core() *core.Core { return s.srv.Core() }

// Close stops the server gracefully and closes its storage. Calling it
// again returns the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.closeErr = <-s.done
	})
	return s.closeErr
}

// Start starts a dev-like server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server with opts for t and stops it when t ends.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("testserver: close: %v", err)
		}
	})
	return s
}

// GCPAddr is the address ("host:port") of the Google Cloud Secret
// Manager gRPC listener, "" without a gcp_secret_manager block.
func (s *Server) GCPAddr() string { return s.srv.GCPAddr() }
