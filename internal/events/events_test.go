package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "kv-v2/data-write", true},
		{"*", "", true},
		{"kv*", "kv-v2/data-write", true},
		{"kv*", "policy/changed", false},
		{"kv-v2/data-write", "kv-v2/data-write", true},
		{"kv-v2/data-write", "kv-v2/data-writes", false},
		{"kv-v2/*-write", "kv-v2/data-write", true},
		{"kv-v2/*-write", "kv-v2/data-delete", false},
		{"secret/data/app/*", "secret/data/app/db", true},
		{"secret/data/app/*", "secret/data/other", false},
		{"*/data/*", "secret/data/x", true},
		{"a*a", "a", false},
		{"a*a", "aa", true},
		{"*b*b*", "abab", true},
		{"*b*b*", "ab", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"|"+tt.s, func(t *testing.T) {
			if got := Match(tt.pattern, tt.s); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

func TestCheckPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, pattern, wantErr string
	}{
		{"ok", "kv*", ""},
		{"empty", "", "empty"},
		{"long", strings.Repeat("a", MaxPatternLen+1), "longer"},
		{"stars", strings.Repeat("*a", maxStars+1), "wildcards"},
		{"control", "kv\n", "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPattern(tt.pattern)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("CheckPattern(%q) = %v, want error containing %q", tt.pattern, err, tt.wantErr)
			}
		})
	}
}

// matchSlow is a reference glob matcher (backtracking), for the fuzz test.
func matchSlow(p, s string) bool {
	if p == "" {
		return s == ""
	}
	if p[0] == '*' {
		for i := 0; i <= len(s); i++ {
			if matchSlow(p[1:], s[i:]) {
				return true
			}
		}
		return false
	}
	return s != "" && s[0] == p[0] && matchSlow(p[1:], s[1:])
}

func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{{"kv*", "kv-v2/data-write"}, {"*b*b*", "abab"}, {"a*a", "a"}, {"*", ""}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if CheckPattern(p) != nil || len(s) > 64 || len(p) > 24 {
			return
		}
		if got, want := Match(p, s), matchSlow(p, s); got != want {
			t.Errorf("Match(%q, %q) = %v, want %v", p, s, got, want)
		}
	})
}

func TestFilter(t *testing.T) {
	t.Parallel()
	write := &Event{Type: "kv-v2/data-write", Metadata: map[string]string{"path": "secret/data/app/db", "data_path": "secret/data/app/db"}}
	policy := &Event{Type: "policy/changed", Metadata: map[string]string{"name": "dev"}}
	tests := []struct {
		name string
		f    Filter
		e    *Event
		want bool
	}{
		{"all", Filter{Type: "*"}, write, true},
		{"type", Filter{Type: "kv*"}, policy, false},
		{"path", Filter{Type: "*", Path: "secret/data/app/*"}, write, true},
		{"path other", Filter{Type: "*", Path: "secret/data/web/*"}, write, false},
		{"path needs a path", Filter{Type: "*", Path: "*"}, policy, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Matches(tt.e); got != tt.want {
				t.Errorf("%+v.Matches(%s) = %v, want %v", tt.f, tt.e.Type, got, tt.want)
			}
		})
	}
}

