package kms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	kmsapi "k8s.io/kms/apis/v2"
	"k8s.io/kms/pkg/service"
	"k8s.io/kms/pkg/util"
)

// maxMessage bounds a gRPC request: a ciphertext is under 1 kB and the
// annotations under 32 kB.
const maxMessage = 64 << 10

// stopGrace is how long Serve waits for calls in flight once its context
// ends.
const stopGrace = 5 * time.Second

// Listen listens on the unix socket an endpoint names, in the form the
// API server's EncryptionConfiguration takes: unix:///path/to/socket.sock.
// A socket file left by an earlier process is removed first, unless a
// process still answers on it; any other file there is an error. The
// socket file gets mode 0600: whoever can connect can unwrap data keys, so
// only the plugin's user (root, as kube-apiserver) may. Abstract sockets
// (unix:///@name) are refused: they have no file mode, so any process on
// the host could connect.
func Listen(endpoint string) (net.Listener, error) {
	path, err := util.ParseEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	if path == "" || path == "@" {
		return nil, fmt.Errorf("kms: endpoint %q names no socket", endpoint)
	}
	if strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("kms: endpoint %q names an abstract socket, which any process on the host could connect to and have data keys unwrapped; use a socket file, unix:///path/to/socket.sock", endpoint)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("kms: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("kms: %w", err)
	}
	return ln, nil
}

// removeStale removes a socket file nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kms: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("kms: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("kms: another process is serving on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kms: remove stale socket: %w", err)
	}
	return nil
}

// Serve answers the KMS v2 gRPC API with svc on ln until ctx ends, then
// stops: calls in flight get a few seconds to finish. It closes ln and
// returns nil when ctx ends, or the error that stopped serving. Failed
// calls are logged to logger (nil discards) with their method and status,
// whose messages hold no secret; requests and answers are never logged.
func Serve(ctx context.Context, ln net.Listener, svc service.Service, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(maxMessage), grpc.UnaryInterceptor(logFailures(logger)))
	// NewGRPCService's address and timeout are only for its own
	// ListenAndServe, which Serve does not use: it would create the
	// listener itself and cannot be stopped by a context.
	kmsapi.RegisterKeyManagementServiceServer(gs, service.NewGRPCService("", 0, svc))
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("kms: serve: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		gs.Stop()
		<-stopped
	}
	<-errc
	return nil
}

// logFailures logs the calls that fail. A Status answer that is not
// healthy is logged too, once per change of its healthz value, so an
// operator sees when Coffer goes away and comes back without a line per
// poll.
func logFailures(logger *slog.Logger) grpc.UnaryServerInterceptor {
	var mu sync.Mutex
	lastHealth := Healthy // guarded by mu
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			st := status.Convert(err)
			logger.Warn("kms call failed", "method", info.FullMethod, "code", st.Code().String(), "error", st.Message())
			return resp, err
		}
		if sr, ok := resp.(*kmsapi.StatusResponse); ok {
			mu.Lock()
			changed := sr.Healthz != lastHealth
			lastHealth = sr.Healthz
			mu.Unlock()
			switch {
			case changed && sr.Healthz == Healthy:
				logger.Info("kms plugin healthy", "key_id", sr.KeyId)
			case changed:
				logger.Warn("kms plugin unhealthy", "healthz", sr.Healthz)
			}
		}
		return resp, err
	}
}

// Probe calls Status on the plugin serving at endpoint, as the API server
// does, and returns its answer. It is a liveness check: an answer, healthy
// or not, means the plugin is serving.
func Probe(ctx context.Context, endpoint string) (*kmsapi.StatusResponse, error) {
	path, err := util.ParseEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	conn, err := grpc.NewClient("passthrough:///kms", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}))
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	defer conn.Close()
	st, err := kmsapi.NewKeyManagementServiceClient(conn).Status(ctx, &kmsapi.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("kms: status: %w", err)
	}
	return st, nil
}
