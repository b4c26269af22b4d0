package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// dataInput is the body of data/ writes and patches.
type dataInput struct {
	Data    json.RawMessage `json:"data"`
	Options dataOptions     `json:"options"`
}

// dataResponse is the data of a data/ read. Data is the stored JSON
// object, or null for a deleted or destroyed version.
type dataResponse struct {
	Data     json.RawMessage `json:"data"`
	Metadata versionResponse `json:"metadata"`
}

// effectiveMaxVersions is the key's max_versions, else the mount's, else
// Vault's default of 10.
func effectiveMaxVersions(c *mountConfig, m *keyMeta) int {
	switch {
	case m.MaxVersions > 0:
		return m.MaxVersions
	case c.MaxVersions > 0:
		return c.MaxVersions
	}
	return defaultMaxVersions
}

// effectiveDeleteAfter is the key's delete_version_after, capped by the
// mount's when that is set (a key may not keep versions longer than its
// mount allows).
func effectiveDeleteAfter(c *mountConfig, m *keyMeta) time.Duration {
	d := m.DeleteVersionAfter
	if c.DeleteVersionAfter > 0 && (d == 0 || d > c.DeleteVersionAfter) {
		d = c.DeleteVersionAfter
	}
	return d
}

// checkCAS enforces check-and-set. cas is the client's expected current
// version (0: the key must not have any version yet, staged or current).
func checkCAS(c *mountConfig, m *keyMeta, cas *framework.Int) error {
	if cas == nil {
		if c.CASRequired || (m != nil && m.CASRequired) {
			return logical.InvalidRequest("check-and-set parameter required for this call")
		}
		return nil
	}
	current := 0
	if m != nil {
		current = m.Current
	}
	// cas 0 asks for a new key: one that holds only staged or pending
	// versions (current 0) is not.
	if int64(*cas) != int64(current) || (*cas == 0 && m != nil && m.nextVersion() > 1) {
		return &logical.Error{Kind: logical.ErrConflict, Msg: "check-and-set parameter did not match the current version"}
	}
	return nil
}

// readData answers data/<path>[?version=N]. Nothing there is (nil, nil),
// which core answers with 404; a deleted or destroyed version is a 404
// that still carries the version's metadata and data null. The latest
// version costs two storage reads. A read with a value marks the key's
// last read, on the active node only.
func (b *backendV2) readData(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p, want, err := versionQuery(req, m)
	if err != nil {
		return nil, err
	}
	resp, err := b.answerVersion(ctx, p, want, func(meta versionResponse, value []byte) (any, error) {
		return &dataResponse{Metadata: meta, Data: value}, nil
	})
	// A standby records no read: it cannot write them, and what it kept
	// would only grow until the node is rebuilt (see docs/access.md).
	if err == nil && resp != nil && !resp.NotFound && !b.rot.standby {
		b.lastRead.mark(p, b.now())
	}
	return resp, err
}

// answerVersion answers a read of version want of p (0: the current one)
// with what answer makes of the version's metadata and value. Nothing
// there is (nil, nil); a deleted or destroyed version is a 404 that
// carries answer's data for a nil value.
func (b *backendV2) answerVersion(ctx context.Context, p string, want int, answer func(meta versionResponse, value []byte) (any, error)) (*logical.Response, error) {
	r, err := b.readVersion(ctx, p, want)
	if err != nil || r == nil {
		return nil, err
	}
	switch {
	case r.gone:
		out, err := answer(r.meta, nil)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: out, NotFound: true}, nil
	case r.value == nil:
		return nil, nil // destroyed or trimmed between the two reads
	}
	out, err := answer(r.meta, r.value)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: out}, nil
}

// versionQuery returns the secret path of a read of one version and the
// version it asks for (?version=N; 0 is the current one).
func versionQuery(req *logical.Request, m *framework.Match) (p string, version int, err error) {
	p = m.Get("path")
	if err := checkPath(p); err != nil {
		return "", 0, err
	}
	version, err = framework.QueryInt(req, "version", 0)
	return p, version, err
}

// versionRead is what a read of one version found.
type versionRead struct {
	meta  versionResponse // the version's metadata, as answered
	gone  bool            // deleted or destroyed: there is no value
	value []byte          // nil when gone or removed between the two reads
}

