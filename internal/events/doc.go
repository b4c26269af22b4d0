// Package events is Coffer's event bus: the change notices that backends
// and core publish (kv-v2/data-write, policy/changed, lease/revoked ...),
// their wire shape (Vault's CloudEvents envelope), glob filters on event
// type and path, and subscribers with bounded buffers.
//
// The bus is pure: it does no I/O, checks no ACL and knows nothing of
// HTTP. Core publishes into it and decides what a subscriber may see; the
// HTTP layer streams a subscription over a WebSocket; package webhook
// delivers to HTTP endpoints.
//
// # Concurrency
//
// A [Bus] is safe for concurrent use. [Bus.Publish] never blocks: each
// matching subscriber gets the event in its buffer, and a subscriber whose
// buffer is full is dropped ([ErrSlow]), so one slow reader costs at most
// its buffer of memory and never delays the publisher or the others.
//
// It imports only the standard library and the uuid leaf.
package events
