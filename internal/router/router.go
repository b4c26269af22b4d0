// Package router finds the mount that serves a request path, by longest
// prefix, and gives each mount a storage view confined to its own prefix.
//
// The router holds no secrets and does no I/O; it is safe for concurrent
// use. It imports only logical and storage.
package router

import (
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Route is one mounted backend.
type Route struct {
	// Path is the mount point with a trailing slash, e.g. "secret/".
	Path string
	// Type is the backend type, e.g. "kv".
	Type string
	// Accessor names the mount in audit logs and token metadata.
	Accessor string
	// Backend serves the mount's requests.
	Backend logical.Backend
	// AuditNonHMACRequestKeys and AuditNonHMACResponseKeys are the
	// mount's top-level request body and response data keys that audit
	// entries show in clear. A route is never changed once mounted: a
	// new list means a new route.
	AuditNonHMACRequestKeys, AuditNonHMACResponseKeys []string
}

// Router maps mount points to routes.
type Router struct {
	mu     sync.RWMutex
	routes map[string]*Route // guarded by mu; key is Route.Path
}

// New returns an empty router.
func New() *Router {
	return &Router{routes: make(map[string]*Route)}
}

// Mount adds r. It reports false, changing nothing, when r.Path is already
// mounted.
func (rt *Router) Mount(r *Route) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if _, ok := rt.routes[r.Path]; ok {
		return false
	}
	rt.routes[r.Path] = r
	return true
}

// Unmount removes the route at path and returns it, or nil.
func (rt *Router) Unmount(path string) *Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	r := rt.routes[path]
	delete(rt.routes, path)
	return r
}

// Reset removes every route and returns them.
func (rt *Router) Reset() []*Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]*Route, 0, len(rt.routes))
	for _, r := range rt.routes {
		out = append(out, r)
	}
	rt.routes = make(map[string]*Route)
	return out
}

// Match returns the route with the longest mount point that is a prefix of
// path, and path relative to it. The mount point must end at a segment
// boundary: "secret/" matches "secret/foo" and "secret", not "secretx".
func (rt *Router) Match(path string) (*Route, string, bool) {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	// A request for the mount itself ("secret") names "secret/".
	if r, ok := rt.routes[path+"/"]; ok && !strings.HasSuffix(path, "/") {
		return r, "", true
	}
	for end := len(path); end > 0; {
		i := strings.LastIndexByte(path[:end], '/')
		if i < 0 {
			break
		}
		if r, ok := rt.routes[path[:i+1]]; ok {
			return r, path[i+1:], true
		}
		end = i
	}
	return nil, "", false
}

// Conflict returns the mount point that overlaps path (one is a prefix of
// the other), or "".
func (rt *Router) Conflict(path string) string {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	for p := range rt.routes {
		if strings.HasPrefix(p, path) || strings.HasPrefix(path, p) {
			return p
		}
	}
	return ""
}

// Routes returns the mounted routes, in no particular order.
func (rt *Router) Routes() []*Route {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	out := make([]*Route, 0, len(rt.routes))
	for _, r := range rt.routes {
		out = append(out, r)
	}
	return out
}
