package audit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultWriteTimeout bounds a socket write unless told otherwise.
const DefaultWriteTimeout = 2 * time.Second

// SocketOptions configure [NewSocket].
type SocketOptions struct {
	// Address is "host:port" for tcp or a file path for unix.
	Address string
	// SocketType is "tcp" (the default) or "unix"; a witness may also use
	// the datagram types "udp" and "unixgram".
	SocketType string
	// WriteTimeout bounds connecting and writing one line;
	// DefaultWriteTimeout when zero.
	WriteTimeout time.Duration
}

// Socket is a [Sink] writing lines to a stream socket. It connects on the
// first write; a write that cannot finish within the write timeout (or
// before ctx ends) fails, and the next write reconnects. A line cut short
// by a failure reaches the peer incomplete, before the connection closes.
type Socket struct {
	network string
	address string
	timeout time.Duration

	mu   sync.Mutex
	conn net.Conn // guarded by mu; nil when not connected
}

// NewSocket checks o and returns a socket sink. It does not connect.
func NewSocket(o SocketOptions) (*Socket, error) {
	if o.Address == "" {
		return nil, errors.New("audit socket address is empty")
	}
	switch o.SocketType {
	case "":
		o.SocketType = "tcp"
	case "tcp", "unix":
	case "udp", "unixgram":
		// Datagram sockets, for a syslog witness: one line per datagram.
	default:
		return nil, fmt.Errorf("audit socket type %q: want tcp or unix", o.SocketType)
	}
	if o.WriteTimeout < 0 {
		return nil, errors.New("audit socket write timeout must not be negative")
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return &Socket{network: o.SocketType, address: o.Address, timeout: o.WriteTimeout}, nil
}

// Type returns "socket".
func (s *Socket) Type() string { return "socket" }

// Write sends line, connecting first when needed.
func (s *Socket) Write(ctx context.Context, line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if s.conn == nil {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		var dialer net.Dialer
		conn, err := dialer.DialContext(dctx, s.network, s.address)
		cancel()
		if err != nil {
			return fmt.Errorf("connect audit socket %s: %w", s.address, err)
		}
		s.conn = conn
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		s.dropLocked()
		return fmt.Errorf("audit socket %s: %w", s.address, err)
	}
	// A cancelled ctx without a deadline still cuts the write short.
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Now()) })
	_, err := conn.Write(line)
	stop()
	if err != nil {
		s.dropLocked()
		return fmt.Errorf("write audit socket %s: %w", s.address, err)
	}
	return nil
}

// dropLocked closes the connection so the next write reconnects. The
// caller holds mu.
func (s *Socket) dropLocked() {
	s.conn.Close()
	s.conn = nil
}

// Reload drops the connection; the next write reconnects.
func (s *Socket) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.dropLocked()
	}
	return nil
}

// Close drops the connection.
func (s *Socket) Close() error { return s.Reload() }
