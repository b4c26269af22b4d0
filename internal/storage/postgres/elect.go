package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPingInterval is how often a leader checks its dedicated
// connection and renews its lease when [ElectorOptions].PingInterval is
// zero and LeaseTTL is the default.
const DefaultPingInterval = 500 * time.Millisecond

// DefaultLeaseTTL is the leader's lease when [ElectorOptions].LeaseTTL is
// zero.
const DefaultLeaseTTL = 5 * time.Second

// Bounds of [ElectorOptions].LeaseTTL.
const (
	MinLeaseTTL = 100 * time.Millisecond
	MaxLeaseTTL = 10 * time.Minute
)

// sqlLockTimeout and sqlInsufficientPrivilege are the SQLSTATEs of a lock
// wait that reached lock_timeout and of a refused pg_terminate_backend.
const (
	sqlLockTimeout           = "55P03"
	sqlInsufficientPrivilege = "42501"
)

// ErrNoLeader is returned by [Storage.CurrentLeader] when no node holds the
// leadership.
var ErrNoLeader = errors.New("no active leader")

// Server-side keepalive settings of a leader's dedicated connection. They
// decide how long PostgreSQL keeps a leader's session, and with it the
// election lock, after the leader's host or network has gone silent: at
// least keepaliveIdle plus keepaliveCount probes keepaliveInterval apart,
// about 10 s (tcp_user_timeout bounds unacknowledged writes alike). A
// leader notices a silent connection within PingInterval plus PingTimeout
// (1.5 s by default), well inside that window, so it steps down before
// another node can be elected. When the session ends abruptly instead
// (pg_terminate_backend, a server restart) the lock is free at once and
// the old leader may still be in its ping interval: the epoch bump of the
// next election fences its writes ([ErrFenced]), which is the guarantee
// that matters; Lost is the prompt notice.
const (
	keepaliveIdle     = "5"     // seconds
	keepaliveInterval = "1"     // seconds
	keepaliveCount    = "5"     // probes
	userTimeout       = "10000" // milliseconds
)

// ElectorOptions configures NewElector.
type ElectorOptions struct {
	// NodeID names this node; it is recorded as the leader's ID. Required.
	NodeID string
	// Addr is where other nodes reach this one when it leads (for request
	// forwarding); it is recorded as the leader's address.
	Addr string
	// PingInterval is how often a leader checks its connection and the
	// epoch and renews its lease, and how often a candidate looks for a
	// stale leader while it waits; zero means [DefaultPingInterval], or
	// LeaseTTL/10 when that is shorter. Keep it well below 5 s (see the
	// package's keepalive settings).
	PingInterval time.Duration
	// PingTimeout bounds one check; zero means twice PingInterval, at most
	// one second.
	PingTimeout time.Duration
	// LeaseTTL is how long a leader's term lasts without a renewal, by
	// the database's clock: a candidate that finds the leader's last
	// renewal older than that ends the leader's session and takes over.
	// Zero means [DefaultLeaseTTL]; it must lie within [MinLeaseTTL] and
	// [MaxLeaseTTL] and be at least twice PingInterval plus PingTimeout,
	// so that a healthy leader renews several times per TTL.
	LeaseTTL time.Duration
	// Logger receives leadership changes; nil discards them.
	Logger *slog.Logger
}

// Elector elects one leader among the nodes sharing a Storage's database,
// with a session-level advisory lock held on a dedicated connection. It is
// safe for concurrent use; each Acquire uses a connection of its own.
type Elector struct {
	s    *Storage
	opts ElectorOptions
	log  *slog.Logger

	// Test hooks, set only by export_test.go before any Acquire.
	beforeRenew func(epoch int64) // called before each renewal
	beforeBump  func()            // called just before the epoch bump
}

