package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
)

// testTTL is the lease of the elections here: short, so that a takeover
// takes a fraction of a second, yet several ping intervals long.
const testTTL = 600 * time.Millisecond

// pausable is a renewal hook that blocks while paused, standing in for a
// leader process that is stopped while its database session lives on.
type pausable struct {
	paused atomic.Bool
	resume chan struct{}
}

func newPausable() *pausable { return &pausable{resume: make(chan struct{})} }

func (p *pausable) hook(int64) {
	if p.paused.Load() {
		<-p.resume
	}
}

// leaseElector is an elector with the test lease, logging to log (nil
// discards).
func leaseElector(t *testing.T, s *postgres.Storage, nodeID string, log *slog.Logger) *postgres.Elector {
	t.Helper()
	return leaseElectorTTL(t, s, nodeID, log, testTTL)
}

// leaseElectorTTL is leaseElector with a lease of ttl.
func leaseElectorTTL(t *testing.T, s *postgres.Storage, nodeID string, log *slog.Logger, ttl time.Duration) *postgres.Elector {
	t.Helper()
	e, err := postgres.NewElector(s, postgres.ElectorOptions{NodeID: nodeID, Addr: "https://" + nodeID + ":8200", LeaseTTL: ttl, Logger: log})
	if err != nil {
		t.Fatalf("NewElector(%q) = %v", nodeID, err)
	}
	return e
}

// acquireAsync runs Acquire in a goroutine; the Leadership it returns is
// released when t ends.
func acquireAsync(t *testing.T, e *postgres.Elector) <-chan *postgres.Leadership {
	t.Helper()
	got := make(chan *postgres.Leadership, 1)
	go func() {
		l, err := e.Acquire(t.Context())
		if err != nil {
			if t.Context().Err() == nil {
				t.Errorf("Acquire = %v", err)
			}
			close(got)
			return
		}
		t.Cleanup(l.Release)
		got <- l
	}()
	return got
}

// TestLeaseTakeover pauses a leader's renewals: a candidate ends its
// session once its lease has expired and takes over with a higher epoch;
// the old leader's own lease had ended before the new epoch was bumped,
// its writes are fenced, and it never renews again.
func TestLeaseTakeover(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	sa, sb := open(t, url), open(t, url)
	idA, idB := "node-a-"+randomSuffix(t), "node-b-"+randomSuffix(t)
	ea, eb := leaseElector(t, sa, idA, nil), leaseElector(t, sb, idB, nil)
	pa := newPausable()
	postgres.SetRenewHook(ea, pa.hook)
	var bumpedAt atomic.Pointer[time.Time]
	postgres.SetBumpHook(eb, func() {
		now := time.Now()
		bumpedAt.Store(&now)
	})

	la := acquire(t, ea)
	sa.SetFence(la.Fence())
	if err := sa.Put(t.Context(), &storage.Entry{Key: "k", Value: []byte("a")}); err != nil {
		t.Fatalf("leader A Put = %v", err)
	}
	// A renews while it runs: its lease moves forward.
	first := la.ValidUntil()
	eventually(t, "A renews its lease", func() bool { return la.ValidUntil().After(first) })

	pa.paused.Store(true)
	defer close(pa.resume)
	paused := time.Now()
	got := acquireAsync(t, eb)
	var lb *postgres.Leadership
	select {
	case lb = <-got:
	case <-time.After(waitTimeout):
		t.Fatalf("B did not take over from the paused leader within %s", waitTimeout)
	}
	if lb == nil {
		t.FailNow()
	}
	t.Logf("B took over %s after A's renewals were paused (TTL %s)", time.Since(paused).Round(time.Millisecond), testTTL)
	if lb.Epoch != la.Epoch+1 {
		t.Errorf("B's epoch = %d, want %d", lb.Epoch, la.Epoch+1)
	}
	if until, bumped := la.ValidUntil(), *bumpedAt.Load(); !until.Before(bumped) {
		t.Errorf("A's lease runs until %s, after B bumped the epoch at %s", until.Format(time.StampMicro), bumped.Format(time.StampMicro))
	}
	wantLeader(t, sa, idB, lb.Epoch)
	if err := sa.Put(t.Context(), &storage.Entry{Key: "k", Value: []byte("a2")}); !errors.Is(err, postgres.ErrFenced) {
		t.Errorf("paused leader A Put = %v, want ErrFenced", err)
	}
	sb.SetFence(lb.Fence())
	if err := sb.Put(t.Context(), &storage.Entry{Key: "k", Value: []byte("b")}); err != nil {
		t.Errorf("leader B Put = %v", err)
	}

	// A resumes: it finds its lease lapsed and ends its term without
	// renewing.
	lapsedAt := la.ValidUntil()
	pa.paused.Store(false)
	pa.resume <- struct{}{}
	waitLost(t, la, "after its lease lapsed")
	if !la.ValidUntil().Equal(lapsedAt) {
		t.Errorf("A's lease moved from %s to %s after it lapsed", lapsedAt.Format(time.StampMicro), la.ValidUntil().Format(time.StampMicro))
	}
	select {
	case <-lb.Lost():
		t.Error("B lost its leadership")
	default:
	}
}

