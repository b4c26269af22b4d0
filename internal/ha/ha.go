package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Backend is what a node needs from the storage layer to run as one node
// of a cluster. The server adapts the PostgreSQL storage to it. Its
// methods must be safe for concurrent use.
type Backend interface {
	// Acquire blocks until this node holds the leadership or ctx ends.
	// Writes are fenced to the new term before it returns.
	Acquire(ctx context.Context) (Leadership, error)
	// Leader returns the active node's ID and API address; both are empty
	// when no node leads.
	Leader(ctx context.Context) (nodeID, addr string, err error)
	// Notify sends payload (valid UTF-8, no NUL, at most [MaxNotifyPayload] bytes)
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
	// ValidUntil is when the term's lease ends, on the monotonic clock
	// (a time.Now reading), unless it is renewed before; it moves
	// forward with each renewal. The node acts as active only before it,
	// even when Lost has not closed, and steps down once it passes. The
	// zero time means the backend keeps no lease.
	ValidUntil() time.Time
	// Release gives the leadership up; it is safe to call more than once.
	Release()
}

// Options turns a server into one node of a cluster.
type Options struct {
	// Backend coordinates the nodes. Required.
	Backend Backend
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
	// MaxStandbyLag (L) bounds how far behind the active node a standby
	// may serve: its read leases last L (see [LeaseChannel]), and a
	// revocation waits at most about L for the standbys
	// ([Node.WaitApplied]). Zero means [DefaultMaxStandbyLag].
	MaxStandbyLag time.Duration
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

// Host is the server a node belongs to; core implements it. The node calls
// the methods whose names end in Locked with [Env.State] held for writing
// (InvalidateLocked: for reading); the others without it.
type Host interface {
	// Sealed reports whether the server is sealed.
	Sealed() bool
	// Storage is the server's encrypted storage (the barrier), where the
	// cluster CA is kept. It is used only while the server is unsealed.
	Storage() storage.Storage
	// ReloadKeyring reads the barrier's keyring again: the active node
	// may have rotated or rekeyed it.
	ReloadKeyring(ctx context.Context) error
	// UnloadLocked drops the loaded state and stops the background work,
	// as sealing does, leaving the barrier open.
	UnloadLocked(ctx context.Context)
	// LoadActiveLocked reloads the keyring and loads everything a single
	// server loads at unseal, starting its background work. On an error
	// the caller unloads what was loaded.
	LoadActiveLocked(ctx context.Context) error
	// LoadStandbyLocked loads what a standby serves reads from, writing
	// nothing: no leases, no background work but its own audit devices'
	// checkpoints. The node writes its own audit devices, opened with the
	// keys the active node stored.
	LoadStandbyLocked(ctx context.Context) error
	// ReloadMountsLocked rebuilds the routes from the stored mount table,
	// writing nothing.
	ReloadMountsLocked(ctx context.Context) error
	// InvalidateLocked applies a change notice on a standby: keys are the
	// physical keys the active node wrote. It drops or reloads what the
	// server caches from them and says what else must happen.
	InvalidateLocked(ctx context.Context, keys []string) Changes
}

// Changes is what a change notice needs beyond what
// [Host.InvalidateLocked] did itself.
type Changes struct {
	// All asks for the whole standby state to be reloaded.
	All bool
	// Mounts asks for the mount table to be reloaded.
	Mounts bool
	// Failed says a cache could not be reloaded: the node forwards every
	// request until a full reload works.
	Failed bool
}

// Env is what a node gets from the server it belongs to.
type Env struct {
	// Host is the server. Required.
	Host Host
	// State is the server's state lock: requests hold it for reading,
	// role changes for writing. Required.
	State *sync.RWMutex
	// Logger receives lifecycle and error logs; never secrets.
	Logger *slog.Logger
	// Clock tells the time; nil means the system clock.
	Clock logical.Clock
	// Version is announced to the other nodes.
	Version string
	// Events, when set, receives the events the active node publishes
	// ([EventChannel]) while this node is a standby; it must not block.
	Events func(payload string)
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

// Node is one node of a cluster: its role, the goroutines that change it,
// what it knows of the other nodes, and its cluster certificate.
type Node struct {
	opts    Options
	host    Host
	state   *sync.RWMutex
	logger  *slog.Logger
	clock   logical.Clock
	version string

	active      atomic.Bool // this node is the active node; writes are allowed
	initWrites  atomic.Bool // Initialize is writing (before any node leads)
	stale       atomic.Bool // the standby state failed to load; forward everything
	activeSince atomic.Pointer[time.Time]
	held        atomic.Pointer[heldTerm]   // the active node's leadership, for its lease (lease.go)
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

	events    func(payload string) // nil: events are not fanned out
	eventsOut chan string          // events queued for the other nodes

	consistency // notice indexes and read leases (index.go, readlease.go)
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
	// AppliedIndex is the node's notice index (see [Node.Index]).
	AppliedIndex uint64 `json:"applied_index"`
	// LagMS is the node's lag behind the active node in milliseconds
	// (see [Node.Lag]); -1 when it holds no usable read lease.
	LagMS int64 `json:"lag_ms"`
}

// New builds a standby node of a sealed server. It starts no goroutines
// and does no I/O.
func New(opts Options, env Env) (*Node, error) {
	if opts.Backend == nil || opts.NodeID == "" || opts.APIAddr == "" {
		return nil, errors.New("ha: high availability needs a backend, a node ID and an API address")
	}
	if env.Host == nil || env.State == nil {
		return nil, errors.New("ha: a node needs its server and the server's state lock")
	}
	if opts.StepDownWait <= 0 {
		opts.StepDownWait = 5 * time.Second
	}
	if opts.EchoInterval <= 0 {
		opts.EchoInterval = 2 * time.Second
	}
	if opts.MaxStandbyLag <= 0 {
		opts.MaxStandbyLag = DefaultMaxStandbyLag
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Clock == nil {
		env.Clock = logical.SystemClock{}
	}
	return &Node{
		opts:     opts,
		host:     env.Host,
		state:    env.State,
		logger:   env.Logger,
		clock:    env.Clock,
		version:  env.Version,
		stepDown: make(chan struct{}, 1),
		echoNow:  make(chan struct{}, 1),
		members:  make(map[string]Member),

		events:    env.Events,
		eventsOut: make(chan string, eventQueue),

		consistency: newConsistency(opts.MaxStandbyLag),
	}, nil
}

// now returns the current time in UTC.
func (n *Node) now() time.Time { return n.clock.Now().UTC() }

// Status is a node's role, for sys/health and sys/leader.
type Status struct {
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

// Status reports the node's role.
func (n *Node) Status() Status {
	st := Status{Enabled: true}
	if n.host.Sealed() {
		return st
	}
	// A node counts as active once its active state is loaded.
	t := n.activeSince.Load()
	st.Active = n.leading() && t != nil
	st.Standby = !st.Active
	if st.Active {
		st.ActiveSince = *t
	}
	return st
}

// Standby reports whether requests must be checked against the standby
// rules: the node is not active (or not yet), or its lease lapsed.
func (n *Node) Standby() bool { return !n.leading() }

// ServesReads reports whether this standby may serve the reads
// [StandbyRead] allows itself: its standby state is loaded. Each node
// audits what it serves with its own devices. An active node whose lease
// lapsed serves nothing: its caches may be older than the new active
// node's writes.
func (n *Node) ServesReads() bool {
	return !n.stale.Load() && !n.lapsedActive()
}

// BeginInit lets the node write while the cluster is initialized: no node
// leads before that, and the first writes are made by whichever node is
// asked. [Node.EndInit] ends it.
func (n *Node) BeginInit() { n.initWrites.Store(true) }

// EndInit ends what [Node.BeginInit] started.
func (n *Node) EndInit() { n.initWrites.Store(false) }

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
func (n *Node) Leader(ctx context.Context) (LeaderInfo, error) {
	info := LeaderInfo{HAEnabled: true}
	if n.Status().Active {
		info.IsSelf = true
		info.LeaderAddress = n.opts.APIAddr
		info.LeaderClusterAddress = n.opts.ClusterAddr
		if t := n.activeSince.Load(); t != nil {
			info.ActiveTime = *t
		}
		return info, nil
	}
	id, addr, err := n.leader(ctx)
	if err != nil {
		return info, err
	}
	info.LeaderAddress = addr
	n.membersMu.Lock()
	info.LeaderClusterAddress = n.members[id].ClusterAddress
	n.membersMu.Unlock()
	return info, nil
}

// leader returns the active node's ID and address, cached briefly.
func (n *Node) leader(ctx context.Context) (string, string, error) {
	n.leaderMu.Lock()
	defer n.leaderMu.Unlock()
	if time.Since(n.leaderAt) > 500*time.Millisecond || n.leaderURL == "" {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		id, addr, err := n.opts.Backend.Leader(ctx)
		if err != nil {
			return "", "", fmt.Errorf("find the active node: %w", err)
		}
		n.leaderID, n.leaderURL, n.leaderAt = id, addr, time.Now()
	}
	// This node's own stale record (it just stepped down) is no leader.
	if n.leaderURL == "" || n.leaderID == n.opts.NodeID {
		return "", "", ErrNoActive
	}
	return n.leaderID, n.leaderURL, nil
}

// StepDown makes the active node give up leadership; another node takes
// over and this one competes again after Options.StepDownWait. It does
// nothing on a standby.
func (n *Node) StepDown() {
	if !n.active.Load() {
		return
	}
	select {
	case n.stepDown <- struct{}{}:
	default:
	}
}

// Members lists the nodes that announced themselves recently, this one
// included, sorted by node ID.
func (n *Node) Members() []Member {
	self := n.selfMember()
	self.LastEcho = n.now()
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	horizon := n.now().Add(-10 * n.opts.EchoInterval)
	out := []Member{self}
	for id, m := range n.members {
		if id == self.NodeID {
			continue
		}
		if m.LastEcho.Before(horizon) {
			delete(n.members, id)
			continue
		}
		out = append(out, m)
	}
	sortMembers(out)
	return out
}

func (n *Node) selfMember() Member {
	o := n.opts
	return Member{
		NodeID:         o.NodeID,
		Hostname:       o.Hostname,
		APIAddress:     o.APIAddr,
		ClusterAddress: o.ClusterAddr,
		ActiveNode:     n.Status().Active,
		Version:        n.version,
		AppliedIndex:   n.Index(),
		LagMS:          n.lagMS(),
	}
}

// observe reports a transition to OnTransition.
func (n *Node) observe(active bool) {
	if f := n.opts.OnTransition; f != nil {
		f(Transition{NodeID: n.opts.NodeID, Active: active, At: time.Now()})
	}
}

// Start starts the cluster goroutines after unseal: the election, the
// change notices and the membership announcements. It does nothing when
// they run already.
func (n *Node) Start() {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	if n.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	n.cancel, n.done = cancel, done
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Go(func() { n.runElection(ctx) })
		wg.Go(func() { n.runInvalidations(ctx) })
		wg.Go(func() { n.runEcho(ctx) })
		wg.Go(func() { n.runEchoSender(ctx) })
		wg.Go(func() { n.runLeases(ctx) })
		if n.events != nil {
			wg.Go(func() { n.runEventSender(ctx) })
			wg.Go(func() { n.runEvents(ctx) })
		}
		wg.Wait()
	}()
}

// Stop stops the cluster goroutines and waits for them; an active node
// steps down first. The caller must not hold the state lock.
func (n *Node) Stop() {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	n.cancel, n.done = nil, nil
}

// Reset forgets the node's role and its cluster certificate; the server
// calls it when it seals, after [Node.Stop].
func (n *Node) Reset() {
	n.active.Store(false)
	n.activeSince.Store(nil)
	n.held.Store(nil)
	n.clusterTLS.Store(nil)
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

// ForwardTarget names the active node for forwarding, as [Node.Leader]
// does, with the cluster address it announced. When its announcement has
// not been heard yet (this node just started, or the active node just
// took over), it waits for it up to two echo intervals or until ctx ends,
// and then returns with Announced false. It returns [ErrNoActive] on the
// active node.
func (n *Node) ForwardTarget(ctx context.Context) (ForwardTarget, error) {
	if n.Status().Active {
		return ForwardTarget{}, ErrNoActive
	}
	id, addr, err := n.leader(ctx)
	if err != nil {
		return ForwardTarget{}, err
	}
	t := ForwardTarget{APIAddr: addr}
	deadline := time.Now().Add(2 * n.opts.EchoInterval)
	for {
		n.membersMu.Lock()
		m, ok := n.members[id]
		n.membersMu.Unlock()
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

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
