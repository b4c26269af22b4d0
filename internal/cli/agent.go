package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/coffer-secrets/coffer/internal/agent"
	"github.com/coffer-secrets/coffer/internal/agent/config"
)

// deliveryCommands are the commands that deliver secrets to programs
// without hard-coding them: agent, exec and env.
func deliveryCommands() map[string]*command {
	return map[string]*command{
		"agent": {
			synopsis: "Start a Coffer agent",
			usage:    "-config FILE",
			help: `Runs the agent described by the HCL file FILE, in the shape of Vault
Agent's configuration: auto_auth logs in and writes the token to sinks,
template blocks render secrets to files, exec runs a program with
env_template values in its environment, listener blocks proxy the API.

The agent logs to stderr and never logs secret values or tokens.`,
			setup: func(fs *flag.FlagSet) runFunc {
				path := fs.String("config", "", "Path to the agent's configuration file (required).")
				level := fs.String("log-level", "info", `Log level: "debug", "info", "warn" or "error".`)
				return func(ctx context.Context, c *call, args []string) int {
					return runAgent(ctx, c, args, *path, *level)
				}
			},
		},
		"exec": execCommand(),
		"env":  envCommand(),
	}
}

func runAgent(ctx context.Context, c *call, args []string, path, level string) int {
	if len(args) > 0 {
		return c.usageError("Too many arguments (expected none, got %d)", len(args))
	}
	if path == "" {
		return c.usageError("-config is required")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return c.usageError("Invalid -log-level %q", level)
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error loading configuration:\n%v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(c.env.Stderr, &slog.HandlerOptions{Level: lv}))

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := agent.Options{
		Logger: logger, Getenv: c.env.Getenv, Environ: os.Environ(),
		Stdin: c.env.Stdin, Stdout: c.env.Stdout, Stderr: c.env.Stderr,
	}
	if cfg.Exec != nil {
		// In exec mode the child gets the signals; the agent ends when
		// the child does, with its status.
		opts.Signals = sigs
	} else {
		go func() {
			select {
			case <-sigs:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err = agent.Run(ctx, cfg, opts)
	if ee, ok := errors.AsType[*agent.ExitError](err); ok {
		return ee.Code
	}
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error running agent: %v\n", err)
		return exitUsage
	}
	return exitOK
}