// NewElector returns an Elector for the tables of s. It does no I/O.
func NewElector(s *Storage, opts ElectorOptions) (*Elector, error) {
	if opts.NodeID == "" {
		return nil, errors.New("new elector: node ID is empty")
	}
	if opts.PingInterval < 0 || opts.PingTimeout < 0 || opts.LeaseTTL < 0 {
		return nil, errors.New("new elector: ping interval, ping timeout and lease TTL must not be negative")
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.LeaseTTL < MinLeaseTTL || opts.LeaseTTL > MaxLeaseTTL {
		return nil, fmt.Errorf("new elector: lease TTL %s is outside %s to %s", opts.LeaseTTL, MinLeaseTTL, MaxLeaseTTL)
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = min(DefaultPingInterval, opts.LeaseTTL/10)
	}
	if opts.PingTimeout == 0 {
		opts.PingTimeout = min(2*opts.PingInterval, time.Second)
	}
	if opts.LeaseTTL < 2*(opts.PingInterval+opts.PingTimeout) {
		return nil, fmt.Errorf("new elector: lease TTL %s is less than twice the ping interval plus timeout (%s)", opts.LeaseTTL, 2*(opts.PingInterval+opts.PingTimeout))
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Elector{s: s, opts: opts, log: log.With("component", "storage.postgres.elector", "node_id", opts.NodeID)}, nil
}

// Leadership is one term as leader, from Acquire until Lost closes.
type Leadership struct {
	// Epoch is this term's epoch, greater than every earlier term's.
	Epoch int64

	ttl        time.Duration             // the elector's LeaseTTL
	validUntil atomic.Pointer[time.Time] // see ValidUntil; monotonic
	lost       chan struct{}
	stop       chan struct{}
	done       chan struct{}
	release    sync.Once
}

// Lost returns a channel that is closed when this term ends: the dedicated
// connection failed a check or did not answer within the ping timeout, the
// epoch moved on, or Release was called. After it closes the node must
// stop acting as leader; its fenced writes fail anyway.
func (l *Leadership) Lost() <-chan struct{} { return l.lost }

// ValidUntil returns when this node's view of its lease ends, by the local
// monotonic clock: the local time at which the last successful renewal
// (or the epoch bump) was sent, plus LeaseTTL minus a quarter of it. The
// database records a renewal no earlier than it was sent, and other nodes
// take over only once the renewal is older than LeaseTTL by the
// database's clock, so the leader's view ends first as long as neither
// clock runs more than a quarter slower or faster than the other; their
// offsets do not matter. After ValidUntil the node must not act as
// leader, whether or not Lost has closed: a lapsed lease is never
// renewed, and the term ends at the next check.
func (l *Leadership) ValidUntil() time.Time { return *l.validUntil.Load() }

// renewed extends the lease from sent, the local time the renewal (or the
// bump) was sent.
func (l *Leadership) renewed(sent time.Time) {
	t := sent.Add(l.ttl - l.ttl/4)
	l.validUntil.Store(&t)
}

// Fence returns the fence that binds writes to this term; pass it to
// [Storage.SetFence].
func (l *Leadership) Fence() *Fence { return &Fence{Epoch: l.Epoch} }

// Release steps down: it clears the recorded leader, unlocks, closes the
// dedicated connection and closes Lost. It blocks until that is done (at
// most a few seconds) and is safe to call more than once.
func (l *Leadership) Release() {
	l.release.Do(func() { close(l.stop) })
	<-l.done
}

// Acquire blocks until this node is the leader, or ctx ends. It connects a
// dedicated connection, waits for the election's advisory lock on it, then
// increments the epoch and records this node as leader, with the first
// renewal of its lease, in the same session. The returned Leadership
// checks its connection and renews its lease every PingInterval until it
// is lost or released, in a goroutine of its own; the caller must call
// Release when done with it, lost or not.
//
// While it waits, Acquire looks every PingInterval for a stale leader:
// one whose lease was last renewed more than LeaseTTL ago by the
// database's clock (its process paused or its host frozen, while
// PostgreSQL keeps its session and so its lock). It ends that leader's
// session with pg_terminate_backend, which frees the lock; the epoch bump
// that follows fences the old leader's writes. Ending another session
// needs the pg_signal_backend role, or the same role as that session
// (superusers may always); without it Acquire logs an error naming the
// privilege once per call and goes on waiting for the lock to be freed
// otherwise, as it would without a lease.
func (e *Elector) Acquire(ctx context.Context) (*Leadership, error) {
	cfg := e.s.connConfig.Copy()
	cfg.RuntimeParams["application_name"] = "coffer-leader:" + e.opts.NodeID
	cfg.RuntimeParams["tcp_keepalives_idle"] = keepaliveIdle
	cfg.RuntimeParams["tcp_keepalives_interval"] = keepaliveInterval
	cfg.RuntimeParams["tcp_keepalives_count"] = keepaliveCount
	cfg.RuntimeParams["tcp_user_timeout"] = userTimeout
	// The lock wait gives up after a ping interval to look for a stale
	// leader; the leader's own statements take no contended locks.
	cfg.RuntimeParams["lock_timeout"] = strconv.FormatInt(max(e.opts.PingInterval.Milliseconds(), 1), 10)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, e.s.wrap(fmt.Sprintf("acquire leadership: connect (%s)", describe(cfg)), err)
	}
	fail := func(op string, err error) (*Leadership, error) {
		closeQuietly(conn)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("acquire leadership: %s: %w", op, ctxErr)
		}
		return nil, e.s.wrap("acquire leadership: "+op, err)
	}
	// The epoch bump must survive a server crash, or a later election
	// could hand out an epoch again and revive an old leader's fence.
	if err := ensureSyncCommit(ctx, conn); err != nil {
		return fail("set up connection", err)
	}
	if err := e.waitLock(ctx, conn); err != nil {
		return fail("wait for lock", err)
	}
	// The bump waits for the fenced writes in flight, however long.
	if _, err := conn.Exec(ctx, "SET lock_timeout = 0"); err != nil {
		return fail("set up connection", err)
	}
	if e.beforeBump != nil {
		e.beforeBump()
	}
	l := &Leadership{
		ttl:  e.opts.LeaseTTL,
		lost: make(chan struct{}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	sent := time.Now()
	if err := conn.QueryRow(ctx, e.s.q.bumpEpoch, e.opts.NodeID, e.opts.Addr).Scan(&l.Epoch); err != nil {
		return fail("bump epoch", err)
	}
	l.renewed(sent)
	e.log.Info("leadership acquired", "epoch", l.Epoch, "lease_ttl", e.opts.LeaseTTL)
	go e.watch(conn, l)
	return l, nil
}

// waitLock takes the election lock on conn, waiting until it is free or
// ctx ends. Each time the wait reaches lock_timeout it ends the session
// of a stale leader, if there is one.
func (e *Elector) waitLock(ctx context.Context, conn *pgx.Conn) error {
	hi, lo := int64(uint64(e.s.leaderKey)>>32), int64(uint32(e.s.leaderKey))
	warned := false
	for {
		_, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", e.s.leaderKey)
		if err == nil {
			return nil
		}
		if sqlState(err) != sqlLockTimeout {
			return err
		}
		var (
			pid  int32
			age  float64
			done bool
		)
		err = conn.QueryRow(ctx, e.s.q.terminateStale, hi, lo, e.opts.LeaseTTL.Microseconds()).Scan(&pid, &age, &done)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// The leader is alive, or there is none any more.
		case sqlState(err) == sqlInsufficientPrivilege:
			if !warned {
				warned = true
				e.log.Error("the leader's lease has expired but its session cannot be ended:"+
					" grant this server's database role pg_signal_backend (or run every node as the same role);"+
					" waiting for the session to end by itself",
					"err", e.s.wrap("end stale leader session", err))
			}
		case err != nil:
			return err
		case done:
			e.log.Warn("ended the session of a leader whose lease expired", "pid", pid, "last_renewal_age", time.Duration(age*float64(time.Second)).Round(time.Millisecond))
		}
	}
}

// watch renews the leader's lease every PingInterval, which also checks
// its connection, the lock and the epoch, until a renewal fails, the lease
// lapsed before it could be renewed, or Release is called; then it ends
// the term. It alone uses conn.
func (e *Elector) watch(conn *pgx.Conn, l *Leadership) {
	// Deferred calls run last first: Lost closes before the possibly slow
	// goodbye on a dead connection.
	defer close(l.done)
	defer closeQuietly(conn)
	defer close(l.lost)
	hi, lo := int64(uint64(e.s.leaderKey)>>32), int64(uint32(e.s.leaderKey))
	t := time.NewTicker(e.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			e.stepDown(conn, l)
			return
		case <-t.C:
		}
		if e.beforeRenew != nil {
			e.beforeRenew(l.Epoch)
		}
		// A lease that lapsed (the process was paused, or a check
		// outlived it) is never renewed: another node may already lead.
		sent := time.Now()
		if !sent.Before(l.ValidUntil()) {
			e.log.Warn("leadership lost: lease lapsed before it was renewed", "epoch", l.Epoch)
			return
		}
		// The term outlives Acquire's context; each check has its own
		// deadline instead.
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.PingTimeout)
		var ok bool
		err := conn.QueryRow(ctx, e.s.q.renewLease, hi, lo, l.Epoch).Scan(&ok)
		cancel()
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		if err != nil || !ok {
			e.log.Warn("leadership lost", "epoch", l.Epoch, "err", e.s.wrap("renew lease", errOrNil(err)))
			return
		}
		l.renewed(sent)
	}
}

