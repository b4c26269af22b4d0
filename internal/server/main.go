package server

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/core"
)

const usage = `Usage: coffer server [options]

  Starts a Coffer server.

  coffer server --dev                 in-memory, unsealed, plain HTTP on 127.0.0.1:8200
  coffer server                       persistent (bolt in ./coffer-data), TLS with a local CA
  coffer server --config FILE         as FILE says (HCL)

  With storage "postgresql" and ha_enabled = true, several servers share one
  database: one is active, the others are standbys that serve reads and
  forward everything else to the active node. Set api_addr on each. The
  environment may also set:

  COFFER_NODE_ID                      this node's name (default: host name and a random suffix)
  COFFER_CLUSTER_ADDR                 reported to the other nodes in sys/ha-status
  COFFER_DISABLE_REQUEST_FORWARDING   "true": standbys answer 307 to the active node instead of forwarding

Options:
`

// flags are the command-line options of `coffer server`.
type flags struct {
	dev         bool
	devRoot     string
	listen      string
	configFile  string
	dataDir     string
	logLevel    string
	showVersion bool
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&f.dev, "dev", false, "run a development server: in-memory storage, unsealed, plain HTTP")
	fs.StringVar(&f.devRoot, "dev-root-token", "", "root token ID for dev mode (default: random)")
	fs.StringVar(&f.devRoot, "dev-root-token-id", "", "alias of -dev-root-token, as Vault spells it")
	fs.StringVar(&f.listen, "listen", "", "address to listen on (default 127.0.0.1:8200)")
	fs.StringVar(&f.listen, "dev-listen-address", "", "alias of -listen, as Vault spells it")
	fs.StringVar(&f.configFile, "config", "", "HCL configuration file")
	fs.StringVar(&f.dataDir, "data-dir", "coffer-data", "data directory when no configuration file is given")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.BoolVar(&f.showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.dev && f.configFile != "" {
		return nil, errors.New("-dev and -config cannot be used together")
	}
	return f, nil
}

// hclString quotes s as an HCL string literal with no interpolation.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// buildConfig returns the configuration the flags ask for.
func buildConfig(f *flags, getenv func(string) string) (*config.Config, string, error) {
	listen := f.listen
	if listen == "" {
		listen = config.DefaultListenAddress
	}
	var src string
	dataDir := f.dataDir
	switch {
	case f.configFile != "":
		cfg, err := config.Load(f.configFile, getenv)
		if err != nil {
			return nil, "", err
		}
		if cfg.Storage != nil && cfg.Storage.Bolt != nil {
			dataDir = filepath.Dir(cfg.Storage.Bolt.Path)
		}
		return applyLogFlag(cfg, f), dataDir, nil
	case f.dev:
		src = fmt.Sprintf("storage \"inmem\" {}\nlistener \"tcp\" {\n  address = %s\n  tls_disable = true\n}\n", hclString(listen))
	default:
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, "", err
		}
		dataDir = abs
		src = fmt.Sprintf("storage \"bolt\" {\n  path = %s\n}\nlistener \"tcp\" {\n  address = %s\n}\n",
			hclString(filepath.Join(dataDir, "coffer.db")), hclString(listen))
	}
	cfg, err := config.Parse([]byte(src), "command line", getenv)
	if err != nil {
		return nil, "", err
	}
	return applyLogFlag(cfg, f), dataDir, nil
}

func applyLogFlag(cfg *config.Config, f *flags) *config.Config {
	if f.logLevel != "" {
		c := *cfg
		c.LogLevel = config.LogLevel(strings.ToLower(f.logLevel))
		return &c
	}
	return cfg
}

