package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent"
	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/k8s/kms"
	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"
)

// kmsCommands is the Kubernetes KMS v2 plugin.
func kmsCommands() map[string]*command {
	return map[string]*command{
		"kms-plugin": {
			synopsis: "Run a Kubernetes KMS v2 plugin backed by a transit key",
			usage:    "-transit-key NAME [-listen unix:///PATH] [-config AGENT.hcl | -token-file FILE] | -probe [-listen unix:///PATH]",
			server:   true,
			help: `Serves the Kubernetes KMS v2 gRPC API on a unix socket, so that the API
server encrypts Secrets in etcd with data keys wrapped by the Coffer
transit key NAME. Point the API server's EncryptionConfiguration at the
socket (see docs/kubernetes.md).

Status is healthy only while Coffer answers and the key can encrypt; its
key_id is "NAME:v<latest version>" and changes when the key is rotated.
Decrypt unwraps with any key version transit still holds.

The plugin needs a token allowed to update TRANSIT/encrypt/NAME and
TRANSIT/decrypt/NAME and to read TRANSIT/keys/NAME. It finds it, first
found wins:

  -config FILE      an agent configuration; its auto_auth method
                    (kubernetes, approle, token_file, jwt) logs in, renews
                    and logs in again; its vault block gives the address
                    and CA when the flags do not. Other blocks are ignored.
  -token-file FILE  a file holding the token, read again when the token
                    stops working.
  COFFER_TOKEN or VAULT_TOKEN in the environment, or ~/.coffer-token.

A token is never taken as a flag value: command lines are visible to every
user of the host. -token FILE is the same as -token-file FILE.

With -probe, the command calls Status on the plugin serving at -listen and
prints its healthz: it exits 0 when the plugin answered (healthy or not:
a liveness check), 2 when it did not.

The plugin logs to stderr and never logs keys, ciphertexts or tokens.`,
			setup: func(fs *flag.FlagSet) runFunc {
				var o kmsFlags
				fs.StringVar(&o.listen, "listen", "unix:///var/run/kmsplugin/socket.sock", "The unix socket file to serve on, as the EncryptionConfiguration's endpoint names it (abstract sockets are refused).")
				fs.StringVar(&o.key, "transit-key", "", "Name of the transit key that wraps the data keys (required).")
				fs.StringVar(&o.mount, "transit-mount", "transit", "Path of the transit secrets engine.")
				fs.StringVar(&o.config, "config", "", "Agent configuration file whose auto_auth block logs the plugin in.")
				fs.StringVar(&o.tokenFile, "token-file", "", "File holding the plugin's token.")
				fs.StringVar(&o.token, "token", "", "Same as -token-file: a file holding the token, never the token itself.")
				fs.StringVar(&o.level, "log-level", "info", `Log level: "debug", "info", "warn" or "error".`)
				fs.BoolVar(&o.probe, "probe", false, "Only call Status on the plugin at -listen and report whether it answers.")
				return func(ctx context.Context, c *call, args []string) int {
					return runKMSPlugin(ctx, c, args, o)
				}
			},
		},
	}
}

// kmsFlags are kms-plugin's own flags.
type kmsFlags struct {
	listen, key, mount string
	config, tokenFile  string
	token, level       string
	probe              bool
}

func runKMSPlugin(ctx context.Context, c *call, args []string, o kmsFlags) int {
	if len(args) > 0 {
		return c.usageError("Too many arguments (expected 0, got %d)", len(args))
	}
	if o.probe {
		return probeKMSPlugin(ctx, c, o.listen)
	}
	if o.key == "" {
		return c.usageError("-transit-key is required")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.level)); err != nil {
		return c.usageError("Invalid -log-level %q", o.level)
	}
	if o.token != "" {
		if o.tokenFile != "" && o.tokenFile != o.token {
			return c.usageError("-token and -token-file name different files")
		}
		if fi, err := os.Stat(o.token); err != nil || fi.IsDir() {
			// Do not echo the value: it may be a token given by mistake.
			return c.usageError("-token must name a file holding the token; use -token-file FILE, or COFFER_TOKEN in the environment")
		}
		o.tokenFile = o.token
	}
	if o.config != "" && o.tokenFile != "" {
		return c.usageError("-config and -token-file are exclusive")
	}

	var method agent.Method
	switch {
	case o.config != "":
		cfg, err := config.Load(o.config)
		if err != nil {
			fmt.Fprintf(c.env.Stderr, "Error loading configuration:\n%v\n", err)
			return exitUsage
		}
		if cfg.AutoAuth == nil {
			return c.usageError("%s has no auto_auth block", o.config)
		}
		if method, err = agent.NewMethod(cfg.AutoAuth.Method); err != nil {
			fmt.Fprintf(c.env.Stderr, "Error in configuration: %v\n", err)
			return exitUsage
		}
		if c.address == "" && c.firstEnv("COFFER_ADDR", "VAULT_ADDR") == "" {
			c.address = cfg.Vault.Address
		}
		if c.caCert == "" {
			c.caCert = cfg.Vault.CACert
		}
		c.skipVerify = c.skipVerify || cfg.Vault.TLSSkipVerify
	case o.tokenFile != "":
		method = &agent.TokenFile{Path: o.tokenFile}
	}

	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	if method == nil {
		tok := cl.Token()
		if tok == "" {
			return c.usageError("No token: use -config, -token-file, or COFFER_TOKEN in the environment")
		}
		method = staticToken(tok)
	}
	cl.ClearToken()
	// The API server gives each call a few seconds: answer (or fail)
	// within them rather than retry.
	cl.SetMaxRetries(0)
	cl.SetClientTimeout(30 * time.Second)

	logger := slog.New(slog.NewTextHandler(c.env.Stderr, &slog.HandlerOptions{Level: lv})).With("component", "kms-plugin")
	auth := agent.NewAutoAuth(agent.AutoAuthOptions{Method: method, Client: cl, Logger: logger, MaxBackoff: 30 * time.Second})
	plugin, err := kms.New(kms.Options{Client: cl, Mount: o.mount, Key: o.key, Refused: auth.Refused})
	if err != nil {
		return c.usageError("%v", err)
	}
	ln, err := kms.Listen(o.listen)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return auth.Run(ctx) })
	g.Go(func() error { return kms.Serve(ctx, ln, plugin, logger) })
	logger.Info("kms plugin serving", "listen", o.listen, "transit_key", strings.Trim(o.mount, "/")+"/"+o.key)
	if err := g.Wait(); err != nil {
		fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
		return exitServer
	}
	return exitOK
}

// probeKMSPlugin calls Status on the plugin at endpoint.
func probeKMSPlugin(ctx context.Context, c *call, endpoint string) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := kms.Probe(ctx, endpoint)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error: %v\n", err)
		return exitServer
	}
	fmt.Fprintf(c.env.Stdout, "healthz: %s\nkey_id: %s\nversion: %s\n", st.Healthz, st.KeyId, st.Version)
	return exitOK
}

// staticToken is a token from the environment, used as is: a login
// looks it up for its TTL, and the token is renewed while it can be.
type staticToken string

// Login implements agent.Method.
func (t staticToken) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	c, err := client.Clone()
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	c.SetToken(string(t))
	sec, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: look up token: %w", err)
	}
	if sec == nil {
		return nil, errors.New("token: look up token: empty answer")
	}
	ttl, _ := sec.TokenTTL()
	renewable, _ := sec.TokenIsRenewable()
	return &api.Secret{Auth: &api.SecretAuth{ClientToken: string(t), LeaseDuration: int(ttl.Seconds()), Renewable: renewable}}, nil
}
