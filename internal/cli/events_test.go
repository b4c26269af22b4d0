package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestEventsSubscribe runs `coffer events subscribe` in process against a
// real server: once its stream is live, two policy writes happen and only
// the one its -filter selects is printed, as one JSON line.
func TestEventsSubscribe(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	var stdout, stderr lockedBuffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"COFFER_ADDR": s.Addr, "COFFER_TOKEN": s.RootToken, "HOME": t.TempDir()}[k]
	}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"events", "subscribe", "-filter=sys/policies/acl/app*", "policy/*"}, env)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.Core().Events().Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscription never went live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, name := range []string{"other", "app"} {
		if err := s.Client.Sys().PutPolicy(name, `path "x/*" { capabilities = ["read"] }`); err != nil {
			t.Fatal(err)
		}
	}
	// The stream is asynchronous: wait for the line, then stop.
	for !strings.Contains(stdout.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("no event printed; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d, want 0; stderr: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"name":"app"`) || !strings.Contains(lines[0], `"event_type":"policy/changed"`) {
		t.Errorf("printed %q, want one policy/changed line for app", lines)
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
