package kv

import (
	"container/heap"
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// scheduler runs due rotations of one mount on the active node. It keeps
// the next due time of every secret with a policy in memory (a min-heap
// and a map), loaded from storage when it starts and updated by every
// policy write and rotation, and sleeps on one timer until the earliest:
// at idle it costs nothing per secret.
//
// The stored next-due time is the truth; the heap is a cache of it. An
// entry popped from the heap is checked against storage before anything
// runs, so a stale entry only costs a read.
type scheduler struct {
	mu       sync.Mutex
	due      map[string]int64 // guarded by mu; path -> next due (Unix ns)
	queue    dueHeap          // guarded by mu; may hold stale entries
	inflight map[string]bool  // guarded by mu; paths being rotated
	wake     chan struct{}    // a send asks the loop to look at the queue again
	closing  atomic.Bool      // set by Cleanup: cut-short rotations are not failures

	cancel context.CancelFunc // set by start; nil when not running
	done   chan struct{}
}

func newScheduler() *scheduler {
	return &scheduler{due: map[string]int64{}, inflight: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// dueOf is p's next due time (Unix ns), 0 when none is scheduled here.
func (s *scheduler) dueOf(p string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.due[p]
}

// set records p's next due time.
func (s *scheduler) set(p string, at int64) {
	s.mu.Lock()
	s.due[p] = at
	heap.Push(&s.queue, dueItem{path: p, at: at})
	if len(s.queue) > 2*len(s.due)+1024 {
		s.compactLocked()
	}
	s.mu.Unlock()
	s.poke()
}

// compactLocked rebuilds the heap from the map, dropping the stale
// entries that repeated changes of far-off due times leave behind, so
// that the heap stays proportional to the number of policies.
func (s *scheduler) compactLocked() {
	q := make(dueHeap, 0, len(s.due))
	for p, at := range s.due {
		q = append(q, dueItem{path: p, at: at})
	}
	heap.Init(&q)
	s.queue = q
}

// remove forgets p.
func (s *scheduler) remove(p string) {
	s.mu.Lock()
	delete(s.due, p)
	s.mu.Unlock()
}

func (s *scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// begin marks p as being rotated; false when it already is.
func (s *scheduler) begin(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[p] {
		return false
	}
	s.inflight[p] = true
	return true
}

func (s *scheduler) end(p string) {
	s.mu.Lock()
	delete(s.inflight, p)
	s.mu.Unlock()
}

// next pops the due entries at or before now, dropping stale ones, and
// returns them with the time of the earliest entry left (0: none).
func (s *scheduler) next(now int64) (due []string, earliest int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.queue.Len() > 0 {
		it := s.queue[0]
		if at, ok := s.due[it.path]; !ok || at != it.at {
			heap.Pop(&s.queue) // stale
			continue
		}
		if it.at > now {
			return due, it.at
		}
		heap.Pop(&s.queue)
		delete(s.due, it.path)
		due = append(due, it.path)
	}
	return due, 0
}

// Initialize implements [logical.Initializer]: on the active node (not
// a standby) it loads every policy's next due time (one read each, before
// the mount serves requests, so that nothing races the load) and starts
// the rotation scheduler, which Cleanup stops. A storage failure while
// loading is logged; the policies not loaded run once written again.
func (b *backendV2) Initialize(ctx context.Context) error {
	if b.rot.standby {
		return nil
	}
	if err := b.loadSchedule(ctx, ""); err != nil {
		b.rot.logger.Error("load rotation schedules; rotations will run only after their policies are written again", "err", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.sched.cancel, b.sched.done = cancel, make(chan struct{})
	go func() {
		defer close(b.sched.done)
		b.runScheduler(ctx)
	}()
	return nil
}

// stopScheduler stops the rotation scheduler and waits for it. A
// rotation cut short stays pending and is completed by the next active
// node.
func (b *backendV2) stopScheduler() {
	b.sched.closing.Store(true)
	if b.sched.cancel != nil {
		b.sched.cancel()
		<-b.sched.done
	}
}

// runScheduler rotates each secret when it is due until ctx ends, up to
// rotationWorkers at a time (a slow rotator delays only its own secret
// and, when all workers wait on one, the others), and waits for the
// rotations it started before it returns.
func (b *backendV2) runScheduler(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sem := make(chan struct{}, rotationWorkers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		due, earliest := b.sched.next(b.clock.Now().UnixNano())
		for _, p := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				b.runDue(ctx, p)
			})
		}
		if len(due) > 0 {
			continue // rotations took time; look again
		}
		wait := time.Hour
		if earliest != 0 {
			wait = min(wait, max(time.Duration(earliest-b.clock.Now().UnixNano()), 0))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-b.sched.wake:
		case <-timer.C:
		}
	}
}

// loadSchedule walks rot/<prefix> and records every next due time.
func (b *backendV2) loadSchedule(ctx context.Context, prefix string) error {
	keys, err := b.storage.List(ctx, rotPrefix+prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p := prefix + k
		if strings.HasSuffix(k, "/") {
			if err := b.loadSchedule(ctx, p); err != nil {
				return err
			}
			continue
		}
		e, err := loadRotation(ctx, b.storage, p)
		if err != nil {
			b.rot.logger.Error("read a rotation policy", "path", p, "err", err)
			continue
		}
		if e == nil {
			continue
		}
		at := e.NextDue
		if e.Pending != 0 {
			at = 0 // complete an interrupted rotation at once
		}
		b.sched.set(p, at)
	}
	return nil
}

// runDue rotates p if it is still due by its stored state.
func (b *backendV2) runDue(ctx context.Context, p string) {
	e, err := loadRotation(ctx, b.storage, p)
	if err != nil || e == nil {
		if err != nil && ctx.Err() == nil {
			b.rot.logger.Error("read a rotation policy", "path", p, "err", err)
			b.sched.set(p, b.clock.Now().Add(retryMin).UnixNano())
		}
		return
	}
	now := b.clock.Now().UnixNano()
	if e.Pending == 0 && e.NextDue > now {
		b.sched.set(p, e.NextDue) // rescheduled meanwhile
		return
	}
	rctx, cancel := context.WithTimeout(ctx, rotationTimeout)
	defer cancel()
	if _, _, err := b.rotate(rctx, p, nil); err != nil && ctx.Err() == nil {
		// Rotator failures were recorded (with their retry); anything
		// else (storage, a policy that cannot generate) is retried too.
		b.sched.mu.Lock()
		_, scheduled := b.sched.due[p]
		b.sched.mu.Unlock()
		if !scheduled {
			b.sched.set(p, b.clock.Now().Add(retryMax).UnixNano())
		}
		b.rot.logger.Debug("scheduled rotation did not complete", "path", p, "err", err)
	}
}

// rotationWorkers is how many scheduled rotations of one mount run at
// once.
const rotationWorkers = 4

// dueItem is one heap entry.
type dueItem struct {
	path string
	at   int64
}

// dueHeap orders entries by due time.
type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
