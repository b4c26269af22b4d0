package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// Events is the core's event bus: backends publish through their
// [logical.Env.Events], core publishes policy/changed and lease/revoked.
func (c *Core) Events() *events.Bus { return c.events }

// mountEvents is a mount's [logical.EventSender]: it stamps the mount's
// current path and type (found by accessor, so a remount is followed) and
// makes "path" and "data_path" full request paths.
type mountEvents struct {
	c        *Core
	accessor string
}

// SendEvent publishes an event of the mount. A backend sends paths
// relative to its mount ("data/app/db"), which always get the mount path
// in front: a relative path may itself start with the mount's name (key
// "data/x" of a mount at data/ is "data/data/x"), so it is never guessed
// to be full already.
func (m mountEvents) SendEvent(_ context.Context, typ string, metadata map[string]string) {
	info := events.PluginInfo{MountAccessor: m.accessor, MountClass: "secret"}
	for _, r := range m.c.router.Routes() {
		if r.Accessor == m.accessor {
			info.MountPath, info.Plugin = r.Path, r.Type
			break
		}
	}
	if info.MountPath == "" {
		return // the mount is gone: nobody may be told about it
	}
	if strings.HasPrefix(info.MountPath, "auth/") {
		info.MountClass = "auth"
	}
	md := make(map[string]string, len(metadata))
	for k, v := range metadata {
		if (k == "path" || k == "data_path") && v != "" {
			v = info.MountPath + strings.TrimPrefix(v, "/")
		}
		md[k] = v
	}
	m.c.events.Publish(&events.Event{ID: uuid.New(), Type: typ, Time: m.c.now(), Metadata: md, Plugin: info})
}

// SendMountEvent publishes an event of the mount at mountPath ("gcp-p/")
// as if the mount's backend had sent it: the mount's path, type and
// accessor are stamped, and "path" and "data_path" in metadata are
// relative to the mount and made full. It is how a foreign wire API
// (internal/gcpapi) tells subscribers and webhooks of a change it made
// through the pipeline; subscribers see the event only if they may read
// its data path. A path that is no mount publishes nothing and answers
// false. Metadata must hold no secret value.
func (c *Core) SendMountEvent(ctx context.Context, mountPath, typ string, metadata map[string]string) bool {
	for _, r := range c.router.Routes() {
		if r.Path == mountPath {
			mountEvents{c: c, accessor: r.Accessor}.SendEvent(ctx, typ, metadata)
			return true
		}
	}
	return false
}

// sendClusterEvent is the bus hook that sends the active node's events to
// the standbys' subscribers.
func (c *Core) sendClusterEvent(e *events.Event) {
	if c.ha == nil {
		return
	}
	if b, err := json.Marshal(e); err == nil {
		c.ha.SendEvent(string(b))
	}
}

// deliverRemoteEvent hands an event the active node sent to this
// standby's subscribers (not to its hooks: the active node delivers
// webhooks).
func (c *Core) deliverRemoteEvent(payload string) {
	var e events.Event
	if err := json.Unmarshal([]byte(payload), &e); err != nil || e.ID == "" || e.Type == "" {
		return
	}
	c.events.Deliver(&e)
}

// systemEvents is the sender of core's own events (policy/changed,
// lease/revoked) and of sys/ endpoints.
type systemEvents struct{ c *Core }

// SendEvent publishes an event of the system mount; paths are full.
func (s systemEvents) SendEvent(_ context.Context, typ string, metadata map[string]string) {
	s.c.events.Send(typ, metadata, events.PluginInfo{MountClass: "system", MountPath: "sys/", Plugin: "system", MountAccessor: "system"})
}

// EventStream is one subscriber's stream: the bus's events that match its
// filter and that its token may read now.
type EventStream struct {
	c   *Core
	sub *events.Subscription
	req Request // the subscribe request, for its token and connection
}

// EventRecheck is how often an idle stream checks that its token is still
// valid, so that a revoked token's stream ends even when no event comes.
const EventRecheck = 5 * time.Second

// SubscribeEvents runs req, a read of sys/events/subscribe/TYPE, through
// the pipeline (token, ACL, audit) and then subscribes to the events f
// selects. It returns the pipeline's errors, an invalid request for a bad
// filter, [events.ErrTooMany] or [events.ErrTooManyForOwner] (the token
// has events.DefaultMaxPerOwner streams already). The caller must Close
// the stream.
func (c *Core) SubscribeEvents(ctx context.Context, req *Request, f events.Filter) (*EventStream, error) {
	if err := f.Check(); err != nil {
		return nil, logical.InvalidRequest("%s", err.Error())
	}
	if _, err := c.HandleRequest(ctx, req); err != nil {
		return nil, err
	}
	cl, err := c.eventCaller(ctx, req)
	if err != nil {
		return nil, err
	}
	// Streams are counted per token (by its hash), so that one token cannot
	// take every slot of the bus.
	sub, err := c.events.SubscribeAs(cl.hash, f)
	if err != nil {
		return nil, err
	}
	return &EventStream{c: c, sub: sub, req: Request{Request: &logical.Request{Path: req.Path, Connection: req.Connection}, ClientToken: req.ClientToken}}, nil
}

