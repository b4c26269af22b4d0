package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// High availability: several cores share one physical storage; one is
// active, the others are standbys.
//
// A core with [HAOptions] unseals into standby: its barrier is open, and it
// loads the mount table, policies, the token salt and the identity store
// without writing anything, so that it can serve side-effect-free reads
// (see [Core.HandleRequest]). A goroutine started at unseal then competes
// for leadership ([HA.Acquire]); the winner tears its standby state down,
// reloads the keyring and loads everything as a single server does at
// unseal (mounts, policies, leases with their expiry timers, audit devices,
// the token sweeper and the backends' periodic work). The lease manager and
// the token sweeper run only there: a standby never revokes.
//
// When leadership is lost ([Leadership.Lost]: the node's database session
// failed), the node marks itself standby at once, before anything else, so
// that new requests and writes already in flight are refused with
// [ErrStandby] (and forwarded by the HTTP layer), then tears the active
// state down and loads the standby state again. Its writes are fenced in
// storage as well, so a node that has not noticed yet cannot write.
//
// The active node's writes go through a wrapper that collects the physical
// keys each committed write touched and notifies the other nodes
// ([HA.Notify] on the "invalidate" channel, keys separated by newlines, "*"
// for everything when the list would be too long); standbys map each key
// to the cache it feeds (see [Core.invalidate]).

// HA is what a core needs from the storage layer to run as one node of a
// cluster. The server adapts the PostgreSQL storage to it. Its methods must
// be safe for concurrent use.
type HA interface {
	// Acquire blocks until this node holds the leadership or ctx ends.
	// Writes are fenced to the new term before it returns.
	Acquire(ctx context.Context) (Leadership, error)
	// Leader returns the active node's ID and API address; both are empty
	// when no node leads.
	Leader(ctx context.Context) (nodeID, addr string, err error)
	// Notify sends payload (valid UTF-8, no NUL, at most MaxPayload bytes)
	// to every listener of channel on every node.
	Notify(ctx context.Context, channel, payload string) error
	// Listen delivers what is sent to channel until ctx ends. An empty
	// string means notifications may have been missed.
	Listen(ctx context.Context, channel string) (<-chan string, error)
}

// Leadership is one term as the active node.
type Leadership interface {
	// Lost is closed when the term ends.
	Lost() <-chan struct{}
	// Release gives the leadership up; it is safe to call more than once.
	Release()
}

// HAOptions turns a core into one node of a cluster.
type HAOptions struct {
	// Backend coordinates the nodes. Required.
	Backend HA
	// NodeID names this node in the cluster. Required.
	NodeID string
	// APIAddr is the URL other nodes and clients use to reach this node
	// when it is active. Required.
	APIAddr string
	// ClusterAddr is where this node's cluster listener is reached
	// ("https://host:port"): announced to the other nodes (and in
	// sys/ha-status) so that standbys forward there, and named in this
	// node's cluster certificate. May be empty: standbys then forward to
	// APIAddr.
	ClusterAddr string
	// Hostname is reported in sys/ha-status.
	Hostname string
	// StepDownWait is how long a node that stepped down waits before it
	// competes for the leadership again; zero means 5 s.
	StepDownWait time.Duration
	// EchoInterval is how often the node announces itself to the others
	// for sys/ha-status; zero means 2 s.
	EchoInterval time.Duration
	// OnTransition, when set, is called each time the node becomes active
	// or standby, with the time it happened. Tests use it to order events
	// across nodes; it must not block.
	OnTransition func(Transition)
}

// Transition is a change of a node's role.
type Transition struct {
	NodeID string
	Active bool
	At     time.Time
}

// Notification channels, before the storage adapter scopes them.
const (
	// InvalidateChannel carries the physical keys the active node wrote.
	InvalidateChannel = "invalidate"
	// EchoChannel carries nodes' announcements for sys/ha-status.
	EchoChannel = "echo"
	// MaxNotifyPayload is the longest key list sent; a longer one is sent
	// as "*" (everything changed).
	MaxNotifyPayload = 7000
)

