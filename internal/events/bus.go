package events

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/uuid"
)

// Defaults of [Options].
const (
	DefaultBuffer         = 256
	DefaultMaxSubscribers = 1024
	DefaultMaxPerOwner    = 8
)

// ErrSlow ends a subscription whose reader fell a whole buffer behind.
var ErrSlow = errors.New("subscriber too slow: its event buffer filled up")

// ErrTooMany refuses a subscription when the bus has its maximum.
var ErrTooMany = errors.New("too many event subscribers")

// ErrTooManyForOwner refuses a subscription when its owner (a token) has
// its maximum already.
var ErrTooManyForOwner = errors.New("too many event streams for this token: close one of its streams first")

// ErrClosed ends a subscription closed by its owner or by [Bus.Close].
var ErrClosed = errors.New("subscription closed")

// Options configures a [Bus].
type Options struct {
	// Buffer is each subscriber's buffer, in events; 0 means DefaultBuffer.
	Buffer int
	// MaxSubscribers bounds the live subscriptions; 0 means
	// DefaultMaxSubscribers.
	MaxSubscribers int
	// MaxPerOwner bounds the live subscriptions of one owner (see
	// [Bus.SubscribeAs]), so that one token cannot take every slot; 0
	// means DefaultMaxPerOwner.
	MaxPerOwner int
	// Now tells the time of published events; nil means time.Now.
	Now func() time.Time
	// Hooks are called with every published event, in order, after the
	// subscribers got it (cluster fan-out, webhook outboxes). They must not
	// block for long.
	Hooks []func(*Event)
}

// Bus fans events out to subscribers. The zero value is not usable; call
// [New].
type Bus struct {
	opts Options
	mu   sync.Mutex // serializes changes to subs
	// subs is the current subscriber list, replaced (never changed) under
	// mu, so Publish reads it without a lock.
	subs    atomic.Pointer[[]*Subscription]
	dropped atomic.Uint64
}

// New returns an empty bus.
func New(opts Options) *Bus {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.MaxSubscribers <= 0 {
		opts.MaxSubscribers = DefaultMaxSubscribers
	}
	if opts.MaxPerOwner <= 0 {
		opts.MaxPerOwner = DefaultMaxPerOwner
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Bus{opts: opts}
	b.subs.Store(&[]*Subscription{})
	return b
}

// Send builds an event of type typ with a fresh ID and the current time,
// publishes it and returns it. metadata is copied.
func (b *Bus) Send(typ string, metadata map[string]string, plugin PluginInfo) *Event {
	e := &Event{ID: uuid.New(), Type: typ, Time: b.opts.Now().UTC(), Metadata: maps.Clone(metadata), Plugin: plugin}
	b.Publish(e)
	return e
}

// Publish hands e to every subscriber whose filter matches, then to the
// hooks. It never blocks on a subscriber: one whose buffer is full is
// dropped with [ErrSlow].
func (b *Bus) Publish(e *Event) {
	b.Deliver(e)
	for _, h := range b.opts.Hooks {
		h(e)
	}
}

// Deliver hands e to the local subscribers only, without the hooks: for
// events that came from another node.
func (b *Bus) Deliver(e *Event) {
	for _, s := range *b.subs.Load() {
		if !s.filter.Matches(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			if b.remove(s, ErrSlow) {
				b.dropped.Add(1)
			}
		}
	}
}

// Dropped counts the subscribers dropped for being slow.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Len returns the number of live subscriptions.
func (b *Bus) Len() int { return len(*b.subs.Load()) }

// Subscribe adds a subscriber to events f selects. It fails with an error
// saying what to fix for a bad filter, or [ErrTooMany].
func (b *Bus) Subscribe(f Filter) (*Subscription, error) { return b.SubscribeAs("", f) }

// SubscribeAs is [Bus.Subscribe] for owner (an opaque key such as a token
// hash; "" is nobody): it fails with [ErrTooManyForOwner] when owner has
// Options.MaxPerOwner live subscriptions already.
func (b *Bus) SubscribeAs(owner string, f Filter) (*Subscription, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	s := &Subscription{bus: b, owner: owner, filter: f, ch: make(chan *Event, b.opts.Buffer), done: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.subs.Load()
	if owner != "" {
		n := 0
		for _, o := range old {
			if o.owner == owner {
				n++
			}
		}
		if n >= b.opts.MaxPerOwner {
			return nil, ErrTooManyForOwner
		}
	}
	if len(old) >= b.opts.MaxSubscribers {
		return nil, ErrTooMany
	}
	next := append(slices.Clip(old), s)
	b.subs.Store(&next)
	return s, nil
}

// Close ends every subscription with [ErrClosed].
func (b *Bus) Close() {
	b.mu.Lock()
	old := *b.subs.Load()
	b.subs.Store(&[]*Subscription{})
	b.mu.Unlock()
	for _, s := range old {
		s.end(ErrClosed)
	}
}

// remove takes s off the bus and ends it with err; it reports whether s
// was still on the bus.
func (b *Bus) remove(s *Subscription, err error) bool {
	b.mu.Lock()
	old := *b.subs.Load()
	i := slices.Index(old, s)
	if i >= 0 {
		next := slices.Delete(slices.Clone(old), i, i+1)
		b.subs.Store(&next)
	}
	b.mu.Unlock()
	s.end(err)
	return i >= 0
}

// Subscription is one subscriber's stream of events. Read [Subscription.C]
// until [Subscription.Done] is closed; then [Subscription.Err] says why.
type Subscription struct {
	bus    *Bus
	owner  string // "" for none
	filter Filter
	ch     chan *Event
	done   chan struct{}
	once   sync.Once
	err    error // set once, before done is closed
}

// C is the subscription's events, in publication order. It is never
// closed; select on it with [Subscription.Done].
func (s *Subscription) C() <-chan *Event { return s.ch }

// Done is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended ([ErrSlow], [ErrClosed]); nil while
// it is live.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Filter returns the subscription's filter.
func (s *Subscription) Filter() Filter { return s.filter }

// Close ends the subscription with [ErrClosed]; it is safe to call more
// than once.
func (s *Subscription) Close() { s.bus.remove(s, ErrClosed) }

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}
