package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/vault/api"
)

// defaultDuration is the workload's length in a default (CI) run; the
// whole test, with start-up and checks, stays under 90 s.
const defaultDuration = 35 * time.Second

// failurePause is how long a client waits after a request that failed
// outright, so that a node that is down is not hammered.
const failurePause = 50 * time.Millisecond

// keyCount is how many registers the clients share: few, so that writes
// conflict.
const keyCount = 3

// workloadDuration is COFFER_JEPSEN_DURATION, else defaultDuration.
func workloadDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("COFFER_JEPSEN_DURATION")
	if s == "" {
		return defaultDuration
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("COFFER_JEPSEN_DURATION=%q: want a positive duration such as 10m", s)
	}
	return d
}

// TestJepsen runs the cluster under faults and checks the history. See
// the package comment.
func TestJepsen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three server processes for about a minute")
	}
	dur := workloadDuration(t)
	began := time.Now()
	c := startCluster(t, 3, optionalStorageKeys())
	active, err := c.waitStable(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.client(active, c.root).Sys().PutPolicy("kvread", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster up in %s; optional settings in use: %q", time.Since(began).Round(time.Millisecond), c.settings)

	rec := newRecorder()
	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	var (
		wg      sync.WaitGroup
		faults  []string
		liveErr []error
		revs    revocationStats
	)
	const clients = 6
	for i := range clients {
		w := newWorker(t, c, i, rec)
		wg.Go(func() { w.run(ctx) })
	}
	wg.Go(func() { faults, liveErr = nemesis(ctx, t, c) })
	wg.Go(func() { revs = revocations(ctx, c) })
	wg.Wait()

	// Heal everything, then the cluster must settle.
	for _, nd := range c.nodes {
		nd.resume()
		nd.proxy.Heal()
		if nd.pid() == 0 {
			if err := c.start(nd); err != nil {
				t.Error(err)
			}
		}
	}
	if active, err = c.recover(45 * time.Second); err != nil {
		liveErr = append(liveErr, fmt.Errorf("after the run: %w", err))
	}

	var failed []string
	for _, e := range liveErr {
		failed = append(failed, "liveness: "+e.Error())
	}
	// Every key's versions as they are now, read through the active node.
	var final map[string][]string
	if active != nil {
		if final, err = readFinal(c, active); err != nil {
			failed = append(failed, "final read: "+err.Error())
			final = nil
		}
	}
	// (a) Linearizability of each key's writes and forwarded reads.
	model := registerModel()
	history, happened, dropped := rec.resolved(final)
	t.Logf("writes of unknown outcome: %d happened, %d did not (from the final versions)", happened, dropped)
	res, info := porcupine.CheckOperationsVerbose(model, history, 60*time.Second)
	linearizable := map[porcupine.CheckResult]string{porcupine.Ok: "yes", porcupine.Illegal: "NO", porcupine.Unknown: "unknown (checker timed out)"}[res]
	if res != porcupine.Ok {
		dir, err := os.MkdirTemp("", "coffer-jepsen-")
		if err == nil {
			path := filepath.Join(dir, "history.html")
			if err := porcupine.VisualizePath(model, info, path); err != nil {
				t.Logf("write visualization: %v", err)
			}
			for _, nd := range c.nodes {
				if b, err := os.ReadFile(nd.logPath); err == nil {
					os.WriteFile(filepath.Join(dir, nd.id+".log"), b, 0o600)
				}
			}
			t.Logf("history visualization: %s (node logs beside it)", path)
		}
		failed = append(failed, "(a) history is not linearizable: "+linearizable)
	}
	// (b) Read-your-writes for clients that send X-Vault-Index, and no read
	// anywhere sees a value no write put there.
	rec.mu.Lock()
	ryw := slices.Clone(rec.ryw)
	rec.mu.Unlock()
	for _, v := range ryw {
		failed = append(failed, "(b) read-your-writes: "+v)
	}
	for _, v := range rec.phantoms(final) {
		failed = append(failed, "(b) phantom read: "+v)
	}
	// (c) Revoked tokens refused on every node that answers.
	for _, v := range revs.stale {
		failed = append(failed, "(c) revocation: "+v)
	}
	// (d) Every acknowledged write is readable at its version.
	lost := 0
	if final != nil {
		for _, a := range rec.acknowledged() {
			if vs := final[a.key]; a.version > len(vs) || vs[a.version-1] != a.value {
				failed = append(failed, fmt.Sprintf("(d) acknowledged write %s v%d %q is not there after the run", a.key, a.version, a.value))
				lost++
			}
		}
	} else {
		failed = append(failed, "(d) not checked: no final read")
	}

	index := "no"
	if active != nil && indexHeader(c, active) {
		index = "yes"
	}
	rec.mu.Lock()
	counts := fmt.Sprint(rec.counts)
	ops := len(rec.writes) + len(rec.reads)
	rec.mu.Unlock()
	t.Logf("operations: %s", counts)
	t.Logf("faults: %s", strings.Join(faults, "; "))
	t.Logf("JEPSEN duration=%s ops=%d faults=%d linearizable=%s ryw_violations=%d revocations=%d revocations_used_everywhere=%d stale_revocations=%d lost_writes=%d x_vault_index=%s settings=%q",
		dur, ops, len(faults), linearizable, len(ryw), revs.checked, revs.warm, len(revs.stale), lost, index, c.settings)
	if len(failed) > 0 {
		if len(failed) > 40 {
			failed = append(failed[:40], fmt.Sprintf("... and %d more", len(failed)-40))
		}
		t.Errorf("%d checks failed:\n%s\nthe end of each node's log:\n%s", len(failed), strings.Join(failed, "\n"), c.logs(20))
	}
}

// worker is one client goroutine pinned to a node.
type worker struct {
	id   int
	node *node
	rec  *recorder
	// kv sends reads and writes as they are; fwd adds X-Vault-Forward:
	// active-node so that reads are served by the active node.
	kv, fwd *api.KVv2
	// inconsistent adds X-Vault-Inconsistent: forward-active-node to kv.
	inconsistent *api.KVv2
	ryw          bool           // kv's client has ReadYourWrites (sends X-Vault-Index)
	version      map[string]int // the last version seen per key, -1 unknown
	acked        map[string]int // the newest version this client wrote per key
	n            int
}

// newWorker pins client i to node i%3; odd clients use ReadYourWrites.
func newWorker(t *testing.T, c *cluster, i int, rec *recorder) *worker {
	nd := c.nodes[i%len(c.nodes)]
	ryw := i%2 == 1
	cl := newClient(t, nd.api, c.root, 5*time.Second, ryw)
	return &worker{
		id: i, node: nd, rec: rec, ryw: ryw,
		kv:  cl.KVv2("secret"),
		fwd: cl.WithRequestCallbacks(api.ForwardAlways()).KVv2("secret"),
		// A shallow copy: it shares the client's X-Vault-Index states.
		inconsistent: cl.WithRequestCallbacks(api.ForwardInconsistent()).KVv2("secret"),
		version:      map[string]int{},
		acked:        map[string]int{},
	}
}

func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		key := fmt.Sprintf("k%d", rand.IntN(keyCount))
		switch {
		case w.version[key] >= 0 && rand.IntN(10) < 4:
			w.write(key)
		case w.ryw && rand.IntN(2) == 0:
			w.read(key, w.kv, "index", false)
		case w.ryw:
			w.read(key, w.inconsistent, "index+inconsistent", false)
		case rand.IntN(2) == 0:
			w.read(key, w.fwd, "forwarded", true)
		default:
			w.read(key, w.kv, "local", false)
		}
	}
}

