package ha

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSendEvent: only the active node sends events, each as one notice on
// EventChannel, and one too long for a notice is not sent.
func TestSendEvent(t *testing.T) {
	t.Parallel()
	b := &notices{}
	n, err := New(Options{Backend: b, NodeID: "n1", APIAddr: "http://127.0.0.1:8200"}, Env{Host: unsealedHost{}, State: new(sync.RWMutex), Events: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); n.runEventSender(ctx) }()
	n.SendEvent(`{"id":"standby"}`) // not active: dropped
	n.active.Store(true)
	n.SendEvent(`{"id":"1"}`)
	n.SendEvent(strings.Repeat("x", MaxNotifyPayload+1)) // too long: dropped
	n.SendEvent(`{"id":"2"}`)
	want := []string{EventChannel + ` {"id":"1"}`, EventChannel + ` {"id":"2"}`}
	deadline := time.Now().Add(5 * time.Second)
	var got []string
	for len(got) < len(want) && time.Now().Before(deadline) {
		got = append(got, b.take()...)
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("notices (-want +got):\n%s", d)
	}
}

// listener is a Backend whose Listen hands out one channel the test feeds.
type listener struct {
	Backend
	ch chan string
}

func (l *listener) Listen(context.Context, string) (<-chan string, error) { return l.ch, nil }

// TestRunEvents: a standby hands the events it hears to Env.Events; the
// active node and the "missed notices" marker do not.
func TestRunEvents(t *testing.T) {
	t.Parallel()
	l := &listener{ch: make(chan string)}
	var mu sync.Mutex
	var got []string
	n, err := New(Options{Backend: l, NodeID: "n1", APIAddr: "http://127.0.0.1:8200"}, Env{Host: unsealedHost{}, State: new(sync.RWMutex), Events: func(p string) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); n.runEvents(ctx) }()
	l.ch <- "a"
	l.ch <- ""
	n.active.Store(true)
	l.ch <- "while active"
	// Once the next payload is taken, "while active" was checked; the
	// marker is skipped whatever the role.
	l.ch <- ""
	n.active.Store(false)
	l.ch <- "b"
	close(l.ch)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff([]string{"a", "b"}, got); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
}
