package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent/child"
	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/atomicfile"
	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"
)

// Options are what [Run] needs besides the configuration. All fields are
// optional.
type Options struct {
	// Logger receives the agent's log; nil discards it.
	Logger *slog.Logger
	// Getenv reads the environment (VAULT_ADDR, VAULT_TOKEN and the env
	// template function); nil means an empty environment.
	Getenv func(string) string
	// Environ is the base environment of the exec child and of template
	// commands.
	Environ []string
	// Stdin, Stdout and Stderr are the exec child's; Stderr also gets the
	// output of template commands.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Signals are forwarded to the exec child.
	Signals <-chan os.Signal
	// MinBackoff and MaxBackoff bound the waits after failures (defaults
	// 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
	// Ready, when set, is closed once the agent has authenticated and
	// rendered every template once.
	Ready chan<- struct{}
}

// ExitError is returned by [Run] in exec mode when the child exited with
// a non-zero code; the agent should exit with the same code.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return "child exited with code " + strconv.Itoa(e.Code) }

// Run runs the agent described by cfg until ctx ends, the exec child
// exits, or, with exit_after_auth, the first login and the first render of
// every template are done; Run then returns an error when a template could
// not be rendered.
// Templates are parsed first: a syntax error is returned before anything
// else happens. Run returns nil when ctx ends.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	logger := opts.Logger.With("component", "agent")

	files, envs, err := parseTemplates(cfg, opts.Getenv)
	if err != nil {
		return err
	}
	client, err := newClient(cfg.Vault, opts.Getenv)
	if err != nil {
		return err
	}
	if cfg.PidFile != "" {
		if err := atomicfile.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("pid file: %w", err)
		}
		defer os.Remove(cfg.PidFile)
	}

	// cancel ends every part without an error (exec's program exited,
	// exit_after_auth is done); a part that fails ends the others through
	// the group, and Wait returns the first failure.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	state := newTokenState()
	spawn := func(fn func(context.Context) error) {
		g.Go(func() error { return fn(ctx) })
	}

	authed := make(chan struct{}, 1)
	if cfg.AutoAuth != nil {
		m, err := NewMethod(cfg.AutoAuth.Method)
		if err != nil {
			return err
		}
		a := &authenticator{method: m, client: client, sinks: cfg.AutoAuth.Sinks, logger: logger.With("part", "auth"),
			state: state, authed: authed, min: opts.MinBackoff, max: opts.MaxBackoff}
		spawn(a.run)
	} else {
		tok := strings.TrimSpace(firstEnv(opts.Getenv, "COFFER_TOKEN", "VAULT_TOKEN"))
		if tok == "" && (len(files) > 0 || len(envs) > 0) {
			return errors.New("no auto_auth block and no COFFER_TOKEN or VAULT_TOKEN: the agent has no token")
		}
		client.SetToken(tok)
		state.set(tok)
		authed <- struct{}{}
	}

	rendered := make(chan struct{}, 1)
	attempted := make(chan error, 1)
	r := &renderer{
		store: &store{client: client, state: state, logger: logger.With("part", "template"), interval: cfg.TemplateConfig.StaticSecretRenderInterval, min: opts.MinBackoff, max: opts.MaxBackoff, deps: make(map[string]*dep), wake: make(chan struct{}, 1)},
		state: state, files: files, envs: envs, logger: logger.With("part", "template"), stderr: opts.Stderr, environ: opts.Environ,
		exitOnFailure: cfg.TemplateConfig.ExitOnRetryFailure, envOut: make(chan map[string]string, 1), rendered: rendered,
		attempted: attempted, min: opts.MinBackoff, max: opts.MaxBackoff,
	}
	if len(files) > 0 || len(envs) > 0 {
		spawn(r.run)
		if cfg.TemplateConfig.UseEvents && !cfg.ExitAfterAuth {
			w := &watcher{client: client, state: state, store: r.store, logger: logger.With("part", "events"),
				interval: cfg.TemplateConfig.StaticSecretRenderInterval, min: opts.MinBackoff, max: opts.MaxBackoff}
			spawn(w.run)
		}
	} else {
		rendered <- struct{}{}
		attempted <- nil
	}

	for _, l := range cfg.Listeners {
		ln, err := net.Listen(l.Type, l.Address)
		if err != nil {
			cancel()
			g.Wait()
			return fmt.Errorf("listen on %s: %w", l.Address, err)
		}
		target, _ := url.Parse(client.Address())
		p := newProxy(target, client.CloneConfig().HttpClient.Transport, state, cfg.APIProxy.UseAutoAuthToken, logger.With("part", "proxy"))
		srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
		logger.Info("proxy listening", "address", ln.Addr().String())
		g.Go(func() error {
			srv.Serve(ln)
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			// The context is over; give requests in flight a moment.
			sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer scancel()
			srv.Shutdown(sctx)
			return nil
		})
	}

	exitCode := make(chan int, 1)
	if cfg.Exec != nil {
		sup := child.New(child.Options{
			Command: cfg.Exec.Command, Environ: opts.Environ, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr,
			Restart: cfg.Exec.RestartOnSecretChanges != config.RestartNever, StopSignal: cfg.Exec.RestartStopSignal,
			Signals: opts.Signals, Logger: logger.With("part", "exec"),
		})
		envs := r.envOut
		if len(r.envs) == 0 {
			envs = make(chan map[string]string, 1)
			envs <- map[string]string{}
		}
		spawn(func(ctx context.Context) error {
			code, err := sup.Run(ctx, envs)
			if err != nil && ctx.Err() == nil {
				return err
			}
			exitCode <- code
			cancel()
			return nil
		})
	}

	// Signal readiness. With exit_after_auth, stop after the first login
	// and the first render of every template: with an error when a
	// template could not be rendered (the agent does not retry then).
	g.Go(func() error {
		select {
		case <-ctx.Done():
			return nil
		case <-authed:
		}
		if cfg.ExitAfterAuth {
			select {
			case <-ctx.Done():
				return nil
			case err := <-attempted:
				if err != nil {
					return fmt.Errorf("exit_after_auth: %w", err)
				}
			}
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-rendered:
			}
		}
		logger.Info("authenticated and templates rendered")
		if opts.Ready != nil {
			close(opts.Ready)
		}
		if cfg.ExitAfterAuth {
			cancel()
		}
		return nil
	})

	if err := g.Wait(); err != nil {
		return err
	}
	select {
	case code := <-exitCode:
		if code != 0 {
			return &ExitError{Code: code}
		}
	default:
	}
	return nil
}

// newClient builds the API client for v. It reads the environment only
// through getenv: the token and namespace the vault/api package may have
// picked up from the process environment are cleared.
func newClient(v config.Vault, getenv func(string) string) (*api.Client, error) {
	addr := v.Address
	if addr == "" {
		addr = firstEnv(getenv, "COFFER_ADDR", "VAULT_ADDR")
	}
	if addr == "" {
		return nil, errors.New("no server address: set vault { address } or VAULT_ADDR")
	}
	retries := v.NumRetries
	if retries < 0 {
		retries = 0
	}
	cfg := &api.Config{
		Address: addr,
		HttpClient: &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: 10 * time.Second,
				IdleConnTimeout:     90 * time.Second,
			},
		},
		Timeout:      60 * time.Second,
		MinRetryWait: 500 * time.Millisecond,
		MaxRetryWait: 2 * time.Second,
		MaxRetries:   retries,
	}
	if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: v.CACert, Insecure: v.TLSSkipVerify}); err != nil {
		return nil, fmt.Errorf("configure tls: %w", err)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	c.ClearToken()
	c.ClearNamespace()
	return c, nil
}

func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}
