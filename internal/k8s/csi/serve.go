package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/coffer-secrets/coffer/internal/k8s/csi/providerpb"
)

// DefaultEndpoint is where the driver looks for a provider named coffer.
const DefaultEndpoint = "unix:///etc/kubernetes/secrets-store-csi-providers/coffer.sock"

// providerName is what the driver accepts as the name of a provider: the
// socket file's name without ".sock".
var providerName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,30}$`)

// maxRequestSize bounds a request the provider reads: the attributes of
// one SecretProviderClass and pod.
const maxRequestSize = 2 << 20

// SocketPath returns the file of a unix:// endpoint (or a plain path),
// checking that the driver would find a provider there: a file named
// <provider>.sock, where provider matches ^[a-zA-Z0-9_-]{1,30}$.
func SocketPath(endpoint string) (string, error) {
	path := endpoint
	if rest, ok := strings.CutPrefix(endpoint, "unix://"); ok {
		path = rest
	} else if strings.Contains(endpoint, "://") {
		return "", fmt.Errorf("endpoint %q: want unix:///path/NAME.sock", endpoint)
	}
	if path == "" || !filepath.IsAbs(path) {
		return "", fmt.Errorf("endpoint %q: want an absolute socket path, as in unix:///path/NAME.sock", endpoint)
	}
	name, ok := strings.CutSuffix(filepath.Base(path), ".sock")
	if !ok || !providerName.MatchString(name) {
		return "", fmt.Errorf("endpoint %q: the driver looks for <provider>.sock with a provider name of letters, digits, _ and - (at most 30)", endpoint)
	}
	return filepath.Clean(path), nil
}

// Listen listens on the unix socket of endpoint (see [SocketPath]),
// replacing a socket a previous run left behind, and makes it readable
// and writable by its owner and group only.
func Listen(endpoint string) (net.Listener, error) {
	path, err := SocketPath(endpoint)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("listen on %s: a file that is not a socket is there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the old socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}

// Serve answers the driver on l until ctx ends, then stops: calls under way
// get up to stopWait to finish. It closes l. It returns nil after ctx
// ends, or the server's error.
func (p *Provider) Serve(ctx context.Context, l net.Listener) error {
	const stopWait = 10 * time.Second
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxRequestSize))
	providerpb.RegisterCSIDriverProviderServer(srv, p)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		srv.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
