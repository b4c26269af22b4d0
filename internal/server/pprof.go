package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof serves Go's runtime profiles (CPU, heap, allocations,
// goroutines, execution trace) at /debug/pprof/ on addr, a listener of its
// own apart from the API, for `go tool pprof`. It has no authentication,
// so addr must be a loopback address: a profile shows code paths and
// timings, and a heap profile may hold fragments of secrets. It is off
// unless `coffer server -pprof-listen` asks for it. It returns the address
// it listens on and a function that stops the listener.
func servePprof(addr string, logger *slog.Logger) (net.Addr, func(), error) {
	if err := checkLoopback(addr); err != nil {
		return nil, nil, fmt.Errorf("-pprof-listen: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-pprof-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof listener stopped", "err", err)
		}
	}()
	logger.Warn("serving runtime profiles without authentication", "address", ln.Addr().String())
	return ln.Addr(), func() { hs.Close() }, nil
}

// checkLoopback fails unless addr is host:port with host a loopback IP
// address or "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address", addr)
}
