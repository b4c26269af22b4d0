package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/logical"
)

const usage = `Usage: coffer server [options]

  Starts a Coffer server.

  coffer server --dev                 in-memory, unsealed, plain HTTP on 127.0.0.1:8200
  coffer server                       persistent (bolt in ./coffer-data), TLS with a local CA
  coffer server --config FILE         as FILE says (HCL; see docs/configuration.md)
  coffer server --dev --config FILE   dev mode with FILE's listeners and settings;
                                      FILE's storage is replaced by in-memory storage
  coffer server --dev --gcp-listen ADDR
                                      dev mode that also serves the Google Cloud Secret
                                      Manager API (gRPC, plain text) on ADDR

  With storage "postgresql" and ha_enabled = true, several servers share one
  database: one is active, the others are standbys that serve reads and
  forward everything else to the active node. Set api_addr on each, and
  cluster_addr or a listener's cluster_address for forwarding. The
  environment may also set:

  COFFER_NODE_ID                      this node's name (default: host name and a random suffix)
  COFFER_CLUSTER_ADDR                 replaces cluster_addr (so does VAULT_CLUSTER_ADDR)
  COFFER_DISABLE_REQUEST_FORWARDING   "true": standbys answer 307 to the active node instead of forwarding

Options:
`

// flags are the command-line options of `coffer server`.
type flags struct {
	dev         bool
	devRoot     string
	listen      string
	gcpListen   string
	devTLS      bool
	configFile  string
	dataDir     string
	logLevel    string
	showVersion bool
	pprofListen string
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
	fs.BoolVar(&f.devTLS, "dev-tls", false, "dev mode: serve the listener over TLS with a certificate of a local CA made for this process (its path is printed), as Azure's SDKs need")
	fs.StringVar(&f.gcpListen, "gcp-listen", "", "dev mode: serve the Google Cloud Secret Manager API (gRPC, plain text) on this address")
	fs.StringVar(&f.configFile, "config", "", "HCL configuration file")
	fs.StringVar(&f.dataDir, "data-dir", "coffer-data", "data directory when no configuration file is given")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.BoolVar(&f.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&f.pprofListen, "pprof-listen", "", "serve Go's runtime profiles (net/http/pprof) on this loopback address, apart from the API; for profiling only")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.devTLS && (!f.dev || f.configFile != "") {
		return nil, errors.New("-dev-tls is for dev mode (-dev) without -config; with a file, give its listener TLS")
	}
	if f.gcpListen != "" && !f.dev {
		return nil, errors.New("-gcp-listen is for dev mode (-dev); elsewhere configure a gcp_secret_manager block with TLS")
	}
	return f, nil
}

// hclString quotes s as an HCL string literal with no interpolation.
func hclString(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, "${", "$${")
	return strings.ReplaceAll(q, "%{", "%%{")
}

