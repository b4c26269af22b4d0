package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// metaCacheSize bounds the decoded metadata kept by one mount: about
// 3 KiB a key with ten versions (the stored JSON and the decoded copy).
const metaCacheSize = 1024

// metaCache keeps the last decoded metadata of recently used keys, so
// that a read or a write of a key does not decode the JSON of every
// retained version each time (a third of a read's server CPU at ten
// versions). An entry is used only when the stored bytes, read from
// storage on every call, are exactly those it was decoded from: the
// cache never answers for storage, it only skips the decoding, so writes
// by other code paths or other nodes cannot make it stale. Callers get a
// copy they may change.
type metaCache struct {
	mu      sync.Mutex
	entries map[string]*cachedMeta // guarded by mu
}

// cachedMeta is the metadata decoded from raw.
type cachedMeta struct {
	raw  []byte
	meta *keyMeta
}

// load returns the metadata of p, or nil when p has none.
func (c *metaCache) load(ctx context.Context, s logical.Storage, p string) (*keyMeta, error) {
	key := metaKey(p)
	e, err := s.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if e == nil {
		return nil, nil
	}
	c.mu.Lock()
	ce := c.entries[p]
	c.mu.Unlock()
	if ce != nil && bytes.Equal(ce.raw, e.Value) {
		return ce.meta.clone(), nil
	}
	m := new(keyMeta)
	if err := json.Unmarshal(e.Value, m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	c.put(p, bytes.Clone(e.Value), m.clone())
	return m, nil
}

// put remembers that raw, the stored metadata of p, decodes to m. The
// cache keeps both: the caller must not change them afterwards.
func (c *metaCache) put(p string, raw []byte, m *keyMeta) {
	ce := &cachedMeta{raw: raw, meta: m}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = make(map[string]*cachedMeta)
	}
	if _, ok := c.entries[p]; !ok && len(c.entries) >= metaCacheSize {
		for k := range c.entries { // an arbitrary entry makes room
			delete(c.entries, k)
			break
		}
	}
	c.entries[p] = ce
	c.mu.Unlock()
}

// clone returns a copy of m that shares nothing mutable with it. Every
// field of keyMeta that holds a reference (slice, map, pointer) must be
// copied here; TestKeyMetaClone fails when a field is added without
// being looked at.
func (m *keyMeta) clone() *keyMeta {
	c := *m
	c.Versions = slices.Clone(m.Versions)
	c.CustomMetadata = maps.Clone(m.CustomMetadata)
	if m.RecoveryWindowDays != nil {
		d := *m.RecoveryWindowDays
		c.RecoveryWindowDays = &d
	}
	return &c
}
