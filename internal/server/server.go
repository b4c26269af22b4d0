// Package server is Coffer's composition root: it reads the configuration,
// builds storage and the core, opens listeners and serves the HTTP API
// until told to stop. It alone imports every other package.
//
// A [Server] is built by [New], which opens storage and binds listeners but
// starts no goroutines, and runs in [Server.Run], which serves until its
// context ends and then shuts down gracefully: requests in flight finish,
// then storage is closed.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/coffer-secrets/coffer/internal/awsapi"
	"github.com/coffer-secrets/coffer/internal/awsauth"
	"github.com/coffer-secrets/coffer/internal/azureapi"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/coffer-secrets/coffer/internal/builtin"
	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/httpapi"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/metrics"
	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/snapshot"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/bolt"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
	"github.com/coffer-secrets/coffer/internal/tlsutil"
	"github.com/coffer-secrets/coffer/internal/ui"
)

// Version is the server version reported by the API.
const Version = "0.1.0"

// Options configures [New].
type Options struct {
	// Config is the validated server configuration.
	Config *config.Config
	// DataDir holds generated TLS material (the local CA).
	DataDir string
	// Logger receives the server log.
	Logger *slog.Logger
	// Clock tells the time; nil means the system clock. Tests inject one.
	Clock logical.Clock
	// Dev relaxes what dev mode may relax: audit files enabled through
	// the API may be written anywhere, and sys/rotate/config takes
	// intervals down to one second (checked every second) instead of
	// Vault's 24-hour minimum.
	Dev bool
	// NodeID names this node of a cluster (storage "postgresql" with
	// ha_enabled); empty means the host name with a random suffix.
	// Main takes it from the configuration (COFFER_NODE_ID).
	NodeID string
	// ClusterAddr overrides the configuration's cluster_addr (which
	// COFFER_CLUSTER_ADDR already overrides). A node of a cluster opens a
	// cluster listener serving the API over mutual TLS with the cluster
	// CA when a listener sets cluster_address (bound there) or a cluster
	// address is given (bound at its host and port, port 0 picking a free
	// one). It announces the cluster address, or else the cluster_address
	// it bound, to the other nodes, whose standbys forward there.
	ClusterAddr string
	// DisableForwarding makes a standby answer requests it does not serve
	// itself with a 307 redirect to the active node instead of forwarding
	// them, as the configuration's disable_request_forwarding (or
	// COFFER_DISABLE_REQUEST_FORWARDING) does; tests set it per node.
	DisableForwarding bool
	// StepDownWait is how long a node that stepped down waits before it
	// competes for leadership again; zero means the core's default.
	StepDownWait time.Duration
	// OnTransition, when set, hears each change of this node's role
	// (tests order events across nodes with it).
	OnTransition func(ha.Transition)
	// Getenv reads the environment variables a static seal's env:// keys
	// name; nil means os.Getenv.
	Getenv func(string) string
}

// Server is one running Coffer server.
type Server struct {
	cfg       *config.Config
	logger    *slog.Logger
	core      *core.Core
	storage   storage.Storage
	listeners []net.Listener
	addrs     []string       // API URLs, one per listener
	servers   []*http.Server // one per listener, with its limits
	reloaders []*tlsutil.Reloader
	caPath    string
	pidFile   string // written by New; "" when none
	// clusterLn is the cluster listener (mutual TLS between nodes) and
	// clusterSrv serves it; both nil for a single server or a node without
	// a cluster address.
	clusterLn   net.Listener
	clusterSrv  *http.Server
	clusterAddr string // announced cluster address; "" without clusterLn
	// seals are the configured auto seal and the disabled one (either may
	// be nil); closed when the server stops.
	seals []seal.Wrapper
	// snapshots writes the scheduled snapshots; nil without a snapshot
	// block.
	snapshots *snapshot.Scheduler
	// gcp serves the Google Cloud Secret Manager API; nil without a
	// gcp_secret_manager block.
	gcp *gcpListener
}