// ErrStandby is returned for a request or a write that only the active
// node may serve. The HTTP layer forwards such requests to the active node
// (or redirects them). Its message is Vault's, which clients match on.
var ErrStandby error = standbyError{}

type standbyError struct{}

func (standbyError) Error() string { return "Vault is in standby mode" }

// ErrNoActive is returned when a standby cannot name an active node. Its
// message is Vault's words for the same state, which clients and runbooks
// match on.
var ErrNoActive error = noActiveError{}

type noActiveError struct{}

func (noActiveError) Error() string { return "local node not active but active cluster node not found" }

// haState is the part of a core that exists only in a cluster.
type haState struct {
	opts HAOptions

	active      atomic.Bool // this node is the active node; writes are allowed
	initWrites  atomic.Bool // Initialize is writing (before any node leads)
	stale       atomic.Bool // the standby state failed to load; forward everything
	localReads  atomic.Bool // a standby may serve allowed reads (no audit devices)
	activeSince atomic.Pointer[time.Time]
	stepDown    chan struct{}              // buffered; a request to give up leadership
	echoNow     chan struct{}              // buffered; a request to announce this node at once
	clusterTLS  atomic.Pointer[clusterTLS] // nil while sealed or without a cluster CA

	runMu  sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan struct{}

	leaderMu  sync.Mutex
	leaderAt  time.Time // when leaderID/leaderAddr were read; guarded by leaderMu
	leaderID  string    // guarded by leaderMu
	leaderURL string    // guarded by leaderMu

	membersMu sync.Mutex
	members   map[string]Member // by node ID; guarded by membersMu
}

// Member is one node of the cluster as sys/ha-status reports it.
type Member struct {
	NodeID         string    `json:"node_id"`
	Hostname       string    `json:"hostname"`
	APIAddress     string    `json:"api_address"`
	ClusterAddress string    `json:"cluster_address"`
	ActiveNode     bool      `json:"active_node"`
	LastEcho       time.Time `json:"last_echo"`
	Version        string    `json:"version"`
}

func newHAState(opts HAOptions) (*haState, error) {
	if opts.Backend == nil || opts.NodeID == "" || opts.APIAddr == "" {
		return nil, errors.New("core: high availability needs a backend, a node ID and an API address")
	}
	if opts.StepDownWait <= 0 {
		opts.StepDownWait = 5 * time.Second
	}
	if opts.EchoInterval <= 0 {
		opts.EchoInterval = 2 * time.Second
	}
	return &haState{opts: opts, stepDown: make(chan struct{}, 1), echoNow: make(chan struct{}, 1), members: make(map[string]Member)}, nil
}

// HAStatus is a node's role, for sys/health and sys/leader.
type HAStatus struct {
	// Enabled is true for a node of a cluster.
	Enabled bool
	// Active is true for the node that serves writes (and for a single
	// unsealed server).
	Active bool
	// Standby is true for an unsealed node that is not active.
	Standby bool
	// ActiveSince is when the node became active.
	ActiveSince time.Time
}

// HAStatus reports the node's role.
func (c *Core) HAStatus() HAStatus {
	if c.ha == nil {
		return HAStatus{Active: !c.Sealed()}
	}
	st := HAStatus{Enabled: true}
	if c.Sealed() {
		return st
	}
	// A node counts as active once its active state is loaded.
	t := c.ha.activeSince.Load()
	st.Active = c.ha.active.Load() && t != nil
	st.Standby = !st.Active
	if st.Active {
		st.ActiveSince = *t
	}
	return st
}

// standby reports whether requests must be checked against the standby
// rules: the node is part of a cluster and not active.
func (c *Core) standby() bool { return c.ha != nil && !c.ha.active.Load() }

// LeaderInfo describes the active node for sys/leader.
type LeaderInfo struct {
	HAEnabled            bool
	IsSelf               bool
	ActiveTime           time.Time
	LeaderAddress        string
	LeaderClusterAddress string
}