// Main runs `coffer server` with args (the words after "server") and returns
// the process exit code: 0 after a clean shutdown, 1 for a usage or
// configuration error, 2 when the server fails.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	f, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	if f.showVersion {
		fmt.Fprintln(stdout, "Coffer v"+Version)
		return 0
	}
	cfg, dataDir, err := buildConfig(f, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "Error loading configuration:", err)
		return 1
	}
	if !f.dev {
		if err := ensureDir(dataDir); err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return 1
		}
	}
	logger := newLogger(stderr, cfg)
	srv, err := New(ctx, Options{
		Config:            cfg,
		DataDir:           dataDir,
		Logger:            logger,
		Dev:               f.dev,
		NodeID:            getenv("COFFER_NODE_ID"),
		ClusterAddr:       getenv("COFFER_CLUSTER_ADDR"),
		DisableForwarding: envTrue(getenv("COFFER_DISABLE_REQUEST_FORWARDING")),
	})
	if err != nil {
		fmt.Fprintln(stderr, "Error starting server:", err)
		return 2
	}
	if f.dev {
		info, err := SetUpDev(ctx, srv.Core(), f.devRoot)
		if err != nil {
			fmt.Fprintln(stderr, "Error setting up dev mode:", err)
			srv.closeAll()
			return 2
		}
		printDev(stdout, srv.Addrs()[0], info)
	} else {
		printStart(stdout, srv)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
				if err := srv.ReloadTLS(); err != nil {
					logger.Error("reload TLS certificates", "err", err)
				} else {
					logger.Info("reloaded TLS certificates")
				}
				if err := srv.Core().ReloadAudit(runCtx); err != nil {
					logger.Error("reopen audit files", "err", err)
				}
			}
		}
	}()
	if err := srv.Run(runCtx); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 2
	}
	fmt.Fprintln(stdout, "Coffer server stopped.")
	return 0
}

// envTrue reads a boolean environment variable: "1", "t", "true" (any
// case) and the other forms strconv.ParseBool takes; anything else is
// false.
func envTrue(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return err == nil && b
}

// DevInfo is what dev mode prints for the user.
type DevInfo struct {
	UnsealKey string
	RootToken string
}

// SetUpDev initializes c with one key share, unseals it and mounts KV
// version 2 at secret/, as Vault's dev mode does.
func SetUpDev(ctx context.Context, c *core.Core, rootTokenID string) (DevInfo, error) {
	res, err := c.Initialize(ctx, core.InitRequest{SecretShares: 1, SecretThreshold: 1, RootTokenID: rootTokenID})
	if err != nil {
		return DevInfo{}, err
	}
	key := base64.StdEncoding.EncodeToString(res.Shares[0])
	if _, err := c.Unseal(ctx, res.Shares[0]); err != nil {
		return DevInfo{}, err
	}
	if err := c.Mount(ctx, core.MountInput{Path: "secret", Type: "kv", Description: "key/value secret storage", Options: map[string]string{"version": "2"}}); err != nil {
		return DevInfo{}, err
	}
	return DevInfo{UnsealKey: key, RootToken: string(res.RootToken)}, nil
}

func printDev(w io.Writer, addr string, info DevInfo) {
	fmt.Fprintf(w, `==> Coffer server started in DEVELOPMENT mode.

WARNING! Dev mode keeps everything in memory, starts unsealed and serves
plain HTTP. Never use it for real secrets.

    Api Address: %s
    Unseal Key:  %s
    Root Token:  %s

KV version 2 is mounted at secret/. To use the CLI:

    export COFFER_ADDR='%s'
    export COFFER_TOKEN='%s'
    coffer kv put secret/hello foo=world

`, addr, info.UnsealKey, info.RootToken, addr, info.RootToken)
}

func printStart(w io.Writer, srv *Server) {
	fmt.Fprintf(w, "==> Coffer server started.\n\n")
	for _, a := range srv.Addrs() {
		fmt.Fprintf(w, "    Api Address: %s\n", a)
	}
	if p := srv.CAPath(); p != "" {
		fmt.Fprintf(w, "    Local CA:    %s\n", p)
	}
	fmt.Fprintf(w, "\nIf this server is new, initialize and unseal it:\n\n")
	fmt.Fprintf(w, "    export COFFER_ADDR='%s'\n", srv.Addrs()[0])
	if p := srv.CAPath(); p != "" {
		fmt.Fprintf(w, "    export COFFER_CACERT='%s'\n", p)
	}
	fmt.Fprintf(w, "    coffer operator init\n    coffer operator unseal   (repeat with the threshold number of keys)\n\n")
}