// New opens storage, builds the core and binds every listener. It starts
// no goroutines; call Run.
func New(ctx context.Context, opts Options) (_ *Server, err error) {
	cfg := opts.Config
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, storageType, err := openStorage(ctx, cfg.Storage, logger)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, storage: st}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	for _, w := range cfg.Warnings {
		args := []any{"key", w.Key}
		if w.Block != "" {
			args = append(args, "block", w.Block)
		}
		logger.Warn("ignored configuration key", append(args, "at", w.Pos, "reason", w.Why)...)
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	autoSeal, err := newSeal(cfg.Seal, getenv, logger)
	if err != nil {
		return nil, err
	}
	oldSeal, err := newSeal(cfg.DisabledSeal, getenv, logger)
	if err != nil {
		if autoSeal != nil {
			autoSeal.Close()
		}
		return nil, fmt.Errorf("disabled seal: %w", err)
	}
	for _, w := range []seal.Wrapper{autoSeal, oldSeal} {
		if w != nil {
			s.seals = append(s.seals, w)
		}
	}
	for i := range cfg.Listeners {
		if err := s.listen(&cfg.Listeners[i], opts.DataDir); err != nil {
			return nil, err
		}
	}
	physical := st
	var haOpts *ha.Options
	if pg, ok := st.(*postgres.Storage); ok {
		physical = fencedStorage{Storage: st}
		if cfg.Storage.Postgres.HAEnabled {
			if haOpts, err = s.haOptions(pg, opts); err != nil {
				return nil, err
			}
		}
	}
	// The gauges read the core, which is built next; they are only read
	// when metrics are scraped.
	var c *core.Core
	inflight := httpapi.NewInFlight()
	m := metrics.New(metrics.Gauges{
		Sealed: func() float64 {
			if c.Sealed() {
				return 1
			}
			return 0
		},
		Tokens:             func() float64 { return float64(c.Stats().Tokens) },
		Leases:             func() float64 { return float64(c.Stats().Leases) },
		BarrierEncryptions: func() float64 { return float64(c.Stats().BarrierEncryptions) },
		LockoutEntries:     func() float64 { return float64(c.Stats().LockoutEntries) },
	})
	c, err = core.New(core.Options{
		Physical:              m.Storage(physical),
		StorageType:           storageType,
		Engines:               builtin.Engines(),
		AuthMethods:           builtin.AuthMethods(),
		DatabasePlugins:       builtin.DatabasePlugins(),
		Lockout:               lockouts(cfg.UserLockout),
		Logger:                logger,
		Clock:                 opts.Clock,
		DefaultLeaseTTL:       cfg.DefaultLeaseTTL,
		MaxLeaseTTL:           cfg.MaxLeaseTTL,
		Version:               Version,
		ClusterName:           cfg.ClusterName,
		Observer:              m,
		AuditDevices:          auditDevices(cfg.Audit),
		AuditAllowedDirs:      cfg.AuditAllowedDirs,
		AuditAnyDir:           opts.Dev,
		MinRotationInterval:   devDuration(opts.Dev, time.Second),
		RotationCheckInterval: devDuration(opts.Dev, time.Second),
		HA:                    haOpts,
		Seal:                  autoSeal,
		DisabledSeal:          oldSeal,
		SanitizedConfig:       cfg.Sanitized(),
		InFlight:              inflight.Snapshot,
	})
	if err != nil {
		return nil, err
	}
	s.core = c
	if s.snapshots, err = s.newScheduler(c, m); err != nil {
		return nil, err
	}
	if err := s.listenGCP(cfg.GCPSecretManager, c); err != nil {
		return nil, err
	}
	transport, err := s.forwardTransport()
	if err != nil {
		return nil, err
	}
	var cluster http.RoundTripper
	if haOpts != nil {
		cluster = s.clusterTransport()
	}
	// One body budget for every listener that does not set its own: the
	// bound is on the process's memory, not per address.
	budget := httpapi.NewBudget(0)
	// The AWS Secrets Manager API, when configured, shares each
	// listener's limits and one authenticator (its token cache).
	var awsAuth awsauth.Authenticator
	if a := cfg.AWSSecretsManager; a != nil {
		awsAuth = awsauth.New(c, awsauth.Options{Mount: a.AuthMount, Logger: logger})
	}
	// The web UI (ui = true) is static files beside the API on every
	// listener; it reaches the API from the browser like any client.
	var webUI *ui.Handler
	if cfg.UI {
		if webUI, err = ui.New(); err != nil {
			return nil, err
		}
	}
	api := func(h config.ListenerHTTP) *http.Server {
		lb := budget
		if h.MaxRequestBodyBudget > 0 {
			lb = httpapi.NewBudget(h.MaxRequestBodyBudget)
		}
		handler := httpapi.New(httpapi.Options{
			Core:                   c,
			Logger:                 logger,
			MaxRequestSize:         h.MaxRequestSize,
			Metrics:                m,
			UnauthenticatedMetrics: h.UnauthenticatedMetricsAccess,
			RedirectToActive:       opts.DisableForwarding || cfg.DisableRequestForwarding,
			ForwardTransport:       transport,
			ClusterTransport:       cluster,
			DisableRekey:           h.DisableUnauthedRekeyEndpoints,
			DisableGenerateRoot:    h.DisableUnauthedGenerateRootEndpoints,
			InFlight:               inflight,
			Budget:                 lb,
			BodyGrace:              h.RequestBodyGrace,
			BodyMinRate:            h.MinRequestBodyRate,
		})
		var root http.Handler = handler
		if awsAuth != nil {
			root = withAWS(handler, handler.Track("aws-secrets-manager", awsapi.New(awsapi.Options{
				Core:    c,
				Auth:    awsAuth,
				Mount:   cfg.AWSSecretsManager.Mount,
				Account: cfg.AWSSecretsManager.AccountID,
				Body:    handler,
				Forward: handler,
				Logger:  logger,
			})))
		}
		if cfg.AzureServed() {
			root = withAzure(root, handler.Track("azure-key-vault", azureapi.New(azureapi.Options{
				Core:    c,
				Mount:   cfg.AzureKeyVault.Mount,
				Forward: handler,
				Body:    handler,
				Logger:  logger,
			})))
		}
		if webUI != nil {
			root = webUI.Wrap(root)
		}
		return &http.Server{
			Handler:           s.wrap(root, h.MaxRequestDuration),
			ConnContext:       connContext,
			ReadHeaderTimeout: h.ReadHeaderTimeout,
			ReadTimeout:       h.ReadTimeout,
			WriteTimeout:      h.WriteTimeout,
			IdleTimeout:       h.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
	}
	for _, l := range cfg.Listeners {
		s.servers = append(s.servers, api(l.HTTP))
	}
	if s.clusterLn != nil {
		s.clusterSrv = api(clusterListener(cfg.Listeners).HTTP)
		// Standbys forward Google Cloud Secret Manager calls here.
		s.clusterSrv.Handler = s.withGCPForwarded(s.clusterSrv.Handler)
	}
	if cfg.PIDFile != "" {
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("write pid_file: %w", err)
		}
		s.pidFile = cfg.PIDFile
	}
	return s, nil
}

