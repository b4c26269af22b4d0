package kv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// trashEntry is a deleted key kept for its recovery window: its metadata
// as it was, when it was deleted and when it is destroyed for good.
type trashEntry struct {
	Meta    keyMeta `json:"meta"`
	Deleted int64   `json:"deleted"`
	PurgeAt int64   `json:"purge_at"`
}

// lifecyclePaths are the paths of the recovery window.
func (b *backendV2) lifecyclePaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: `recover/(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: b.recoverSecret,
			},
			Synopsis: "Bring back a deleted secret, with all its versions, during its recovery window.",
		},
		{
			Pattern: `deleted(?:/(?P<path>.*))?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ListOperation:   b.listDeleted,
				logical.ReadOperation:   b.readDeleted,
				logical.DeleteOperation: b.purgeDeleted,
			},
			Synopsis: "List and read recoverable deleted secrets, or destroy one for good before its window ends.",
		},
	}
}

// sweepLifecycle sends the expiry events that are due and destroys the
// deleted secrets whose recovery window has passed; the backend's
// Periodic calls it. Reads and writes do not wait for it: a secret is
// unreadable from its expiry time, and a deleted one is unrecoverable
// from the end of its window, whenever the sweep runs.
func (b *backendV2) sweepLifecycle(ctx context.Context) error {
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil {
		return err
	}
	return errors.Join(b.sweepExpiry(ctx, cfg), b.sweepTrash(ctx))
}

// sweepTrash destroys the deleted secrets whose window has passed.
func (b *backendV2) sweepTrash(ctx context.Context) error {
	var errs []error // one secret's failure does not hold up the others
	err := walkKeys(ctx, b.storage, trashPrefix, func(p string) error {
		if err := b.purgeIfDue(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("purge deleted secret %s: %w", p, err))
		}
		return ctx.Err()
	})
	return errors.Join(append(errs, err)...)
}

// purgeIfDue destroys the trashed key p if its window has passed.
func (b *backendV2) purgeIfDue(ctx context.Context, p string) error {
	defer b.lock(p)()
	t, err := loadTrash(ctx, b.storage, p)
	if err != nil || t == nil || t.PurgeAt > b.now() {
		return err
	}
	return b.purgeLocked(ctx, p, t)
}

func loadTrash(ctx context.Context, s logical.Storage, p string) (*trashEntry, error) {
	t := new(trashEntry)
	ok, err := framework.GetJSON(ctx, s, trashPrefix+p, t)
	if !ok {
		return nil, err
	}
	return t, nil
}

// trashLocked moves p's metadata to the trash for window, in one
// transaction: its versions stay where they are, unreachable, until it
// is recovered or purged. The caller holds p's lock.
func (b *backendV2) trashLocked(ctx context.Context, p string, meta *keyMeta, window int64) error {
	now := b.now()
	t := trashEntry{Meta: *meta, Deleted: now, PurgeAt: math.MaxInt64}
	if window < math.MaxInt64-now {
		t.PurgeAt = now + window
	}
	op, err := putOp(trashPrefix+p, &t)
	if err != nil {
		return err
	}
	ops := append([]logical.TxnOp{op, {Key: metaKey(p), Delete: true}}, dropExpiryOps(p, meta)...)
	if err := b.storage.Txn(ctx, ops); err != nil {
		return err
	}
	b.send(ctx, eventMetadataDelete, "metadata/"+p, "", map[string]string{
		"recoverable_until": formatTime(t.PurgeAt),
	})
	return nil
}

// purgeLocked destroys the trashed key p for good, in one transaction.
// The caller holds p's lock.
func (b *backendV2) purgeLocked(ctx context.Context, p string, t *trashEntry) error {
	ops := make([]logical.TxnOp, 0, len(t.Meta.Versions)+2)
	for _, v := range t.Meta.Versions {
		ops = append(ops, logical.TxnOp{Key: verKey(p, v.N), Delete: true})
	}
	ops = append(ops, logical.TxnOp{Key: trashPrefix + p, Delete: true}, logical.TxnOp{Key: lastReadPrefix + p, Delete: true}, logical.TxnOp{Key: rotKey(p), Delete: true})
	b.lastRead.forget(p)
	if err := b.storage.Txn(ctx, ops); err != nil {
		return err
	}
	b.sched.remove(p)
	b.send(ctx, eventPurged, "deleted/"+p, "", nil)
	return nil
}