// Leader names the active node. On a standby it asks the storage (at most
// every half second); it returns [ErrNoActive] when no other node leads.
func (c *Core) Leader(ctx context.Context) (LeaderInfo, error) {
	if c.ha == nil {
		return LeaderInfo{}, nil
	}
	info := LeaderInfo{HAEnabled: true}
	if c.HAStatus().Active {
		info.IsSelf = true
		info.LeaderAddress = c.ha.opts.APIAddr
		info.LeaderClusterAddress = c.ha.opts.ClusterAddr
		if t := c.ha.activeSince.Load(); t != nil {
			info.ActiveTime = *t
		}
		return info, nil
	}
	id, addr, err := c.leader(ctx)
	if err != nil {
		return info, err
	}
	info.LeaderAddress = addr
	c.ha.membersMu.Lock()
	info.LeaderClusterAddress = c.ha.members[id].ClusterAddress
	c.ha.membersMu.Unlock()
	return info, nil
}

// leader returns the active node's ID and address, cached briefly.
func (c *Core) leader(ctx context.Context) (string, string, error) {
	h := c.ha
	h.leaderMu.Lock()
	defer h.leaderMu.Unlock()
	if time.Since(h.leaderAt) > 500*time.Millisecond || h.leaderURL == "" {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		id, addr, err := h.opts.Backend.Leader(ctx)
		if err != nil {
			return "", "", fmt.Errorf("find the active node: %w", err)
		}
		h.leaderID, h.leaderURL, h.leaderAt = id, addr, time.Now()
	}
	// This node's own stale record (it just stepped down) is no leader.
	if h.leaderURL == "" || h.leaderID == h.opts.NodeID {
		return "", "", ErrNoActive
	}
	return h.leaderID, h.leaderURL, nil
}

// StepDown makes the active node give up leadership; another node takes
// over and this one competes again after HAOptions.StepDownWait. It does
// nothing on a standby or a single server.
func (c *Core) StepDown() {
	if c.ha == nil || !c.ha.active.Load() {
		return
	}
	select {
	case c.ha.stepDown <- struct{}{}:
	default:
	}
}

// Members lists the nodes that announced themselves recently, this one
// included, sorted by node ID.
func (c *Core) Members() []Member {
	if c.ha == nil {
		return nil
	}
	h := c.ha
	self := c.selfMember()
	self.LastEcho = c.now()
	h.membersMu.Lock()
	defer h.membersMu.Unlock()
	horizon := c.now().Add(-10 * h.opts.EchoInterval)
	out := []Member{self}
	for id, m := range h.members {
		if id == self.NodeID {
			continue
		}
		if m.LastEcho.Before(horizon) {
			delete(h.members, id)
			continue
		}
		out = append(out, m)
	}
	sortMembers(out)
	return out
}

func (c *Core) selfMember() Member {
	o := c.ha.opts
	return Member{
		NodeID:         o.NodeID,
		Hostname:       o.Hostname,
		APIAddress:     o.APIAddr,
		ClusterAddress: o.ClusterAddr,
		ActiveNode:     c.HAStatus().Active,
		Version:        c.opts.Version,
	}
}

// observe reports a transition to OnTransition.
func (c *Core) observe(active bool) {
	if f := c.ha.opts.OnTransition; f != nil {
		f(Transition{NodeID: c.ha.opts.NodeID, Active: active, At: time.Now()})
	}
}

// startHA starts the cluster goroutines after unseal.
func (c *Core) startHA() {
	h := c.ha
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h.cancel, h.done = cancel, done
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Go(func() { c.runElection(ctx) })
		wg.Go(func() { c.runInvalidations(ctx) })
		wg.Go(func() { c.runEcho(ctx) })
		wg.Go(func() { c.runEchoSender(ctx) })
		wg.Wait()
	}()
}

// stopHA stops the cluster goroutines; an active node steps down first.
// The caller must not hold stateMu.
func (c *Core) stopHA() {
	h := c.ha
	h.runMu.Lock()
	defer h.runMu.Unlock()
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel, h.done = nil, nil
}