func TestEventJSON(t *testing.T) {
	t.Parallel()
	e := &Event{
		ID: "6f0a1a48-8a51-4c4b-9b35-4a4a7c0f6c11", Type: "kv-v2/data-write",
		Time:     time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		Metadata: map[string]string{"path": "secret/data/a", "data_path": "secret/data/a", "current_version": "2"},
		Plugin:   PluginInfo{MountClass: "secret", MountAccessor: "kv_123", MountPath: "secret/", Plugin: "kv"},
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id": e.ID, "source": Source, "specversion": "1.0", "type": "kv-v2/data-write",
		"datacontentype": "application/cloudevents", "time": "2026-12-07T10:00:00Z",
		"data": map[string]any{
			"event":      map[string]any{"id": e.ID, "metadata": map[string]any{"path": "secret/data/a", "data_path": "secret/data/a", "current_version": "2"}},
			"event_type": "kv-v2/data-write",
			"plugin_info": map[string]any{
				"mount_class": "secret", "mount_accessor": "kv_123", "mount_path": "secret/", "plugin": "kv",
			},
		},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("event JSON (-want +got):\n%s", d)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(*e, back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}

func TestBusFanOut(t *testing.T) {
	t.Parallel()
	var hooked []string
	b := New(Options{Hooks: []func(*Event){func(e *Event) { hooked = append(hooked, e.Type) }}})
	all, _ := b.Subscribe(Filter{Type: "*"})
	kv, _ := b.Subscribe(Filter{Type: "kv*"})
	app, _ := b.Subscribe(Filter{Type: "*", Path: "secret/data/app/*"})
	b.Send("kv-v2/data-write", map[string]string{"data_path": "secret/data/app/x"}, PluginInfo{})
	b.Send("kv-v2/data-write", map[string]string{"data_path": "secret/data/web/x"}, PluginInfo{})
	b.Send("policy/changed", map[string]string{"name": "p"}, PluginInfo{})
	tests := []struct {
		name string
		s    *Subscription
		want []string
	}{
		{"all", all, []string{"secret/data/app/x", "secret/data/web/x", ""}},
		{"kv", kv, []string{"secret/data/app/x", "secret/data/web/x"}},
		{"app", app, []string{"secret/data/app/x"}},
	}
	for _, tt := range tests {
		var got []string
		for len(tt.s.C()) > 0 {
			got = append(got, (<-tt.s.C()).DataPath())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s got %q, want %q", tt.name, got, tt.want)
		}
	}
	if want := []string{"kv-v2/data-write", "kv-v2/data-write", "policy/changed"}; !slices.Equal(hooked, want) {
		t.Errorf("hooks got %q, want %q", hooked, want)
	}
}

func TestBusSlowSubscriberDropped(t *testing.T) {
	t.Parallel()
	b := New(Options{Buffer: 2})
	slow, _ := b.Subscribe(Filter{Type: "*"})
	fast, _ := b.Subscribe(Filter{Type: "*"})
	for i := range 5 {
		b.Send("t", nil, PluginInfo{})
		<-fast.C()
		_ = i
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber still live after overflowing its buffer")
	}
	if !errors.Is(slow.Err(), ErrSlow) {
		t.Errorf("slow.Err() = %v, want ErrSlow", slow.Err())
	}
	if fast.Err() != nil || b.Len() != 1 || b.Dropped() != 1 {
		t.Errorf("fast.Err() = %v, Len() = %d, Dropped() = %d; want nil, 1, 1", fast.Err(), b.Len(), b.Dropped())
	}
}

func TestBusLimitsAndClose(t *testing.T) {
	t.Parallel()
	b := New(Options{MaxSubscribers: 2})
	s1, err := b.Subscribe(Filter{Type: "*"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(Filter{Type: ""}); err == nil {
		t.Error("Subscribe with an empty type succeeded")
	}
	if _, err := b.Subscribe(Filter{Type: "*"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(Filter{Type: "*"}); !errors.Is(err, ErrTooMany) {
		t.Errorf("third Subscribe = %v, want ErrTooMany", err)
	}
	s1.Close()
	s1.Close()
	if !errors.Is(s1.Err(), ErrClosed) || b.Len() != 1 {
		t.Errorf("after Close: Err() = %v, Len() = %d", s1.Err(), b.Len())
	}
	b.Close()
	if b.Len() != 0 {
		t.Errorf("after Bus.Close: Len() = %d", b.Len())
	}
}

func TestBusConcurrent(t *testing.T) {
	t.Parallel()
	b := New(Options{Buffer: 1000})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				s, err := b.Subscribe(Filter{Type: "*"})
				if err != nil {
					t.Error(err)
					return
				}
				s.Close()
			}
		})
		wg.Go(func() {
			for range 100 {
				b.Send("t", nil, PluginInfo{})
			}
		})
	}
	wg.Wait()
}

// BenchmarkFanOut publishes one event at a time to n subscribers, each
// read by its own goroutine, and waits until every subscriber has it. It
// reports the latency from publish to each receipt (p50, p99) and to the
// last receipt of each event (p99-all), the figures in
// docs/performance.md.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			bus := New(Options{Buffer: 16, MaxSubscribers: n})
			var (
				mu       sync.Mutex
				lat      []time.Duration
				received atomic.Int64
				all      = make(chan struct{}, 1)
				wg       sync.WaitGroup
			)
			for range n {
				s, err := bus.Subscribe(Filter{Type: "kv*"})
				if err != nil {
					b.Fatal(err)
				}
				wg.Go(func() {
					var local []time.Duration
					for {
						select {
						case e := <-s.C():
							local = append(local, time.Since(e.Time))
							if received.Add(1)%int64(n) == 0 {
								all <- struct{}{}
							}
						case <-s.Done():
							mu.Lock()
							lat = append(lat, local...)
							mu.Unlock()
							return
						}
					}
				})
			}
			md := map[string]string{"data_path": "secret/data/app/db"}
			last := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				e := bus.Send("kv-v2/data-write", md, PluginInfo{})
				<-all
				last = append(last, time.Since(e.Time))
			}
			b.StopTimer()
			if bus.Len() != n {
				b.Fatalf("a subscriber was dropped (%d left)", bus.Len())
			}
			bus.Close()
			wg.Wait()
			p := func(d []time.Duration, q int) float64 {
				slices.Sort(d)
				return float64(d[len(d)*q/100].Microseconds())
			}
			b.ReportMetric(p(lat, 50), "p50-µs")
			b.ReportMetric(p(lat, 99), "p99-µs")
			b.ReportMetric(p(last, 99), "p99-all-µs")
		})
	}
}

