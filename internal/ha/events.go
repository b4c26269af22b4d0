package ha

import (
	"context"
	"time"
)

// EventChannel carries the events the active node publishes, as JSON, so
// that subscribers connected to standbys get them too. Events hold paths
// and versions, never values, as a notification payload must.
const EventChannel = "events"

// eventQueue bounds the events waiting to be sent to the other nodes; an
// event past it is not sent (subscribers on standbys miss it; webhooks,
// delivered by the active node, do not).
const eventQueue = 1024

// SendEvent queues payload (an event as JSON) for the other nodes. It
// never blocks: it does nothing unless this node is active, and drops the
// event when the queue is full or payload is longer than
// [MaxNotifyPayload].
func (n *Node) SendEvent(payload string) {
	if !n.active.Load() || payload == "" || len(payload) > MaxNotifyPayload {
		return
	}
	select {
	case n.eventsOut <- payload:
	default:
		n.logger.Warn("event queue to the other nodes is full; an event is not sent to standbys")
	}
}

// runEventSender sends the queued events, one notification each.
func (n *Node) runEventSender(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.eventsOut:
			if !n.active.Load() {
				continue
			}
			nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := n.opts.Backend.Notify(nctx, EventChannel, p)
			cancel()
			if err != nil && ctx.Err() == nil {
				n.logger.Warn("send an event to the other nodes", "err", err)
			}
		}
	}
}

// runEvents hands the events the active node sends to [Env.Events] while
// this node is a standby (the active node's own subscribers got them
// already).
func (n *Node) runEvents(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := n.opts.Backend.Listen(ctx, EventChannel)
		if err != nil {
			if ctx.Err() == nil {
				n.logger.Warn("listen for events", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for p := range ch {
			if p == "" || n.active.Load() {
				continue // "" means some were missed: nothing to replay
			}
			n.events(p)
		}
	}
}
