package leaks

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/leaks"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// fakeChecker answers the i-th hash with MaxPlaces current places: two
// fields of each of MaxPlaces/2 secrets under "c<i>/".
type fakeChecker struct{}

func (fakeChecker) Check(_ context.Context, hashes [][sha256.Size]byte) ([][]leaks.Place, error) {
	out := make([][]leaks.Place, len(hashes))
	for i := range out {
		for j := range leaks.MaxPlaces / 2 {
			for _, f := range []string{"a", "b"} {
				p := fmt.Sprintf("c%d/s%03d", i, j)
				out[i] = append(out[i], leaks.Place{
					MountPath: "secret/", Kind: "kv", Path: p, ReadPath: "secret/data/" + p, Field: f, Version: 1, Current: true,
				})
			}
		}
	}
	return out, nil
}

// countingAccess allows reads under prefix and counts its calls.
type countingAccess struct {
	prefix string
	mu     sync.Mutex
	calls  int
}

func (a *countingAccess) Allowed(path string, _ logical.Operation) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	return strings.HasPrefix(path, a.prefix)
}

func (a *countingAccess) AllowedParams(path string, op logical.Operation, _ map[string]any) bool {
	return a.Allowed(path, op)
}

// gatedEvents blocks each SendEvent until release is closed, then
// records it.
type gatedEvents struct {
	release chan struct{}
	mu      sync.Mutex
	got     []map[string]string
	done    chan struct{} // closed once want events arrived
	want    int
}

func (g *gatedEvents) SendEvent(_ context.Context, _ string, md map[string]string) {
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	g.got = append(g.got, md)
	if len(g.got) == g.want {
		close(g.done)
	}
}

// TestCheckCaps checks the bounds of one call on a value that lives in
// many places: at most MaxReadable readable matches per candidate (the
// last marked truncated) and no ACL check past them, one event per
// secret and at most MaxEvents per call, published after the answer.
func TestCheckCaps(t *testing.T) {
	t.Parallel()
	ev := &gatedEvents{release: make(chan struct{}), done: make(chan struct{}), want: MaxEvents}
	a := New(Options{Index: fakeChecker{}, Events: ev})
	access := &countingAccess{prefix: "secret/data/"}
	hs := make([]string, 2*MaxEvents/(leaks.MaxPlaces/2)) // twice as many secrets as MaxEvents
	for i := range hs {
		hs[i] = b64(fmt.Sprint("candidate-", i))
	}
	body, err := json.Marshal(map[string]any{"candidates": hs})
	if err != nil {
		t.Fatal(err)
	}
	// The events are held back: the answer must come anyway.
	resp, err := a.check(t.Context(), &logical.Request{Body: body, Access: access, Accessor: "acc"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := resp.Data.(*Answer)
	if len(out.Matches) != len(hs)*MaxReadable {
		t.Fatalf("%d matches, want %d (%d per candidate)", len(out.Matches), len(hs)*MaxReadable, MaxReadable)
	}
	for i, m := range out.Matches {
		if want := i%MaxReadable == MaxReadable-1; m.Truncated != want {
			t.Errorf("match %d: truncated %v, want %v", i, m.Truncated, want)
		}
	}
	if access.calls != len(hs)*MaxReadable {
		t.Errorf("%d ACL checks, want %d", access.calls, len(hs)*MaxReadable)
	}
	close(ev.release)
	select {
	case <-ev.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the events were never published")
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	seen := map[string]bool{}
	for _, md := range ev.got {
		if seen[md["data_path"]] {
			t.Errorf("two events for %s", md["data_path"])
		}
		seen[md["data_path"]] = true
	}
	if len(ev.got) != MaxEvents {
		t.Errorf("%d events, want %d", len(ev.got), MaxEvents)
	}
}