// FuzzEventJSON decodes arbitrary bytes as an event (a standby decodes
// what the active node sends): no panic, and whatever decodes encodes and
// decodes again to the same event.
func FuzzEventJSON(f *testing.F) {
	f.Add([]byte(`{"id":"x","type":"kv-v2/data-write","data":{"event":{"id":"x","metadata":{"path":"secret/data/a"}},"event_type":"kv-v2/data-write","plugin_info":{"mount_path":"secret/"}},"time":"2026-12-07T10:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"time":"nope"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return
		}
		out, err := json.Marshal(&e)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", e, err)
		}
		var back Event
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", out, err)
		}
		if e.Metadata == nil {
			e.Metadata = map[string]string{}
		}
		if d := cmp.Diff(e, back); d != "" {
			t.Errorf("round trip (-first +second):\n%s", d)
		}
	})
}

// TestBusPerOwnerLimit: an owner holds at most MaxPerOwner subscriptions;
// other owners and ownerless subscriptions are not counted against it,
// and a closed one frees its place.
func TestBusPerOwnerLimit(t *testing.T) {
	t.Parallel()
	b := New(Options{MaxPerOwner: 2, MaxSubscribers: 10})
	steps := []struct {
		owner string
		want  error
	}{
		{"a", nil}, {"a", nil}, {"a", ErrTooManyForOwner}, {"b", nil}, {"", nil}, {"", nil}, {"", nil}, {"b", nil}, {"b", ErrTooManyForOwner},
	}
	var first *Subscription
	for i, st := range steps {
		s, err := b.SubscribeAs(st.owner, Filter{Type: "*"})
		if !errors.Is(err, st.want) {
			t.Fatalf("step %d (%q): err %v, want %v", i, st.owner, err, st.want)
		}
		if i == 0 {
			first = s
		}
	}
	first.Close()
	if _, err := b.SubscribeAs("a", Filter{Type: "*"}); err != nil {
		t.Errorf("after a close: %v", err)
	}
}