// haOptions makes this server one node of the cluster sharing pg.
func (s *Server) haOptions(pg *postgres.Storage, opts Options) (*ha.Options, error) {
	nodeID := opts.NodeID
	if nodeID == "" {
		nodeID = defaultNodeID()
	}
	apiAddr := s.cfg.APIAddr
	if apiAddr == "" {
		apiAddr = s.addrs[0]
		s.logger.Warn("api_addr is not set; other nodes will forward to this node's first listener address", "api_addr", apiAddr)
	}
	backend, err := newPGHA(pg, s.cfg.Storage.Postgres.Table, nodeID, apiAddr, s.cfg.Storage.Postgres.HALeaseTTL, s.logger)
	if err != nil {
		return nil, err
	}
	clusterAddr := cmp.Or(opts.ClusterAddr, s.cfg.ClusterAddr)
	if bind := clusterListener(s.cfg.Listeners).ClusterAddress; bind != "" || clusterAddr != "" {
		if clusterAddr, err = s.listenCluster(bind, clusterAddr); err != nil {
			return nil, err
		}
	}
	host, _ := os.Hostname()
	return &ha.Options{
		Backend:      backend,
		NodeID:       nodeID,
		APIAddr:      apiAddr,
		ClusterAddr:  clusterAddr,
		Hostname:     host,
		StepDownWait: opts.StepDownWait,
		OnTransition: opts.OnTransition,

		MaxStandbyLag: s.cfg.Storage.Postgres.HAMaxStandbyLag,
	}, nil
}