// TestLeaseHealthyLeaderKept checks that a candidate never ends the
// session of a leader that renews: it waits through several TTLs. The
// TTL is longer than the other tests' so that a test machine busy enough
// to delay one renewal by most of a short lease does not fail it (such a
// leader would rightly lose its lease).
func TestLeaseHealthyLeaderKept(t *testing.T) {
	t.Parallel()
	const ttl = 3 * time.Second
	url, _ := newSchema(t)
	sa, sb := open(t, url), open(t, url)
	la := acquire(t, leaseElectorTTL(t, sa, "node-a-"+randomSuffix(t), nil, ttl))
	ctx, cancel := context.WithTimeout(t.Context(), 2*ttl)
	defer cancel()
	if l, err := leaseElectorTTL(t, sb, "node-b-"+randomSuffix(t), nil, ttl).Acquire(ctx); err == nil {
		l.Release()
		t.Fatal("a candidate took over from a healthy leader")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("candidate Acquire = %v, want DeadlineExceeded", err)
	}
	select {
	case <-la.Lost():
		t.Error("the healthy leader lost its leadership")
	default:
	}
	if !la.ValidUntil().After(time.Now()) {
		t.Errorf("the healthy leader's lease ended at %s", la.ValidUntil().Format(time.StampMicro))
	}
}

// TestLeaseTakeoverPrivileges runs the takeover with the database roles
// production may use: a candidate may end the stale leader's session as
// superuser, with pg_signal_backend, or as the same role; without any of
// them it logs an error naming the privilege and waits until the
// session ends otherwise.
func TestLeaseTakeoverPrivileges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		leader       string // role of the leader: "" superuser, "r1" or "r2"
		candidate    string
		signalGrant  bool // the candidate's role is a member of pg_signal_backend
		wantTakeover bool
	}{
		{name: "superuser", wantTakeover: true},
		{name: "pg_signal_backend", leader: "r1", candidate: "r2", signalGrant: true, wantTakeover: true},
		{name: "same role", leader: "r1", candidate: "r1", wantTakeover: true},
		{name: "no privilege", leader: "r1", candidate: "r2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base, schema := newSchema(t)
			conn := admin(t)
			open(t, base).Close() // creates the tables as the superuser
			roles := map[string]string{"": base}
			for _, r := range []string{"r1", "r2"} {
				name := "coffer_lease_" + r + "_" + randomSuffix(t)
				for _, sql := range []string{
					"CREATE ROLE " + name + " LOGIN",
					"GRANT USAGE, CREATE ON SCHEMA " + schema + " TO " + name,
					"GRANT ALL ON ALL TABLES IN SCHEMA " + schema + " TO " + name,
				} {
					exec(t, conn, schema, sql)
				}
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					for _, sql := range []string{"DROP OWNED BY " + name, "DROP ROLE " + name} {
						if _, err := conn.Exec(ctx, sql); err != nil {
							t.Errorf("%s: %v", sql, err)
						}
					}
				})
				if r == "r2" && tt.signalGrant {
					exec(t, conn, schema, "GRANT pg_signal_backend TO "+name)
				}
				roles[r] = asRole(t, base, name)
			}
			sa, sb := open(t, roles[tt.leader]), open(t, roles[tt.candidate])
			idA := "node-a-" + randomSuffix(t)
			ea := leaseElector(t, sa, idA, nil)
			pa := newPausable()
			postgres.SetRenewHook(ea, pa.hook)
			logs := &syncBuffer{}
			eb := leaseElector(t, sb, "node-b-"+randomSuffix(t), slog.New(slog.NewTextHandler(logs, nil)))
			la := acquire(t, ea)
			pa.paused.Store(true)
			defer close(pa.resume)

			got := acquireAsync(t, eb)
			if !tt.wantTakeover {
				eventually(t, "the candidate logs the missing privilege", func() bool {
					return strings.Contains(logs.String(), "pg_signal_backend")
				})
				select {
				case <-got:
					t.Fatal("a candidate without the privilege took over")
				default:
				}
				// The session ends otherwise (an operator, a keepalive
				// timeout): the candidate takes over then.
				terminate(t, conn, "coffer-leader:"+idA)
			}
			select {
			case lb := <-got:
				if lb == nil {
					t.FailNow()
				}
				if lb.Epoch != la.Epoch+1 {
					t.Errorf("B's epoch = %d, want %d", lb.Epoch, la.Epoch+1)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("the candidate did not take over within %s; its log:\n%s", waitTimeout, logs.String())
			}
			if n := strings.Count(logs.String(), "cannot be ended"); !tt.wantTakeover && n != 1 {
				t.Errorf("the missing privilege was logged %d times, want once:\n%s", n, logs.String())
			}
		})
	}
}