// runElection competes for leadership while the node is unsealed.
func (c *Core) runElection(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		l, err := c.ha.opts.Backend.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.logger.Warn("compete for leadership", "err", err)
			sleep(ctx, wait)
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		if !c.becomeActive(ctx) {
			l.Release()
			sleep(ctx, time.Second)
			continue
		}
		voluntary := false
		select {
		case <-l.Lost():
		case <-c.ha.stepDown:
			voluntary = true
		case <-ctx.Done():
			voluntary = true
		}
		c.becomeStandby(ctx, l, voluntary)
		if voluntary && ctx.Err() == nil {
			c.logger.Info("stepped down; waiting before competing again", "wait", c.ha.opts.StepDownWait)
			sleep(ctx, c.ha.opts.StepDownWait)
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// becomeActive turns a standby into the active node, after it acquired
// the leadership. It reports false (and stays standby) when the node is
// sealed or the active state could not be loaded.
func (c *Core) becomeActive(ctx context.Context) bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.Sealed() || ctx.Err() != nil {
		return false
	}
	// Drain a step-down asked of an earlier term.
	select {
	case <-c.ha.stepDown:
	default:
	}
	c.ha.active.Store(true)
	c.preSeal(ctx)
	err := c.barrier.Reload(ctx)
	if err == nil {
		err = c.postUnseal(ctx)
	}
	if err == nil {
		err = c.loadClusterTLS(ctx, true)
	}
	if err != nil {
		c.logger.Error("become active: load state; staying standby", "err", err)
		c.preSeal(ctx)
		c.ha.active.Store(false)
		c.loadStandbyLocked(ctx)
		return false
	}
	now := c.now()
	c.ha.activeSince.Store(&now)
	c.ha.stale.Store(false)
	c.logger.Info("this node is now the active node", "node_id", c.ha.opts.NodeID)
	c.observe(true)
	c.announceSoon()
	return true
}

// becomeStandby ends this node's term as active. When the term was lost
// the node stops acting as active before anything else; when it gives the
// term up (step-down, seal) it first saves what it must (audit chain
// state) and then releases the leadership.
func (c *Core) becomeStandby(ctx context.Context, l Leadership, voluntary bool) {
	if !voluntary {
		c.ha.active.Store(false)
		c.ha.activeSince.Store(nil)
		c.logger.Warn("leadership lost; this node is now a standby", "node_id", c.ha.opts.NodeID)
		c.observe(false)
	}
	c.stateMu.Lock()
	c.preSeal(context.WithoutCancel(ctx))
	if voluntary {
		c.ha.active.Store(false)
		c.ha.activeSince.Store(nil)
		c.logger.Info("gave up leadership; this node is now a standby", "node_id", c.ha.opts.NodeID)
		c.observe(false)
	}
	// Until the standby state is loaded, everything is forwarded.
	c.ha.stale.Store(true)
	c.stateMu.Unlock()
	// Release may take seconds on a dead connection; requests meanwhile
	// are forwarded or refused, never served as active.
	l.Release()
	if ctx.Err() == nil {
		c.reloadStandby(ctx)
	}
}

// loadStandbyLocked loads what a standby serves reads from, writing
// nothing. A failure leaves the node stale: it forwards every request
// until a later reload works. The caller holds stateMu for writing.
func (c *Core) loadStandbyLocked(ctx context.Context) {
	if err := c.loadStandby(ctx); err != nil {
		c.ha.stale.Store(true)
		c.logger.Warn("load standby state; forwarding every request until it loads", "err", err)
		return
	}
	c.ha.stale.Store(false)
}

// loadStandby is postUnseal for a standby: no writes, no leases, no
// background work, no audit devices.
func (c *Core) loadStandby(ctx context.Context) error {
	c.preSeal(ctx)
	if err := c.tokens.Load(ctx); err != nil {
		return err
	}
	if err := c.readClusterID(ctx); err != nil {
		return err
	}
	if err := c.policies.LoadReadOnly(ctx); err != nil {
		return err
	}
	if err := c.loadIdentity(ctx); err != nil {
		return err
	}
	if err := c.loadMountsReadOnly(ctx); err != nil {
		return err
	}
	if err := c.loadClusterTLS(ctx, false); err != nil {
		return err
	}
	return c.checkStandbyAudit(ctx)
}

// checkStandbyAudit decides whether this standby may serve reads itself:
// only when no audit device is enabled, since a standby does not open the
// devices (their chain state belongs to the active node).
func (c *Core) checkStandbyAudit(ctx context.Context) error {
	e, err := c.barrier.Get(ctx, auditTableKey)
	if err != nil {
		return fmt.Errorf("read audit table: %w", err)
	}
	none := len(c.opts.AuditDevices) == 0 && (e == nil || strings.TrimSpace(string(e.Value)) == "null" || strings.TrimSpace(string(e.Value)) == "[]")
	c.ha.localReads.Store(none)
	return nil
}

// runEchoSender announces this node every EchoInterval, for the others'
// sys/ha-status.
func (c *Core) runEchoSender(ctx context.Context) {
	t := time.NewTicker(c.ha.opts.EchoInterval)
	defer t.Stop()
	for {
		c.sendEcho(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.ha.echoNow:
		}
	}
}

// runEcho records the other nodes' announcements.
func (c *Core) runEcho(ctx context.Context) {
	h := c.ha
	for ctx.Err() == nil {
		ch, err := h.opts.Backend.Listen(ctx, EchoChannel)
		if err != nil {
			if ctx.Err() == nil {
				c.logger.Warn("listen for cluster members", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for payload := range ch {
			m, ok := decodeEcho(payload)
			if !ok || m.NodeID == h.opts.NodeID {
				continue
			}
			m.LastEcho = c.now()
			h.membersMu.Lock()
			old, known := h.members[m.NodeID]
			h.members[m.NodeID] = m
			h.membersMu.Unlock()
			// A node new to this one (or one that just became active)
			// hears from this node at once instead of at the next tick,
			// so that standbys learn the active node's cluster address
			// without waiting.
			if !known || (m.ActiveNode && !old.ActiveNode) {
				c.announceSoon()
			}
		}
	}
}

// announceSoon asks the echo sender to announce this node now.
func (c *Core) announceSoon() {
	select {
	case c.ha.echoNow <- struct{}{}:
	default:
	}
}

func (c *Core) sendEcho(ctx context.Context) {
	payload, err := encodeEcho(c.selfMember())
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.ha.opts.Backend.Notify(ctx, EchoChannel, payload); err != nil && ctx.Err() == nil {
		c.logger.Debug("announce this node", "err", err)
	}
}

// ForwardTarget is where a standby forwards requests.
type ForwardTarget struct {
	// APIAddr is the active node's API address.
	APIAddr string
	// ClusterAddr is the cluster address the active node announced; empty
	// when it announced none, or when Announced is false.
	ClusterAddr string
	// Announced is true when the active node's announcement was heard.
	Announced bool
}

// ForwardTarget names the active node for forwarding, as [Core.Leader]
// does, with the cluster address it announced. When its announcement has
// not been heard yet (this node just started, or the active node just
// took over), it waits for it up to two echo intervals or until ctx ends,
// and then returns with Announced false.
func (c *Core) ForwardTarget(ctx context.Context) (ForwardTarget, error) {
	if c.ha == nil || c.HAStatus().Active {
		return ForwardTarget{}, ErrNoActive
	}
	id, addr, err := c.leader(ctx)
	if err != nil {
		return ForwardTarget{}, err
	}
	t := ForwardTarget{APIAddr: addr}
	deadline := time.Now().Add(2 * c.ha.opts.EchoInterval)
	for {
		c.ha.membersMu.Lock()
		m, ok := c.ha.members[id]
		c.ha.membersMu.Unlock()
		if ok {
			t.ClusterAddr, t.Announced = m.ClusterAddress, true
			return t, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return t, nil
		}
		sleep(ctx, 25*time.Millisecond)
	}
}