// buildConfig returns the configuration the flags ask for, the data
// directory, and, in dev mode with a configuration file, the storage type
// that file named (replaced by in-memory storage).
func buildConfig(f *flags, getenv func(string) string) (*config.Config, string, string, error) {
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
			return nil, "", "", err
		}
		if f.dev {
			replaced := string(cfg.Storage.Type)
			if cfg, err = cfg.Dev(listen); err != nil {
				return nil, "", "", err
			}
			return applyLogFlag(cfg, f), "", replaced, nil
		}
		if cfg.Storage != nil && cfg.Storage.Bolt != nil {
			dataDir = filepath.Dir(cfg.Storage.Bolt.Path)
		}
		return applyLogFlag(cfg, f), dataDir, "", nil
	case f.dev:
		// Dev mode serves the AWS Secrets Manager and Azure Key Vault
		// APIs with their defaults, as [config.Config.Dev] does with a
		// file.
		tls := "\n  tls_disable = true"
		if f.devTLS {
			// No certificate files: the server makes a local CA in a
			// directory that lives as long as the process.
			tls = ""
		}
		src = fmt.Sprintf("storage \"inmem\" {}\nlistener \"tcp\" {\n  address = %s%s\n}\naws_secrets_manager {}\nazure_key_vault {}\n", hclString(listen), tls)
		dataDir = ""
	default:
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, "", "", err
		}
		dataDir = abs
		src = fmt.Sprintf("storage \"bolt\" {\n  path = %s\n}\nlistener \"tcp\" {\n  address = %s\n}\n",
			hclString(filepath.Join(dataDir, "coffer.db")), hclString(listen))
	}
	cfg, err := config.Parse([]byte(src), "command line", getenv)
	if err != nil {
		return nil, "", "", err
	}
	return applyLogFlag(cfg, f), dataDir, "", nil
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
	cfg, dataDir, replaced, err := buildConfig(f, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "Error loading configuration:", err)
		return 1
	}
	if f.gcpListen != "" {
		// Dev mode: the gRPC API in plain text on the flag's address,
		// replacing a file's block.
		c := *cfg
		c.GCPSecretManager = &config.GCPSecretManager{Address: f.gcpListen, TLSDisable: true, MountPrefix: config.DefaultGCPMountPrefix}
		if cfg.GCPSecretManager != nil {
			c.GCPSecretManager.MountPrefix = cfg.GCPSecretManager.MountPrefix
		}
		cfg = &c
	}
	if dataDir == "" && slices.ContainsFunc(cfg.Listeners, func(l config.Listener) bool { return l.LocalCA() }) {
		// Dev mode keeps nothing: a local CA lives as long as the process.
		tmp, err := os.MkdirTemp("", "coffer-dev-")
		if err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	}
	if dataDir != "" {
		if err := ensureDir(dataDir); err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return 1
		}
	}
	logger := newLogger(stderr, cfg)
	if replaced != "" {
		logger.Warn("dev mode: the configuration file's storage is replaced by in-memory storage", "storage", replaced, "config", f.configFile)
	}
	srv, err := New(ctx, Options{
		Config:  cfg,
		DataDir: dataDir,
		Logger:  logger,
		Dev:     f.dev,
		NodeID:  cfg.NodeID,
		Getenv:  getenv,
	})
	if err != nil {
		fmt.Fprintln(stderr, "Error starting server:", err)
		return 2
	}
	if f.pprofListen != "" {
		_, stop, err := servePprof(f.pprofListen, logger)
		if err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			srv.closeAll()
			return 1
		}
		defer stop()
	}
	if f.dev {
		info, err := setUpDev(ctx, srv.Core(), f.devRoot, cfg.AWSSecretsManager)
		if err != nil {
			fmt.Fprintln(stderr, "Error setting up dev mode:", err)
			srv.closeAll()
			return 2
		}
		printDev(stdout, srv, info)
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

// DevInfo is what dev mode prints for the user.
type DevInfo struct {
	UnsealKey string
	RootToken string
}

// SetUpDev initializes c with one key share, unseals it and mounts KV
// version 2 at secret/, as Vault's dev mode does.
func SetUpDev(ctx context.Context, c *core.Core, rootTokenID string) (DevInfo, error) {
	return setUpDev(ctx, c, rootTokenID, nil)
}

// devAWSPolicy names the ACL policy dev mode writes for AWS access keys:
// every capability on the AWS API's KV mount.
const devAWSPolicy = "aws-dev"

// setUpDev is [SetUpDev] that also makes a dev server's AWS Secrets
// Manager API usable at once when aws is set: it enables the awskeys auth
// method at aws's auth mount and writes the devAWSPolicy policy (every
// capability but sudo on aws's KV mount), as root, so that a key made
// with that policy can do every operation.
func setUpDev(ctx context.Context, c *core.Core, rootTokenID string, aws *config.AWSSecretsManager) (DevInfo, error) {
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
	info := DevInfo{UnsealKey: key, RootToken: string(res.RootToken)}
	if aws == nil {
		return info, nil
	}
	path := strings.Trim(strings.TrimPrefix(aws.AuthMount, "auth/"), "/")
	if err := c.Mount(ctx, core.MountInput{Auth: true, Path: path, Type: "awskeys", Description: "AWS access keys for the AWS Secrets Manager API"}); err != nil {
		return DevInfo{}, fmt.Errorf("enable awskeys at %s: %w", aws.AuthMount, err)
	}
	rules := fmt.Sprintf("path %q {\n  capabilities = [\"create\", \"read\", \"update\", \"patch\", \"delete\", \"list\"]\n}\n", aws.Mount+"*")
	body, err := json.Marshal(map[string]string{"policy": rules})
	if err != nil {
		return DevInfo{}, err
	}
	_, err = c.HandleRequest(ctx, &core.Request{
		Request:     &logical.Request{Operation: logical.UpdateOperation, Path: "sys/policies/acl/" + devAWSPolicy, Body: body},
		ClientToken: res.RootToken,
	})
	if err != nil {
		return DevInfo{}, fmt.Errorf("write the %s policy: %w", devAWSPolicy, err)
	}
	return info, nil
}

// apiAddress is the address to tell clients: api_addr when set, else the
// first listener's.
func (s *Server) apiAddress() string {
	if s.cfg.APIAddr != "" {
		return s.cfg.APIAddr
	}
	return s.addrs[0]
}

// printListeners prints a "Listener:" line per listener, and the cluster
// listener's.
func printListeners(w io.Writer, srv *Server) {
	for _, a := range srv.Addrs() {
		fmt.Fprintf(w, "    Listener:    %s\n", a)
	}
	if a := srv.ClusterAddr(); a != "" {
		fmt.Fprintf(w, "    Cluster:     %s\n", a)
	}
}

func printDev(w io.Writer, srv *Server, info DevInfo) {
	addr := srv.apiAddress()
	fmt.Fprintf(w, `==> Coffer server started in DEVELOPMENT mode.

WARNING! Dev mode keeps everything in memory, starts unsealed and serves
plain HTTP (unless -dev-tls). Never use it for real secrets.

    Api Address: %s
`, addr)
	// A plain --dev server has one listener at its Api Address.
	if srv.cfg.APIAddr != "" || len(srv.Addrs()) > 1 {
		printListeners(w, srv)
	}
	if p := srv.CAPath(); p != "" {
		fmt.Fprintf(w, "    Local CA:    %s\n", p)
	}
	printUI(w, srv)
	fmt.Fprintf(w, `    Unseal Key:  %s
    Root Token:  %s

KV version 2 is mounted at secret/. To use the CLI:

    export COFFER_ADDR='%s'
    export COFFER_TOKEN='%s'
    coffer kv put secret/hello foo=world

`, info.UnsealKey, info.RootToken, addr, info.RootToken)
	if a := srv.cfg.AWSSecretsManager; a != nil {
		fmt.Fprintf(w, `The AWS Secrets Manager API is served at POST / on %s, signed with
keys of %s (policy %s: everything on %s). To make a key:

    coffer write %skeys/dev policies=%s

`, a.Mount, a.AuthMount, devAWSPolicy, a.Mount, a.AuthMount, devAWSPolicy)
	}
	if g := srv.cfg.GCPSecretManager; g != nil {
		fmt.Fprintf(w, `The Google Cloud Secret Manager API (gRPC) is served on %s; project P
is the KV version 2 mount %sP/ (enable it first), and a call's
"authorization: Bearer TOKEN" metadata carries a Coffer token.

`, srv.GCPAddr(), g.MountPrefix)
	}
}

// printUI names the web UI's address when the configuration serves it.
func printUI(w io.Writer, srv *Server) {
	if srv.cfg.UI {
		fmt.Fprintf(w, "    Web UI:      %s/ui/\n", srv.apiAddress())
	}
}

func printStart(w io.Writer, srv *Server) {
	addr := srv.apiAddress()
	fmt.Fprintf(w, "==> Coffer server started.\n\n")
	fmt.Fprintf(w, "    Api Address: %s\n", addr)
	printListeners(w, srv)
	printUI(w, srv)
	if p := srv.CAPath(); p != "" {
		fmt.Fprintf(w, "    Local CA:    %s\n", p)
	}
	if srv.cfg.Seal != nil && srv.cfg.Seal.Type != config.SealShamir {
		fmt.Fprintf(w, "    Seal Type:   %s (the server unseals itself)\n", srv.cfg.Seal.Type)
		fmt.Fprintf(w, "\nIf this server is new, initialize it (it hands out recovery keys):\n\n")
		fmt.Fprintf(w, "    export COFFER_ADDR='%s'\n", addr)
		if p := srv.CAPath(); p != "" {
			fmt.Fprintf(w, "    export COFFER_CACERT='%s'\n", p)
		}
		fmt.Fprintf(w, "    coffer operator init\n\n")
		return
	}
	fmt.Fprintf(w, "\nIf this server is new, initialize and unseal it:\n\n")
	fmt.Fprintf(w, "    export COFFER_ADDR='%s'\n", addr)
	if p := srv.CAPath(); p != "" {
		fmt.Fprintf(w, "    export COFFER_CACERT='%s'\n", p)
	}
	fmt.Fprintf(w, "    coffer operator init\n    coffer operator unseal   (repeat with the threshold number of keys)\n\n")
}