// readVersion reads version n of p (0: the current one) with its value:
// two storage reads. It is nil when there is no such version.
func (b *backendV2) readVersion(ctx context.Context, p string, n int) (*versionRead, error) {
	meta, v, err := b.loadVersion(ctx, p, n)
	if err != nil || v == nil {
		return nil, err
	}
	if meta.expired(b.now()) {
		return nil, expiredError(meta)
	}
	r := &versionRead{meta: newVersionResponse(meta, v), gone: v.gone(b.now())}
	if r.gone {
		return r, nil
	}
	e, err := b.storage.Get(ctx, verKey(p, v.N))
	if err != nil {
		return nil, err
	}
	if e != nil {
		r.value = e.Value
	}
	return r, nil
}

// loadVersion returns p's metadata and version n (0: the current one);
// v is nil when there is no such version.
func (b *backendV2) loadVersion(ctx context.Context, p string, n int) (meta *keyMeta, v *versionMeta, err error) {
	meta, err = b.metas.load(ctx, b.storage, p)
	if err != nil || meta == nil {
		return nil, nil, err
	}
	if n == 0 {
		n = meta.Current
	}
	return meta, meta.version(n), nil
}

// writeData creates a new version of a secret.
func (b *backendV2) writeData(ctx context.Context, req *logical.Request, m *framework.Match, in *dataInput) (*logical.Response, error) {
	p, data, cfg, unlock, err := b.beginWrite(ctx, req, m, in)
	if err != nil {
		return nil, err
	}
	defer unlock()
	meta, err := b.metas.load(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if err := b.checkWritableLocked(ctx, p, meta); err != nil {
		return nil, err
	}
	if err := checkNoPendingLocked(meta); err != nil {
		return nil, err
	}
	if err := checkCAS(cfg, meta, in.Options.CAS); err != nil {
		return nil, err
	}
	if err := in.Options.checkVersion(meta); err != nil {
		return nil, err
	}
	resp, err := b.addVersionLocked(ctx, p, cfg, meta, data, writerOf(req), &in.Options)
	if err != nil {
		return nil, err
	}
	b.sendVersionWritten(ctx, eventDataWrite, p, meta, resp, in.Options.staged())
	return resp, nil
}

// patchData applies a JSON merge patch (RFC 7386) to the current version
// and stores the result as a new version.
func (b *backendV2) patchData(ctx context.Context, req *logical.Request, m *framework.Match, in *dataInput) (*logical.Response, error) {
	p, patch, cfg, unlock, err := b.beginWrite(ctx, req, m, in)
	if err != nil {
		return nil, err
	}
	defer unlock()
	meta, cur, err := b.loadVersion(ctx, p, 0)
	if err != nil {
		return nil, err
	}
	if cur == nil || cur.gone(b.now()) {
		return nil, logical.NotFound("no current version of the secret to patch")
	}
	if meta.expired(b.now()) {
		return nil, expiredWriteError(meta)
	}
	if err := checkNoPendingLocked(meta); err != nil {
		return nil, err
	}
	if err := checkCAS(cfg, meta, in.Options.CAS); err != nil {
		return nil, err
	}
	if err := in.Options.checkVersion(meta); err != nil {
		return nil, err
	}
	e, err := b.storage.Get(ctx, verKey(p, cur.N))
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, logical.NotFound("no current version of the secret to patch")
	}
	merged, err := mergePatch(e.Value, patch)
	if err != nil {
		return nil, err
	}
	data, err := compactData(merged)
	if err != nil {
		return nil, err
	}
	resp, err := b.addVersionLocked(ctx, p, cfg, meta, data, writerOf(req), &in.Options)
	if err != nil {
		return nil, err
	}
	b.sendVersionWritten(ctx, eventDataPatch, p, meta, resp, in.Options.staged())
	return resp, nil
}