// TestElectorOptions checks the bounds NewElector puts on the lease.
func TestElectorOptions(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	s := open(t, url)
	tests := []struct {
		name string
		opts postgres.ElectorOptions
		ok   bool
	}{
		{name: "defaults", ok: true},
		{name: "short lease, derived ping", opts: postgres.ElectorOptions{LeaseTTL: 600 * time.Millisecond}, ok: true},
		{name: "lease below the minimum", opts: postgres.ElectorOptions{LeaseTTL: 50 * time.Millisecond}},
		{name: "lease above the maximum", opts: postgres.ElectorOptions{LeaseTTL: time.Hour}},
		{name: "negative lease", opts: postgres.ElectorOptions{LeaseTTL: -time.Second}},
		{name: "lease too short for the ping", opts: postgres.ElectorOptions{LeaseTTL: time.Second, PingInterval: 500 * time.Millisecond}},
		{name: "lease long enough for the ping", opts: postgres.ElectorOptions{LeaseTTL: 3 * time.Second, PingInterval: 500 * time.Millisecond}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.NodeID = "n"
			_, err := postgres.NewElector(s, tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("NewElector(%+v) = %v, want ok %v", tt.opts, err, tt.ok)
			}
		})
	}
}

// asRole returns base with its user replaced by role (trust auth).
func asRole(t *testing.T, base, role string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

// eventually polls cond until it holds, failing t after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond) // polling state another goroutine changes
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLeaseHolderWithoutTerm covers a session that holds the election
// lock without having recorded a term (it stopped between the lock and
// the epoch bump, or runs a Coffer that keeps no lease): it is judged by
// its last activity. Idle for longer than the TTL, it is ended; active
// (as an older leader checking its connection), it is left alone.
func TestLeaseHolderWithoutTerm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		ping         bool // the holder runs a statement every ping interval
		wantTakeover bool
	}{
		{name: "idle holder", wantTakeover: true},
		{name: "active holder", ping: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, _ := newSchema(t)
			s := open(t, url)
			holder := pgxConnect(t, url)
			if _, err := holder.Exec(t.Context(), "SELECT pg_advisory_lock($1)", postgres.LeaderKey(s)); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			defer wg.Wait()
			defer close(stop)
			if tt.ping {
				wg.Go(func() {
					tick := time.NewTicker(testTTL / 10)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							if _, err := holder.Exec(context.Background(), "SELECT 1"); err != nil {
								t.Errorf("holder's check = %v", err)
								return
							}
						}
					}
				})
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*testTTL)
			defer cancel()
			l, err := leaseElector(t, s, "node-"+randomSuffix(t), nil).Acquire(ctx)
			if err == nil {
				l.Release()
			}
			if took := err == nil; took != tt.wantTakeover {
				t.Errorf("candidate Acquire = %v; want a takeover %v", err, tt.wantTakeover)
			}
		})
	}
}

// pgxConnect opens a plain connection to url, closed when t ends.
func pgxConnect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) }) // may be terminated already
	return conn
}

// TestLeaseMigratesVersion1 opens tables written by schema version 1
// (no lease table): Open adds the lease table, and elections with leases
// work on them.
func TestLeaseMigratesVersion1(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	open(t, url).Close()
	conn := admin(t)
	exec(t, conn, schema, "DROP TABLE coffer_kv_lease")
	exec(t, conn, schema, "UPDATE coffer_kv_schema_version SET version = 1")

	s := open(t, url)
	var version int
	if err := conn.QueryRow(t.Context(), "SELECT version FROM coffer_kv_schema_version").Scan(&version); err != nil || version != postgres.SchemaVersion {
		t.Fatalf("schema version after Open = %d, %v; want %d", version, err, postgres.SchemaVersion)
	}
	l := acquire(t, leaseElector(t, s, "node-"+randomSuffix(t), nil))
	first := l.ValidUntil()
	eventually(t, "the leader renews its lease", func() bool { return l.ValidUntil().After(first) })
}
