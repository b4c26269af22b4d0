package ha

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
	"github.com/google/go-cmp/cmp"
)

// recordingHost is an unsealed server that records what a node asks of
// it, over a real in-memory storage.
type recordingHost struct {
	st      storage.Storage
	changes Changes // what InvalidateLocked answers

	mu    sync.Mutex
	calls []string // guarded by mu
}

func (h *recordingHost) record(call string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, call)
}

func (h *recordingHost) Sealed() bool             { return false }
func (h *recordingHost) Storage() storage.Storage { return h.st }
func (h *recordingHost) ReloadKeyring(context.Context) error {
	h.record("reload keyring")
	return nil
}
func (h *recordingHost) UnloadLocked(context.Context) { h.record("unload") }
func (h *recordingHost) LoadActiveLocked(context.Context) error {
	h.record("load active")
	return nil
}
func (h *recordingHost) LoadStandbyLocked(context.Context) error {
	h.record("load standby")
	return nil
}
func (h *recordingHost) ReloadMountsLocked(context.Context) error {
	h.record("reload mounts")
	return nil
}
func (h *recordingHost) InvalidateLocked(_ context.Context, keys []string) Changes {
	h.record("invalidate " + strings.Join(keys, ","))
	return h.changes
}

// TestInvalidate checks how a node applies a change notice: what it asks
// of its server, and the state it is left in.
func TestInvalidate(t *testing.T) {
	t.Parallel()
	ca, err := newClusterCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	caJSON, err := json.Marshal(ca)
	if err != nil {
		t.Fatal(err)
	}
	reloadAll := []string{"reload keyring", "unload", "load standby"}
	tests := []struct {
		name        string
		payload     string
		active      bool
		changes     Changes
		wantCalls   []string
		wantStale   bool
		wantReads   bool // ServesReads afterwards
		wantCluster bool // a cluster certificate afterwards
	}{
		{name: "everything", payload: "*", wantCalls: reloadAll, wantReads: true, wantCluster: true},
		{name: "missed notices", payload: "", wantCalls: reloadAll, wantReads: true, wantCluster: true},
		{name: "keys go to the server", payload: "sys/policy/a\nsys/token/id/x", wantCalls: []string{"invalidate sys/policy/a,sys/token/id/x"}, wantReads: true},
		{name: "the mount table", payload: "core/mounts", changes: Changes{Mounts: true}, wantCalls: []string{"invalidate core/mounts", "reload mounts"}, wantReads: true},
		// The server opens and closes its own audit devices; with an
		// audit device enabled the standby still serves reads.
		{name: "the audit table", payload: "core/audit", wantCalls: []string{"invalidate core/audit"}, wantReads: true},
		{name: "an audit device that cannot open", payload: "core/audit", changes: Changes{Failed: true}, wantCalls: []string{"invalidate core/audit"}, wantStale: true, wantReads: false},
		{name: "a failed reload", payload: "sys/policy/a", changes: Changes{Failed: true}, wantCalls: []string{"invalidate sys/policy/a"}, wantStale: true, wantReads: false},
		{name: "the server asks for everything", payload: "core/cluster-id", changes: Changes{All: true}, wantCalls: append([]string{"invalidate core/cluster-id"}, reloadAll...), wantReads: true, wantCluster: true},
		{name: "the cluster CA", payload: ClusterTLSKey, wantCalls: []string{"invalidate " + ClusterTLSKey}, wantReads: true, wantCluster: true},
		{name: "the active node ignores notices", payload: "*", active: true, wantReads: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := inmem.New()
			if err := st.Put(t.Context(), &storage.Entry{Key: ClusterTLSKey, Value: caJSON}); err != nil {
				t.Fatal(err)
			}
			h := &recordingHost{st: st, changes: tt.changes}
			n, err := New(Options{Backend: &notices{}, NodeID: "n1", APIAddr: "http://127.0.0.1:8200"}, Env{Host: h, State: new(sync.RWMutex)})
			if err != nil {
				t.Fatal(err)
			}
			// A standby whose state loaded, serving reads.
			n.active.Store(tt.active)
			n.invalidate(t.Context(), tt.payload)
			if diff := cmp.Diff(tt.wantCalls, h.calls); diff != "" {
				t.Errorf("invalidate(%q) calls (-want +got):\n%s", tt.payload, diff)
			}
			if got := n.stale.Load(); got != tt.wantStale {
				t.Errorf("invalidate(%q): stale = %v, want %v", tt.payload, got, tt.wantStale)
			}
			if got := n.ServesReads(); got != tt.wantReads {
				t.Errorf("invalidate(%q): ServesReads() = %v, want %v", tt.payload, got, tt.wantReads)
			}
			if got := n.clusterTLS.Load() != nil; got != tt.wantCluster {
				t.Errorf("invalidate(%q): cluster certificate loaded = %v, want %v", tt.payload, got, tt.wantCluster)
			}
		})
	}
}
