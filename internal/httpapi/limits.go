package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Defaults for reading request bodies.
const (
	// DefaultBodyBudget is the server-wide budget of buffered request body
	// bytes when none is configured: 128 MiB, four bodies at the default
	// max_request_size.
	DefaultBodyBudget = 128 << 20
	// DefaultBodyGrace is how long a body may take before
	// DefaultBodyMinRate applies.
	DefaultBodyGrace = 10 * time.Second
	// DefaultBodyMinRate is the average rate, in bytes per second, a body
	// must keep after the grace period.
	DefaultBodyMinRate = 1024
)

// errBusy is the kind of a request refused because the server holds as
// many request bodies as its budget allows; it answers 503 with
// Retry-After.
var errBusy = errors.New("server busy")

// errSlowBody is the kind of a request whose body came too slowly; it
// answers 408.
var errSlowBody = errors.New("request body too slow")

// Budget bounds the bytes of request bodies buffered at once across every
// listener of a server, so that many concurrent large bodies cannot
// exhaust memory. It is safe for concurrent use.
type Budget struct {
	mu   sync.Mutex
	left int64 // guarded by mu
}

// NewBudget returns a budget of n bytes; n <= 0 means DefaultBodyBudget.
func NewBudget(n int64) *Budget {
	if n <= 0 {
		n = DefaultBodyBudget
	}
	return &Budget{left: n}
}

// take reserves n bytes and reports whether they were available.
func (b *Budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

// give returns n bytes taken earlier.
func (b *Budget) give(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

// budgetChunk is how much of the budget a body of unknown length takes at
// a time.
const budgetChunk = 64 << 10

// bodyReader reads a request body into memory within the handler's size
// limit, its share of the budget, and its minimum rate.
type bodyReader struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	taken int64 // budget bytes held; released by release
}

// release gives the body's budget back; the body must no longer be used.
func (br *bodyReader) release() {
	if br.taken > 0 {
		br.h.budget.give(br.taken)
		br.taken = 0
	}
}

// reserve grows the body's budget share to at least n bytes.
func (br *bodyReader) reserve(n int64) error {
	if n <= br.taken {
		return nil
	}
	more := n - br.taken
	if !br.h.budget.take(more) {
		return &busyError{}
	}
	br.taken += more
	return nil
}

// busyError answers a request refused for want of body budget.
type busyError struct{}

func (*busyError) Error() string {
	return "server busy: too many request bodies in progress; retry later"
}
func (*busyError) Unwrap() error { return errBusy }

// slowError answers a body that came too slowly.
type slowError struct{}

func (*slowError) Error() string {
	return "request body too slow: the body must arrive at a steady rate"
}
func (*slowError) Unwrap() error { return errSlowBody }

// read reads the whole body. The connection's read deadline follows the
// minimum rate: after the grace period, the body must average at least
// minRate bytes per second since it began, or the read fails. The
// deadline is cleared once the body is read, so that it cannot cut a long
// request short.
func (br *bodyReader) read() ([]byte, error) {
	h, r := br.h, br.r
	rc := http.NewResponseController(br.w)
	start := time.Now()
	deadline := func(n int64) time.Time {
		return start.Add(h.bodyGrace + time.Duration(n)*time.Second/time.Duration(h.bodyMinRate))
	}
	// A deadline the connection cannot take (an HTTP/2 stream, a test
	// recorder) leaves the body without a rate limit; the size limit
	// and the budget still hold.
	timed := rc.SetReadDeadline(deadline(0)) == nil
	// The body is read straight into buf, sized by Content-Length when the
	// client sends one (one allocation of the body's size), with one byte
	// spare to see the end. A read buffer of its own cost 32 KiB a
	// request, half of all the bytes a login allocated. The budget covers
	// buf's capacity, the memory the body holds.
	var buf []byte
	if n := r.ContentLength; n > 0 {
		if err := br.reserve(n + 1); err != nil {
			// Not waited for either: net/http reads at most a little of
			// the refused body, within the deadline just set.
			return nil, err
		}
		buf = make([]byte, 0, n+1)
	}
	body := http.MaxBytesReader(br.w, r.Body, h.maxBody)
	for {
		if timed {
			rc.SetReadDeadline(deadline(int64(len(buf))))
		}
		if len(buf) == cap(buf) {
			// Unknown length: grow (geometrically, as append does). The
			// old array may hold part of a secret: cleared.
			grown := slices.Grow(buf, min(max(512, len(buf)), 32<<10))
			clear(buf)
			buf = grown
		}
		if need := int64(cap(buf)); need > br.taken {
			// Take the budget a chunk ahead.
			if err := br.reserve(need + budgetChunk); err != nil {
				clear(buf)
				return nil, err
			}
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if timed {
				rc.SetReadDeadline(time.Time{})
			}
			return buf, nil
		}
		if err != nil {
			// The deadline stays: the rest of a refused body is not
			// waited for.
			clear(buf)
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return nil, bodyTooLarge()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, &slowError{}
			}
			return nil, logical.InvalidRequest("could not read the request body")
		}
	}
}

// ReadRawBody reads r's body as sent, within this listener's limits
// (max_request_size, the body budget, the minimum rate), for another wire
// API served on the same listener (internal/awsapi). The caller calls
// release once the body is no longer used (also after an error). A body
// over the size limit is an error of kind logical.ErrTooLarge.
func (h *Handler) ReadRawBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, func() {}, nil
	}
	if r.ContentLength > h.maxBody {
		return nil, func() {}, bodyTooLarge()
	}
	br := &bodyReader{h: h, w: w, r: r}
	body, err = br.read()
	if err != nil {
		br.release()
		return nil, func() {}, err
	}
	return body, br.release, nil
}