// write does a check-and-set write on the version last seen.
func (w *worker) write(key string) {
	w.n++
	in := kvInput{key: key, write: true, cas: w.version[key], value: fmt.Sprintf("c%d-%d", w.id, w.n)}
	// Not the run's context: a write cut short by the end of the run would
	// be one more unknown.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := w.rec.now()
	sec, err := w.kv.Put(ctx, key, map[string]any{"v": in.value}, api.WithCheckAndSet(in.cas))
	ret := w.rec.now()
	var out kvOutput
	var re *api.ResponseError
	switch {
	case err == nil && sec.VersionMetadata != nil:
		out = kvOutput{result: outOK, version: sec.VersionMetadata.Version}
		w.version[key] = out.version
		w.acked[key] = max(w.acked[key], out.version)
	case errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "check-and-set"):
		out = kvOutput{result: outCASFail}
		w.version[key] = -1
	case errors.Is(err, syscall.ECONNREFUSED):
		// Refused before a byte was sent: it did not happen.
		w.rec.count("write_refused")
		time.Sleep(failurePause) // the node is down; do not spin
		return
	default:
		out = kvOutput{result: outUnknown}
		w.version[key] = -1
	}
	w.rec.write(w.id, in, out, call, ret)
}

// read reads key through kv; a read that fails is not recorded (it
// changed nothing).
func (w *worker) read(key string, kv *api.KVv2, how string, linearizable bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call := w.rec.now()
	sec, err := kv.Get(ctx, key)
	ret := w.rec.now()
	var out kvOutput
	switch {
	case err == nil && sec.VersionMetadata != nil:
		v, _ := sec.Data["v"].(string)
		out = kvOutput{result: outOK, version: sec.VersionMetadata.Version, value: v}
	case errors.Is(err, api.ErrSecretNotFound):
		out = kvOutput{result: outOK}
	default:
		w.rec.count("read_failed")
		time.Sleep(failurePause) // the node may be down; do not spin
		return
	}
	w.version[key] = out.version
	if w.ryw && out.version < w.acked[key] {
		w.rec.rywViolation(fmt.Sprintf("client %d (node %s) read %s v%d after its write of v%d was acknowledged", w.id, w.node.id, key, out.version, w.acked[key]))
	}
	w.rec.read(w.id, kvInput{key: key}, out, call, ret, how, linearizable)
}

