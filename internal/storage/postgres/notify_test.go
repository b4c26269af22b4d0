package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

func receive(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case p, ok := <-ch:
		if !ok {
			t.Fatal("listener channel closed, want a payload")
		}
		return p
	case <-time.After(waitTimeout):
		t.Fatalf("no notification within %s", waitTimeout)
		return ""
	}
}

// TestNotifyListen sends notifications from one node to another, through a
// reconnection of the listener, and checks that ending the context closes
// the channel.
func TestNotifyListen(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	sa, sb := open(t, url), open(t, url)
	channel := "coffer_inval_" + randomSuffix(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := sb.Listen(ctx, channel)
	if err != nil {
		t.Fatalf("Listen = %v", err)
	}

	payloads := []string{"logical/1234/secret/app", "core/mounts", "ünïcode ✓"}
	for _, p := range payloads {
		if err := sa.Notify(t.Context(), channel, p); err != nil {
			t.Fatalf("Notify(%q) = %v", p, err)
		}
	}
	for _, want := range payloads {
		if got := receive(t, ch); got != want {
			t.Errorf("received %q, want %q", got, want)
		}
	}
	// Another channel's notifications do not arrive here.
	if err := sa.Notify(t.Context(), channel+"_other", "x"); err != nil {
		t.Fatal(err)
	}

	// The listener's session dies: it reconnects and says it may have
	// missed something with an empty payload, then delivers again.
	if n := terminate(t, admin(t), "coffer-listen:"+channel); n != 1 {
		t.Fatalf("terminated %d listener sessions, want 1", n)
	}
	if got := receive(t, ch); got != "" {
		t.Fatalf("first payload after reconnect = %q, want the empty resync marker", got)
	}
	if err := sa.Notify(t.Context(), channel, "after"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch); got != "after" {
		t.Errorf("payload after reconnect = %q, want %q", got, "after")
	}

	cancel()
	select {
	case p, ok := <-ch:
		if ok {
			t.Errorf("after cancel received %q, want the channel closed", p)
		}
	case <-time.After(waitTimeout):
		t.Fatal("listener channel still open after its context ended")
	}
}

func TestNotifyInvalid(t *testing.T) {
	t.Parallel()
	url, _ := newSchema(t)
	s := open(t, url)
	tests := []struct {
		name, channel, payload string
	}{
		{"empty channel", "", "x"},
		{"long channel", strings.Repeat("c", 64), "x"},
		{"NUL in channel", "a\x00b", "x"},
		{"empty payload", "c", ""},
		{"long payload", "c", strings.Repeat("p", 8000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Notify(t.Context(), tt.channel, tt.payload); err == nil {
				t.Errorf("Notify(%q, %d bytes) = nil, want an error", tt.channel, len(tt.payload))
			}
		})
	}
	if _, err := s.Listen(t.Context(), ""); err == nil {
		t.Error(`Listen("") = nil error, want one`)
	}
}