// forwardTransport is how a standby reaches the active node: HTTP/1.1 or
// HTTP/2 with the system's roots plus the local CA, when this server uses
// one (the nodes of a cluster then share its data directory's CA).
func (s *Server) forwardTransport() (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if s.caPath == "" {
		return t, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(s.caPath)
	if err != nil {
		return nil, fmt.Errorf("read local CA for forwarding: %w", err)
	}
	pool.AppendCertsFromPEM(pem)
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// openStorage builds the physical storage the configuration names.
func openStorage(ctx context.Context, sc *config.Storage, logger *slog.Logger) (storage.Storage, string, error) {
	if sc == nil {
		return nil, "", errors.New("no storage configured")
	}
	switch sc.Type {
	case config.StorageInmem:
		return inmem.New(), "inmem", nil
	case config.StorageBolt:
		st, err := bolt.Open(bolt.Options{Path: sc.Bolt.Path})
		if err != nil {
			return nil, "", fmt.Errorf("open bolt storage: %w", err)
		}
		return st, "bolt", nil
	case config.StoragePostgres:
		st, err := openPostgres(ctx, sc.Postgres, logger)
		if err != nil {
			return nil, "", err
		}
		return st, "postgresql", nil
	default:
		return nil, "", fmt.Errorf("storage %q is not available in this version", sc.Type)
	}
}

// listen binds one listener, with TLS unless it is disabled.
func (s *Server) listen(l *config.Listener, dataDir string) error {
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", l.Address, err)
	}
	ln = limitConns(ln, connCap(l.HTTP.MaxConnections), int(l.HTTP.MaxConnectionsPerIP))
	scheme := "http"
	if !l.TLSDisable {
		certFile, keyFile := l.TLSCertFile, l.TLSKeyFile
		if l.LocalCA() {
			host, _, _ := net.SplitHostPort(ln.Addr().String())
			paths, err := tlsutil.EnsureLocalCA(filepath.Join(dataDir, "tls"), []string{host}, time.Now())
			if err != nil {
				ln.Close()
				return fmt.Errorf("local CA: %w", err)
			}
			certFile, keyFile = paths.Cert, paths.Key
			s.caPath = paths.CACert
		}
		topts := tlsutil.ServerOptions{
			MinVersion:        l.TLSMinVersion.Uint16(),
			MaxVersion:        l.TLSMaxVersion.Uint16(),
			CipherSuites:      cipherSuiteIDs(l.TLSCipherSuites),
			ClientCAFile:      l.TLSClientCAFile,
			RequireClientCert: l.TLSRequireAndVerifyClientCert,
		}
		if l.TLSDisableClientCerts {
			topts.ClientCAFile, topts.RequireClientCert = "", false
		}
		tcfg, rl, err := tlsutil.ServerConfig(certFile, keyFile, topts)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS for %s: %w", l.Address, err)
		}
		s.reloaders = append(s.reloaders, rl)
		ln = tls.NewListener(ln, tcfg)
		scheme = "https"
	}
	s.listeners = append(s.listeners, ln)
	s.addrs = append(s.addrs, scheme+"://"+ln.Addr().String())
	return nil
}

// Core returns the server's core.
func (s *Server) Core() *core.Core { return s.core }

// Addrs returns the API URL of each listener, e.g. "http://127.0.0.1:8200".
func (s *Server) Addrs() []string { return s.addrs }