// recover waits for the cluster to settle, unsealing nodes that restarted
// sealed, and returns the active node.
func (c *cluster) recover(within time.Duration) (*node, error) {
	deadline := time.Now().Add(within)
	for {
		for _, nd := range c.nodes {
			if nd.health() == http.StatusServiceUnavailable {
				c.unseal(nd) // a failure shows in the next round
			}
		}
		active, err := c.waitStable(time.Second)
		if err == nil {
			return active, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
	}
}

// waitFor polls cond every 50 ms until it holds, for at most within, and
// reports whether it held; it always takes the whole of within, so that
// the fault lasts as long either way.
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	held := false
	for time.Now().Before(deadline) {
		if !held && cond() {
			held = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return held
}

// hasLease reports whether the nodes run with a leadership lease.
func (c *cluster) hasLease() bool {
	return slices.ContainsFunc(c.settings, func(s string) bool { return strings.HasPrefix(s, "ha_lease_ttl") })
}

// nemesis injects one fault at a time, with recovery and a quiet spell
// between, until ctx ends. It returns what it did and the times the
// cluster did not recover.
func nemesis(ctx context.Context, t *testing.T, c *cluster) (done []string, errs []error) {
	t0 := time.Now()
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	type fault struct {
		name string
		do   func(active *node) (string, error)
	}
	standby := func(active *node) *node {
		for _, nd := range c.nodes {
			if nd != active {
				return nd
			}
		}
		return nil
	}
	faults := []fault{
		{"kill -9 the active node, restart it", func(a *node) (string, error) {
			a.kill()
			time.Sleep(time.Second)
			if err := c.start(a); err != nil {
				return a.id, err
			}
			return a.id, c.unseal(a)
		}},
		{"SIGSTOP the active node past its lease, then SIGCONT", func(a *node) (string, error) {
			if err := a.pause(); err != nil {
				return a.id, err
			}
			// With a leadership lease, another node takes over while this
			// one is paused; without one (an older build), none can.
			replaced := waitFor(leaseTTL+2*time.Second, func() bool {
				for _, nd := range c.nodes {
					if nd != a && nd.health() == http.StatusOK {
						return true
					}
				}
				return false
			})
			a.resume()
			if c.hasLease() && !replaced {
				return a.id, fmt.Errorf("no other node became active within %s of the pause", leaseTTL+2*time.Second)
			}
			return a.id, nil
		}},
		{"cut the active node's PostgreSQL connections, then heal", func(a *node) (string, error) {
			a.proxy.Cut()
			time.Sleep(3 * time.Second)
			a.proxy.Heal()
			return a.id, nil
		}},
		{"kill -9 a standby, restart it", func(a *node) (string, error) {
			s := standby(a)
			s.kill()
			time.Sleep(time.Second)
			if err := c.start(s); err != nil {
				return s.id, err
			}
			return s.id, c.unseal(s)
		}},
		{"cut a standby's PostgreSQL connections, then heal", func(a *node) (string, error) {
			s := standby(a)
			s.proxy.Cut()
			time.Sleep(3 * time.Second)
			s.proxy.Heal()
			return s.id, nil
		}},
	}
	for i := 0; sleep(2 * time.Second); i++ {
		f := faults[i%len(faults)]
		active, err := c.recover(30 * time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("before fault %q: %w", f.name, err))
			continue
		}
		at := time.Since(t0)
		target, err := f.do(active)
		if err != nil {
			errs = append(errs, fmt.Errorf("fault %q on %s: %w", f.name, target, err))
		}
		healed := time.Since(t0)
		after, err := c.recover(30 * time.Second)
		if err != nil {
			errs = append(errs, fmt.Errorf("after fault %q on %s: %w", f.name, target, err))
		}
		now := "none"
		if after != nil {
			now = after.id
		}
		done = append(done, fmt.Sprintf("%s on %s at %s, healed %s, settled %s with %s active", f.name, target,
			at.Round(100*time.Millisecond), healed.Round(100*time.Millisecond), time.Since(t0).Round(100*time.Millisecond), now))
	}
	return done, errs
}

// revocationStats is what the revocation checker saw.
type revocationStats struct {
	checked int      // revocations that returned and were checked
	warm    int      // of those, the ones every node had honoured before
	stale   []string // a node honoured a token after its revocation returned
}

// revocations repeatedly creates a token, uses it on every node, revokes
// it on the active node and, once the revocation returned, uses it on
// every node again: every node that answers must refuse it (403).
func revocations(ctx context.Context, c *cluster) (st revocationStats) {
	hc := &http.Client{Timeout: 3 * time.Second}
	use := func(nd *node, tok string) int {
		req, _ := http.NewRequest(http.MethodGet, nd.api+"/v1/secret/data/k0", nil)
		req.Header.Set("X-Vault-Token", tok)
		resp, err := hc.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		active := c.active()
		if active == nil {
			continue
		}
		root := c.client(active, c.root)
		sec, err := root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"kvread"}, TTL: "1h"})
		if err != nil || sec.Auth == nil {
			continue
		}
		tok := sec.Auth.ClientToken
		warm := true
		for _, nd := range c.nodes {
			// So that every node has looked it up (and may have cached it).
			if code := use(nd, tok); code != http.StatusOK && code != http.StatusNotFound {
				warm = false
			}
		}
		if err := root.Auth().Token().RevokeTree(tok); err != nil {
			continue // unknown whether it was revoked
		}
		st.checked++
		if warm {
			st.warm++
		}
		for _, nd := range c.nodes {
			switch code := use(nd, tok); code {
			case http.StatusOK, http.StatusNotFound:
				st.stale = append(st.stale, fmt.Sprintf("node %s answered %d to a token revoked on %s", nd.id, code, active.id))
			}
		}
	}
	return st
}

// readFinal reads every version of every key through the active node:
// the value of version v at index v-1.
func readFinal(c *cluster, active *node) (map[string][]string, error) {
	kv := c.client(active, c.root).WithRequestCallbacks(api.ForwardAlways()).KVv2("secret")
	ctx := context.Background()
	final := map[string][]string{}
	for k := range keyCount {
		key := fmt.Sprintf("k%d", k)
		meta, err := kv.GetMetadata(ctx, key)
		if errors.Is(err, api.ErrSecretNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", key, err)
		}
		for v := 1; v <= meta.CurrentVersion; v++ {
			sec, err := kv.GetVersion(ctx, key, v)
			if err != nil {
				return nil, fmt.Errorf("%s v%d: %w", key, v, err)
			}
			s, _ := sec.Data["v"].(string)
			final[key] = append(final[key], s)
		}
	}
	return final, nil
}

// indexHeader reports whether the cluster's answers carry X-Vault-Index.
func indexHeader(c *cluster, active *node) bool {
	var state string
	cl := c.client(active, c.root).WithResponseCallbacks(api.RecordState(&state))
	if _, err := cl.KVv2("secret").Put(context.Background(), "index-probe", map[string]any{"v": "x"}); err != nil {
		return false
	}
	return state != ""
}