// errOrNil makes a failed check without an error readable in logs.
func errOrNil(err error) error {
	if err == nil {
		return errors.New("lock no longer held or epoch moved on")
	}
	return err
}

// stepDown clears the recorded leader (if this term is still current) and
// unlocks; closing the connection would release the lock as well.
func (e *Elector) stepDown(conn *pgx.Conn, l *Leadership) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err1 := conn.Exec(ctx, e.s.q.releaseLeader, l.Epoch)
	_, err2 := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", e.s.leaderKey)
	if err := errors.Join(err1, err2); err != nil {
		e.log.Warn("step down", "epoch", l.Epoch, "err", e.s.wrap("step down", err))
		return
	}
	e.log.Info("leadership released", "epoch", l.Epoch)
}

// closeQuietly closes a dedicated connection within a short deadline; the
// server ends the session either way.
func closeQuietly(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx) // nothing to do about a failed goodbye
}

// CurrentLeader returns the node that leads now, its address and the
// current epoch, for standbys. It returns [ErrNoLeader] (with the last
// epoch) when no session holds the election lock or the leader stepped
// down. Just after a new leader takes the lock and before it records
// itself, the previous leader's ID may show for a moment.
func (s *Storage) CurrentLeader(ctx context.Context) (nodeID, addr string, epoch int64, err error) {
	hi, lo := int64(uint64(s.leaderKey)>>32), int64(uint32(s.leaderKey))
	var held bool
	err = s.pool.QueryRow(ctx, s.q.currentLeader, hi, lo).Scan(&nodeID, &addr, &epoch, &held)
	if err != nil {
		return "", "", 0, s.wrap("read current leader", err)
	}
	if !held || nodeID == "" {
		return "", "", epoch, fmt.Errorf("%w (epoch %s)", ErrNoLeader, strconv.FormatInt(epoch, 10))
	}
	return nodeID, addr, epoch, nil
}