// checkNotTrashedLocked refuses to create a key at p while a deleted key
// there is recoverable, as AWS Secrets Manager refuses a secret scheduled
// for deletion. A trashed key whose window has passed is purged first, so
// the new key starts with nothing of the old one. The caller holds p's
// lock.
func (b *backendV2) checkNotTrashedLocked(ctx context.Context, p string) error {
	t, err := loadTrash(ctx, b.storage, p)
	if err != nil || t == nil {
		return err
	}
	if t.PurgeAt <= b.now() {
		return b.purgeLocked(ctx, p, t)
	}
	return logical.InvalidRequest("a deleted secret at this path can be recovered until %s: "+
		"write to the mount's recover/<path> to restore it, or delete the mount's deleted/<path> to destroy it now, "+
		"before writing to this path", formatTime(t.PurgeAt))
}

// recoverSecret answers a write of recover/<path>: it puts a deleted key
// back, with all its versions and settings, in one transaction, and
// answers with its metadata.
func (b *backendV2) recoverSecret(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	defer b.lock(p)()
	t, err := loadTrash(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if t == nil || t.PurgeAt <= b.now() {
		return nil, logical.NotFound("no deleted secret at this path can be recovered")
	}
	cur, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if cur != nil { // cannot happen while writes are refused; never overwrite
		return nil, logical.InvalidRequest("a secret exists at this path; delete it before recovering the deleted one")
	}
	meta := &t.Meta
	ops, err := expiryIndexOps(p, 0, meta)
	if err != nil {
		return nil, err
	}
	ops = append(ops, logical.TxnOp{Key: trashPrefix + p, Delete: true})
	if err := b.saveMetaLocked(ctx, p, meta, ops); err != nil {
		return nil, err
	}
	b.send(ctx, eventRecovered, "recover/"+p, p, map[string]string{
		"current_version": itoa(meta.Current),
		"oldest_version":  itoa(meta.Oldest),
	})
	return &logical.Response{Data: newMetadataResponse(meta, mayKnowWriters(req))}, nil
}

// deletedResponse is the data of a read of deleted/<path>.
type deletedResponse struct {
	*metadataResponse
	DeletionTime     string `json:"deletion_time"`
	RecoverableUntil string `json:"recoverable_until"`
}

// readDeleted answers deleted/<path>: the deleted key's metadata (never
// data), when and until when it can be recovered. Nothing recoverable is
// (nil, nil), a 404.
func (b *backendV2) readDeleted(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	t, err := loadTrash(ctx, b.storage, p)
	if err != nil || t == nil || t.PurgeAt <= b.now() {
		return nil, err
	}
	return &logical.Response{Data: &deletedResponse{
		metadataResponse: newMetadataResponse(&t.Meta, mayKnowWriters(req)),
		DeletionTime:     formatTime(t.Deleted),
		RecoverableUntil: formatTime(t.PurgeAt),
	}}, nil
}

// listDeleted lists the recoverable deleted keys and the folders under a
// path, as LIST metadata/ lists live ones. Keys whose window has passed
// are left out even before the sweep destroys them.
func (b *backendV2) listDeleted(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	prefix, err := listPrefix(m.Get("path"))
	if err != nil {
		return nil, err
	}
	keys, err := b.storage.List(ctx, trashPrefix+prefix)
	if err != nil {
		return nil, err
	}
	now := b.now()
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		ok, err := b.recoverable(ctx, prefix+k, now)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, k)
		}
	}
	return framework.ListResponse(out)
}

// errFound stops a walk that found what it looked for.
var errFound = errors.New("found")

// recoverable reports whether the trashed key k, or some key in the
// folder k (ending in "/"), is still in its recovery window at now. A
// folder is read only until the first such key.
func (b *backendV2) recoverable(ctx context.Context, k string, now int64) (bool, error) {
	if !strings.HasSuffix(k, "/") {
		t, err := loadTrash(ctx, b.storage, k)
		return t != nil && t.PurgeAt > now, err
	}
	err := walkKeys(ctx, b.storage, trashPrefix+k, func(rel string) error {
		ok, err := b.recoverable(ctx, k+rel, now)
		if ok {
			return errFound
		}
		return err
	})
	if errors.Is(err, errFound) {
		return true, nil
	}
	return false, err
}

// purgeDeleted answers a delete of deleted/<path>: the deleted key is
// destroyed for good now. Deleting what is not there succeeds.
func (b *backendV2) purgeDeleted(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	defer b.lock(p)()
	t, err := loadTrash(ctx, b.storage, p)
	if err != nil || t == nil {
		return nil, err
	}
	return nil, b.purgeLocked(ctx, p, t)
}
