package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxPayload is the longest Notify payload in bytes (PostgreSQL's limit is
// just under 8000).
const MaxPayload = 7999

// listenBuffer is how many notifications wait for a slow receiver before
// the listener stops reading (PostgreSQL queues the rest).
const listenBuffer = 64

// Reconnection backoff of a listener whose connection failed.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

func checkChannel(channel string) error {
	if channel == "" || len(channel) > 63 {
		return fmt.Errorf("channel name of %d bytes: want 1 to 63", len(channel))
	}
	for i := range len(channel) {
		if channel[i] == 0 {
			return errors.New("channel name contains a NUL byte")
		}
	}
	return nil
}

// Notify sends payload to every listener of channel, on every node, when
// the statement commits (at once: it runs alone). The payload must be
// valid UTF-8 without NUL bytes, 1 to [MaxPayload] bytes long; it is not
// secret-safe: listeners and the server log may see it, so send key paths
// or versions, never values.
func (s *Storage) Notify(ctx context.Context, channel, payload string) error {
	if err := checkChannel(channel); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if payload == "" || len(payload) > MaxPayload {
		return fmt.Errorf("notify %s: payload of %d bytes: want 1 to %d", channel, len(payload), MaxPayload)
	}
	if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
		return s.wrap("notify "+channel, err)
	}
	return nil
}

// Listen subscribes to channel on a dedicated connection and returns the
// payloads sent to it, in order, until ctx ends; then the channel closes.
// It returns an error when the first connection or LISTEN fails.
//
// When the connection fails later, Listen reconnects with backoff and then
// delivers an empty string, which Notify never sends: notifications may
// have been missed while disconnected, so the receiver should treat it as
// "everything may have changed". The receiver must keep reading; a full
// buffer stops the listener until it does.
func (s *Storage) Listen(ctx context.Context, channel string) (<-chan string, error) {
	if err := checkChannel(channel); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	conn, err := s.listenConn(ctx, channel)
	if err != nil {
		return nil, err
	}
	out := make(chan string, listenBuffer)
	go s.listen(ctx, channel, conn, out)
	return out, nil
}

// listenConn connects a dedicated connection and LISTENs on it.
func (s *Storage) listenConn(ctx context.Context, channel string) (*pgx.Conn, error) {
	cfg := s.connConfig.Copy()
	cfg.RuntimeParams["application_name"] = "coffer-listen:" + channel
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("listen %s: connect (%s)", channel, describe(cfg)), err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		closeQuietly(conn)
		return nil, s.wrap("listen "+channel, err)
	}
	return conn, nil
}

// listen forwards notifications from conn to out, reconnecting when conn
// fails, until ctx ends.
func (s *Storage) listen(ctx context.Context, channel string, conn *pgx.Conn, out chan<- string) {
	defer close(out)
	send := func(payload string) bool {
		select {
		case out <- payload:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			if !send(n.Payload) {
				closeQuietly(conn)
				return
			}
			continue
		}
		closeQuietly(conn)
		if ctx.Err() != nil {
			return
		}
		s.logger.Warn("listener connection lost; reconnecting", "channel", channel, "err", s.wrap("listen", err))
		if conn = s.reconnect(ctx, channel); conn == nil {
			return
		}
		s.logger.Info("listener reconnected", "channel", channel)
		if !send("") {
			closeQuietly(conn)
			return
		}
	}
}

// reconnect retries listenConn with exponential backoff; it returns nil
// when ctx ends first.
func (s *Storage) reconnect(ctx context.Context, channel string) *pgx.Conn {
	wait := minBackoff
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := s.listenConn(ctx, channel)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		s.logger.Warn("listener reconnect", "channel", channel, "err", err)
		wait = min(2*wait, maxBackoff)
	}
}
