package httpapi

import (
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
)

// InFlight is the registry of requests being served, for
// sys/in-flight-req: the server makes one, gives it to every listener's
// [Handler] ([Options].InFlight) and its Snapshot to the core. It holds
// the method, path and client address of each request, never a header,
// query or body. It is safe for concurrent use.
type InFlight struct {
	mu   sync.Mutex
	reqs map[string]core.InFlightRequest // guarded by mu; by request ID
}

// NewInFlight returns an empty registry.
func NewInFlight() *InFlight {
	return &InFlight{reqs: make(map[string]core.InFlightRequest)}
}

// add records r under id, showing path (already redacted) as its path,
// and returns the function that forgets it.
func (f *InFlight) add(id string, r *http.Request, path string) func() {
	e := core.InFlightRequest{
		StartTime:           time.Now(),
		ClientRemoteAddress: r.RemoteAddr,
		RequestPath:         path,
		RequestMethod:       r.Method,
	}
	f.mu.Lock()
	f.reqs[id] = e
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		delete(f.reqs, id)
		f.mu.Unlock()
	}
}

// Snapshot returns a copy of the requests being served, by request ID.
func (f *InFlight) Snapshot() map[string]core.InFlightRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.reqs)
}
