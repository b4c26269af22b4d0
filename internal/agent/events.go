package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/agent/eventsub"
	"github.com/coffer-secrets/coffer/internal/backoff"
)

// eventTypes is what the agent subscribes to: every KV version 2 change,
// scheduled rotations included (a rotation writes a version, so it sends
// kv-v2/data-write). The token needs read on
// sys/events/subscribe/kv-v2/*.
const eventTypes = "kv-v2/*"

// maxEventSize bounds one event message; events hold paths and version
// numbers, far less than this.
const maxEventSize = 16 << 10

// dialTimeout bounds one subscription attempt.
const dialTimeout = 30 * time.Second

// pingInterval is how often the agent checks that a quiet subscription is
// still alive (a connection that died without a close would otherwise
// leave it waiting for events that never come); pingTimeout bounds the
// answer.
const (
	pingInterval = 30 * time.Second
	pingTimeout  = 10 * time.Second
)

// steadyConnection is how long a subscription must have lasted for the
// next reconnect to start again from the shortest wait.
const steadyConnection = time.Minute

// watcher keeps a subscription to the server's KV events and makes the
// store read a secret again as soon as an event says it changed. When
// events are unavailable (the token may not subscribe, an old server, a
// proxy without WebSockets, the server is down) it tries again with
// backoff; meanwhile, and always, the store's interval polling goes on.
type watcher struct {
	client   *api.Client
	state    *tokenState
	store    *store
	logger   *slog.Logger
	interval time.Duration
	min, max time.Duration
}

// run subscribes until ctx ends.
func (w *watcher) run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-w.state.ready:
	}
	b := backoff.Backoff{Min: w.min, Max: w.max, Jitter: true}
	warned := false
	for {
		dctx, dcancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := eventsub.Dial(dctx, w.client, w.state.get(), eventTypes, "")
		dcancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait := b.Next()
			if !warned {
				warned = true
				w.logger.Warn("events unavailable; templates read KV secrets again on their interval", "error", err, "interval", w.interval, "retry_in", wait)
			} else {
				w.logger.Debug("events still unavailable", "error", err, "retry_in", wait)
			}
			if !backoff.Sleep(ctx.Done(), wait) {
				return nil
			}
			continue
		}
		warned = false
		start := time.Now()
		w.logger.Info("following events: templates re-render when their KV secrets change")
		err = w.follow(ctx, conn)
		conn.CloseNow()
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) >= steadyConnection {
			b.Reset()
		}
		wait := b.Next()
		w.logger.Info("event subscription ended; subscribing again", "error", err, "retry_in", wait)
		if !backoff.Sleep(ctx.Done(), wait) {
			return nil
		}
	}
}

// follow reads events from conn until it fails or ctx ends.
func (w *watcher) follow(ctx context.Context, conn *websocket.Conn) error {
	conn.SetReadLimit(maxEventSize)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.keepAlive(ctx, cancel, conn)
	// Changes made before the subscription started are caught by one
	// read of each secret now.
	w.store.allChanged()
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		e, err := eventsub.Parse(b)
		if err != nil {
			w.logger.Debug("ignoring an event that does not decode", "error", err)
			continue
		}
		if p := e.KVDataPath(); p != "" && w.store.changed(p) {
			w.logger.Debug("secret changed", "event", e.Type, "path", p)
		}
	}
}

// keepAlive pings conn every pingInterval and cancels the subscription
// (through cancel) when an answer does not come within pingTimeout.
func (w *watcher) keepAlive(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, pingTimeout)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil && ctx.Err() == nil {
			w.logger.Info("the event subscription does not answer", "error", err)
			cancel()
			return
		}
	}
}
