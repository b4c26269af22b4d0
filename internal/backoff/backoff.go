// Package backoff is the one exponential backoff for retry loops: the
// agent's logins and refreshes, the transit seal's token renewal,
// auto-unseal and the server's first connection to PostgreSQL.
//
// It imports only the standard library.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff hands out the waits between retries: Min first, then twice the
// previous wait each time, never more than Max. With Jitter each wait is
// instead drawn uniformly from [d/2, d], where d is that doubling sequence,
// so that many clients failing together do not retry together. The zero
// value waits 0 every time; set Min and Max. A Backoff is not safe for
// concurrent use.
type Backoff struct {
	Min, Max time.Duration
	Jitter   bool

	cur time.Duration // the last wait before jitter; 0 before the first
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(b.cur*2, b.Max)
	}
	if !b.Jitter {
		return b.cur
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

// Reset starts the sequence again from Min, after a success.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d, or until done is closed (pass ctx.Done()); it reports
// whether the whole wait passed.
func Sleep(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}