// Close ends the subscription.
func (s *EventStream) Close() { s.sub.Close() }

// ErrStreamEnded ends a stream whose token is no longer valid, or when the
// server seals.
var ErrStreamEnded = errors.New("event stream ended: the token is no longer valid or the server sealed")

// Next waits for the next event the stream's token may read (read on the
// event's data path under the token's current policies; an event without a
// data path needs read on sys/events/subscribe/TYPE only, already checked)
// and no incident lockdown withholds (a read of its path or data path
// refused by the incident guard, see [Core.eventWithheld]).
// It returns [ErrStreamEnded] once the token is revoked or expired,
// [events.ErrSlow] when the reader fell behind, or ctx's error.
func (s *EventStream) Next(ctx context.Context) (*events.Event, error) {
	t := time.NewTimer(EventRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.sub.Done():
			if errors.Is(s.sub.Err(), events.ErrClosed) {
				return nil, ErrStreamEnded
			}
			return nil, s.sub.Err()
		case <-t.C:
			if _, err := s.c.eventACL(ctx, &s.req); err != nil {
				return nil, ErrStreamEnded
			}
			t.Reset(EventRecheck)
		case e := <-s.sub.C():
			acl, err := s.c.eventACL(ctx, &s.req)
			if err != nil {
				return nil, ErrStreamEnded
			}
			if p := e.DataPath(); p != "" && !acl.Check(policy.Request{Path: p, Operation: string(logical.ReadOperation)}).Allowed {
				continue
			}
			if s.c.eventWithheld(e, &s.req, acl) {
				continue
			}
			return e, nil
		}
	}
}

// eventACL returns the ACL of req's token as it is now; an error when the
// token is gone, no longer allows reading req's path (the subscribe path)
// or the server is sealed.
func (c *Core) eventACL(ctx context.Context, req *Request) (*policy.ACL, error) {
	cl, err := c.eventCaller(ctx, req)
	if err != nil {
		return nil, err
	}
	return cl.acl, nil
}

// eventCaller is eventACL's caller: the token's hash and ACL.
func (c *Core) eventCaller(ctx context.Context, req *Request) (*caller, error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil, ErrSealed
	}
	r := &Request{Request: &logical.Request{Operation: logical.ReadOperation, Path: req.Path, Connection: req.Connection}, ClientToken: req.ClientToken}
	cl, err := c.authorize(ctx, r, nil, "")
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// eventWithheld reports whether the incident guard refuses a read of the
// event's path or data path to the stream's caller (a lockdown in deny
// mode covering it; a token with sudo on sys/incident/lockdown is exempt,
// as for requests). Bans and blocked logins end the stream instead, in
// eventACL's check of the token.
func (c *Core) eventWithheld(e *events.Event, req *Request, acl *policy.ACL) bool {
	for _, k := range []string{"data_path", "path"} {
		p := e.Metadata[k]
		if p == "" {
			continue
		}
		r := &Request{Request: &logical.Request{Operation: logical.ReadOperation, Path: p, Connection: req.Connection}}
		if c.guardRefuses(r, acl, nil) {
			return true
		}
	}
	return false
}

// SubscribePrefix is the path of the event stream, before the event type.
const SubscribePrefix = "sys/events/subscribe/"

// eventPaths are the sys/events endpoints served through the pipeline. A
// read of events/subscribe/TYPE only checks the type: the HTTP layer runs
// it through [Core.SubscribeEvents] before upgrading to a WebSocket.
func (c *Core) eventPaths() []*framework.Path {
	return append([]*framework.Path{{
		Pattern: `events/subscribe/(?P<event_type>.+)`,
		Operations: map[logical.Operation]framework.Handler{
			logical.ReadOperation: func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
				if err := events.CheckPattern(m.Get("event_type")); err != nil {
					return nil, logical.InvalidRequest("event type %s", err.Error())
				}
				return nil, nil
			},
		},
		Synopsis: "Subscribe to events over a WebSocket (?json=true).",
	}}, c.webhooks.Paths()...)
}
