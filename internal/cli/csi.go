package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/coffer-secrets/coffer/internal/k8s/csi"
)

// csiCommands is `coffer csi-provider`, the Secrets Store CSI driver
// provider.
func csiCommands() map[string]*command {
	return map[string]*command{
		"csi-provider": {
			synopsis: "Run the Kubernetes Secrets Store CSI driver provider",
			usage:    "[options]",
			server:   true,
			help: `Serves the Secrets Store CSI driver's provider API on a unix socket, so that
pods mount Coffer secrets as files through SecretProviderClasses whose
provider is "coffer". Run it as a DaemonSet beside the driver (see
deploy/kubernetes/csi and docs/kubernetes.md).

Each mount logs in to the kubernetes auth method with the pod's service
account token, which the driver passes when the CSIDriver object has
tokenRequests, and reads the objects the SecretProviderClass lists. The
server is -address (or COFFER_ADDR, VAULT_ADDR); a SecretProviderClass's
vaultAddress may name another server only with -allow-address-override.
The provider never uses COFFER_TOKEN, VAULT_TOKEN or a token file.

The provider logs to stderr and never logs secret values or tokens.`,
			setup: func(fs *flag.FlagSet) runFunc {
				endpoint := fs.String("endpoint", csi.DefaultEndpoint, "Unix socket to serve the driver on, unix:///DIR/NAME.sock.")
				mount := fs.String("kubernetes-mount", "kubernetes", "Path of the kubernetes auth method when a SecretProviderClass names none.")
				override := fs.Bool("allow-address-override", false, "Let a SecretProviderClass's vaultAddress name another server, which then receives the pods' service account tokens.")
				level := fs.String("log-level", "info", `Log level: "debug", "info", "warn" or "error".`)
				return func(ctx context.Context, c *call, args []string) int {
					return runCSIProvider(ctx, c, args, csiFlags{endpoint: *endpoint, mount: *mount, override: *override, level: *level})
				}
			},
		},
	}
}

// csiFlags are csi-provider's own flags.
type csiFlags struct {
	endpoint, mount, level string
	override               bool
}

func runCSIProvider(ctx context.Context, c *call, args []string, f csiFlags) int {
	if len(args) > 0 {
		return c.usageError("Too many arguments (expected none, got %d)", len(args))
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(f.level)); err != nil {
		return c.usageError("Invalid -log-level %q", f.level)
	}
	if _, err := csi.SocketPath(f.endpoint); err != nil {
		return c.usageError("Invalid -endpoint: %v", err)
	}
	cl, ok := c.newClient()
	if !ok {
		return exitServer
	}
	// Every mount logs in with the pod's token; the operator's never goes
	// out.
	cl.ClearToken()
	logger := slog.New(slog.NewTextHandler(c.env.Stderr, &slog.HandlerOptions{Level: lv}))
	p, err := csi.New(csi.Options{
		Client:               cl,
		KubernetesMount:      f.mount,
		AllowAddressOverride: f.override,
		Version:              c.env.Version,
		Logger:               logger,
	})
	if err != nil {
		return c.usageError("%v", err)
	}
	l, err := csi.Listen(f.endpoint)
	if err != nil {
		fmt.Fprintf(c.env.Stderr, "Error starting the CSI provider: %v\n", err)
		return exitUsage
	}
	logger.Info("csi provider serving", "endpoint", f.endpoint, "address", cl.Address(), "kubernetes_mount", f.mount)
	if err := p.Serve(ctx, l); err != nil {
		fmt.Fprintf(c.env.Stderr, "Error running the CSI provider: %v\n", err)
		return exitUsage
	}
	logger.Info("csi provider stopped")
	return exitOK
}