// CAPath returns the local CA certificate file, or "" when none is used.
func (s *Server) CAPath() string { return s.caPath }

// ReloadTLS re-reads every listener's certificate (on SIGHUP); a pair that
// fails to load leaves the old one in use.
func (s *Server) ReloadTLS() error {
	var errs []error
	for _, rl := range s.reloaders {
		errs = append(errs, rl.Reload())
	}
	return errors.Join(errs...)
}

// Run serves until ctx ends, then stops accepting connections, lets
// requests in flight finish (up to 30 s), seals and closes storage.
func (s *Server) Run(ctx context.Context) error {
	lns, srvs := s.listeners, s.servers
	if s.clusterLn != nil {
		lns = append(slices.Clip(lns), s.clusterLn)
		srvs = append(slices.Clip(srvs), s.clusterSrv)
	}
	// Auto-unseal and the seal's token renewal run until shutdown.
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	var bgWG sync.WaitGroup
	bgWG.Go(func() { s.core.RunAutoUnseal(bg) })
	for _, w := range s.seals {
		if r, ok := w.(sealRunner); ok {
			bgWG.Go(func() { r.Run(bg) })
		}
	}
	// A listener that fails ends serving (servingCtx) for all of them;
	// Wait returns that failure once every listener has shut down.
	serving, servingCtx := errgroup.WithContext(ctx)
	for i, ln := range lns {
		serving.Go(func() error {
			if err := srvs[i].Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if s.gcp != nil {
		serving.Go(s.gcp.serve)
	}
	snapCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if s.snapshots != nil {
		wg.Go(func() { s.snapshots.Run(snapCtx) })
	}
	if s.gcp != nil {
		// The rotation sweep skips its turn on a standby or sealed node.
		wg.Go(func() { s.gcp.rot.Run(snapCtx) })
	}
	<-servingCtx.Done()
	stopBackground()
	// Shutdown must outlive ctx, which has ended: in-flight requests get
	// their own deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var runErr error
	var shut sync.WaitGroup
	var shutMu sync.Mutex
	for _, srv := range srvs {
		shut.Go(func() {
			if err := srv.Shutdown(sctx); err != nil {
				shutMu.Lock()
				runErr = errors.Join(runErr, fmt.Errorf("shut down http: %w", err))
				shutMu.Unlock()
			}
		})
	}
	if s.gcp != nil {
		shut.Go(func() { s.gcp.stop(sctx) })
	}
	shut.Wait()
	runErr = errors.Join(serving.Wait(), runErr)
	wg.Wait()
	stopBG()
	bgWG.Wait()
	if err := s.core.Seal(sctx); err != nil {
		runErr = errors.Join(runErr, err)
	}
	s.closeSeals()
	if err := s.closeStorage(); err != nil {
		runErr = errors.Join(runErr, err)
	}
	s.removePIDFile()
	return runErr
}

// removePIDFile removes the pid_file New wrote, if any.
func (s *Server) removePIDFile() {
	if s.pidFile == "" {
		return
	}
	if err := os.Remove(s.pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.logger.Warn("remove pid_file", "err", err)
	}
}

// wrap adds to h what the configuration asks of every response: the
// X-Vault-Hostname header (enable_response_header_hostname) and a
// deadline on the request's context (max_request_duration).
func (s *Server) wrap(h http.Handler, maxDuration time.Duration) http.Handler {
	var host string
	if s.cfg.EnableResponseHeaderHostname {
		host, _ = os.Hostname()
	}
	if host == "" && maxDuration <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host != "" {
			w.Header().Set("X-Vault-Hostname", host)
		}
		if maxDuration > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), maxDuration)
			defer cancel()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

// withAWS sends POST / to aws (the AWS Secrets Manager API) and every
// other request to api (the Vault API, under /v1/).
func withAWS(api, aws http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && r.Method == http.MethodPost {
			aws.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// withAzure sends the Azure Key Vault paths (/secrets and
// /deletedsecrets and what is under them, nothing else) to azure and
// every other request to next.
func withAzure(next, azure http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if azureapi.Served(r.URL.Path) {
			azure.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cipherSuiteIDs turns cipher suite names, which the configuration has
// checked, into their IDs.
func cipherSuiteIDs(names []string) []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		if slices.Contains(names, cs.Name) {
			ids = append(ids, cs.ID)
		}
	}
	return ids
}

func (s *Server) closeStorage() error {
	if c, ok := s.storage.(storage.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("close storage: %w", err)
		}
	}
	return nil
}

// closeAll releases what New acquired, when New fails.
func (s *Server) closeAll() {
	for _, ln := range s.listeners {
		ln.Close()
	}
	if s.clusterLn != nil {
		s.clusterLn.Close()
	}
	if s.gcp != nil {
		s.gcp.ln.Close()
	}
	s.closeStorage()
	s.closeSeals()
	s.removePIDFile()
}

// closeSeals releases the seals' resources.
func (s *Server) closeSeals() {
	for _, w := range s.seals {
		if err := w.Close(); err != nil {
			s.logger.Warn("close seal", "type", w.Type(), "err", err)
		}
	}
	s.seals = nil
}

// newLogger builds the server's logger from the configuration.
func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	hopts := &slog.HandlerOptions{Level: cfg.LogLevel.Level()}
	if cfg.LogFormat == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}

// ensureDir makes dir with owner-only permissions.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// auditDevices turns the configuration's audit blocks into core's form:
// the options the audit package parses, as sys/audit/:path takes them.
func auditDevices(blocks []config.AuditDevice) []core.AuditDeviceConfig {
	out := make([]core.AuditDeviceConfig, 0, len(blocks))
	for _, b := range blocks {
		opts := map[string]string{
			"log_raw":       strconv.FormatBool(b.LogRaw),
			"hmac_accessor": strconv.FormatBool(b.HMACAccessor),
		}
		switch b.Type {
		case "file":
			opts["file_path"] = b.FilePath
			if b.Mode != "" {
				opts["mode"] = b.Mode
			}
			if b.WitnessAddress != "" {
				opts["witness_address"] = b.WitnessAddress
				opts["witness_type"] = b.WitnessType
				if b.WitnessWriteTimeout > 0 {
					opts["witness_write_timeout"] = b.WitnessWriteTimeout.String()
				}
			}
		case "socket":
			opts["address"] = b.Address
			if b.SocketType != "" {
				opts["socket_type"] = b.SocketType
			}
			if b.WriteTimeout > 0 {
				opts["write_timeout"] = b.WriteTimeout.String()
			}
		}
		out = append(out, core.AuditDeviceConfig{Path: b.Path, Type: b.Type, Description: b.Description, Options: opts})
	}
	return out
}

// lockouts turns the configuration's user_lockout blocks into core's
// server-wide lockout settings: each method's block over the "all" block,
// key by key (disable_lockout = false in a method's block turns lockout
// back on for it).
func lockouts(blocks map[string]config.UserLockout) map[string]core.LockoutConfig {
	if len(blocks) == 0 {
		return nil
	}
	all := blocks["all"]
	out := make(map[string]core.LockoutConfig, len(blocks))
	for name, b := range blocks {
		m := b
		if name != "all" {
			m = all
			if b.Threshold > 0 {
				m.Threshold = b.Threshold
			}
			if b.Duration > 0 {
				m.Duration = b.Duration
			}
			if b.CounterReset > 0 {
				m.CounterReset = b.CounterReset
			}
			if b.Disable != nil {
				m.Disable = b.Disable
			}
		}
		out[name] = core.LockoutConfig{Threshold: m.Threshold, Duration: m.Duration, CounterReset: m.CounterReset, Disable: m.Disable != nil && *m.Disable}
	}
	if _, ok := out["all"]; !ok {
		out["all"] = core.LockoutConfig{}
	}
	return out
}

// devDuration is d in dev mode and zero (the core's default) otherwise.
func devDuration(dev bool, d time.Duration) time.Duration {
	if dev {
		return d
	}
	return 0
}