// beginWrite checks the path, body and options of a write or patch of
// data/<path> (the Coffer extensions against the caller's ACL), locks the
// path and loads the mount's config. On success the caller calls unlock
// when done.
func (b *backendV2) beginWrite(ctx context.Context, req *logical.Request, m *framework.Match, in *dataInput) (p string, data []byte, cfg *mountConfig, unlock func(), err error) {
	p = m.Get("path")
	if err := checkPath(p); err != nil {
		return "", nil, nil, nil, err
	}
	if err := in.Options.checkExtensions(req, p); err != nil {
		return "", nil, nil, nil, err
	}
	if data, err = compactData(in.Data); err != nil {
		return "", nil, nil, nil, err
	}
	unlock = b.lock(p)
	if cfg, err = loadConfig(ctx, b.storage); err != nil {
		unlock()
		return "", nil, nil, nil, err
	}
	return p, data, cfg, unlock, nil
}

// addVersionLocked stores data as the next version of p, trimming the
// oldest versions beyond max_versions, in one transaction, recording by
// as its writer. The new version becomes current unless opts stages it;
// opts' custom_metadata patch is stored in the same transaction (its
// checks fail the write before anything is stored). The caller holds p's
// lock and has checked opts against the caller's ACL; meta may be nil
// for a new key.
func (b *backendV2) addVersionLocked(ctx context.Context, p string, cfg *mountConfig, meta *keyMeta, data []byte, by writer, opts *dataOptions) (*logical.Response, error) {
	now := b.now()
	if meta == nil {
		meta = &keyMeta{Created: now}
	}
	if err := patchCustomMetadata(meta, opts.CustomMetadata); err != nil {
		return nil, err
	}
	v := versionMeta{N: meta.nextVersion(), Created: now, Accessor: by.accessor, EntityID: by.entityID}
	if d := effectiveDeleteAfter(cfg, meta); d > 0 {
		v.Deleted = math.MaxInt64
		if int64(d) < math.MaxInt64-now {
			v.Deleted = now + int64(d)
		}
	}
	meta.Versions = append(meta.Versions, v)
	if !opts.staged() {
		meta.Current = v.N
	}
	meta.touch(now)

	ops := make([]logical.TxnOp, 0, 3)
	ops = append(ops, logical.TxnOp{Key: verKey(p, v.N), Value: data})
	ops = append(ops, trimLocked(p, cfg, meta)...)
	op, err := putOp(metaKey(p), meta)
	if err != nil {
		return nil, err
	}
	ops = append(ops, op)
	if err := b.storage.Txn(ctx, ops); err != nil {
		return nil, err
	}
	// The next read or write of p finds these bytes and skips decoding.
	b.metas.put(p, op.Value, meta.clone())
	r := newVersionResponse(meta, &v)
	return &logical.Response{Data: &r}, nil
}

// deleteLatest soft-deletes the current version. Deleting what is not
// there succeeds, as in Vault.
func (b *backendV2) deleteLatest(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	defer b.lock(p)()
	meta, v, err := b.loadVersion(ctx, p, 0)
	if err != nil || v == nil {
		return nil, err
	}
	now := b.now()
	if v.gone(now) {
		return nil, nil
	}
	v.Deleted = now
	if err := b.saveMetaLocked(ctx, p, meta, nil); err != nil {
		return nil, err
	}
	md := versionsMetadata(meta)
	md["deleted_version"] = itoa(v.N)
	b.send(ctx, eventDataDelete, "data/"+p, p, md)
	return nil, nil
}

// saveMetaLocked stores meta together with extra operations in one
// transaction. The caller holds p's lock.
func (b *backendV2) saveMetaLocked(ctx context.Context, p string, meta *keyMeta, extra []logical.TxnOp) error {
	op, err := putOp(metaKey(p), meta)
	if err != nil {
		return err
	}
	return b.storage.Txn(ctx, append(extra, op))
}

// mergePatch applies patch to target as RFC 7386 describes: members of
// patch replace those of target, null removes a member, and objects merge
// recursively. Both are JSON objects; numbers keep their exact text.
func mergePatch(target, patch []byte) ([]byte, error) {
	var t, pt map[string]any
	if err := decodeNumbers(target, &t); err != nil {
		return nil, err
	}
	if err := decodeNumbers(patch, &pt); err != nil {
		return nil, err
	}
	merged := mergeValue(t, pt)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(merged); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "secret data is not a valid JSON object", Err: err}
	}
	return nil
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok || tm == nil {
		tm = make(map[string]any, len(pm))
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergeValue(tm[k], v)
	}
	return tm
}
