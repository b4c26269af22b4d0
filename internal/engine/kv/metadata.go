package kv

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// metadataInput is the body of a metadata write: the fields present
// replace the stored ones; custom_metadata, when present, replaces the
// whole map.
type metadataInput struct {
	settingsInput
	keyLifeInput
	CustomMetadata *map[string]string `json:"custom_metadata"`
}

// metadataPatchInput is the body of a metadata patch: like a write, but
// custom_metadata merges into the stored map and a null value removes a
// key. CurrentVersion is a Coffer extension (stage.go).
type metadataPatchInput struct {
	settingsInput
	keyLifeInput
	CustomMetadata map[string]*string `json:"custom_metadata"`
	CurrentVersion *framework.Int     `json:"current_version"`
}

func (in *settingsInput) apply(meta *keyMeta) {
	if in.MaxVersions != nil {
		meta.MaxVersions = int(*in.MaxVersions)
	}
	if in.CASRequired != nil {
		meta.CASRequired = bool(*in.CASRequired)
	}
	if in.DeleteVersionAfter != nil {
		meta.DeleteVersionAfter = durationOf(*in.DeleteVersionAfter)
	}
}

// readMetadata answers metadata/<path>; a key with no metadata is (nil,
// nil), which core answers with 404. The rotation summary (rotator
// settings, last error) is shown only to a caller who may also read
// rotation/<path>, which has its own ACL.
func (b *backendV2) readMetadata(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil || meta == nil {
		return nil, err
	}
	r := newMetadataResponse(meta, mayKnowWriters(req))
	last, err := b.lastRead.load(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if last >= meta.Created {
		// A key deleted and written again keeps no reads of the old one.
		r.LastReadTime = formatTime(last)
	}
	if req.Access != nil && req.Access.Allowed(req.MountPoint+"rotation/"+p, logical.ReadOperation) {
		if r.Rotation, err = b.rotationSummary(ctx, p); err != nil {
			return nil, err
		}
	}
	return &logical.Response{Data: r}, nil
}

// listMetadata lists the keys and folders under a path; an empty list is
// (nil, nil), which core answers with 404.
func (b *backendV2) listMetadata(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	prefix, err := listPrefix(m.Get("path"))
	if err != nil {
		return nil, err
	}
	if rec, o, err := recursiveQuery(req); err != nil || rec {
		if err != nil {
			return nil, err
		}
		return b.listMetadataRecursive(ctx, req, prefix, o)
	}
	keys, err := b.storage.List(ctx, metaPrefix+prefix)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

// writeMetadata creates or updates a key's settings; a new key has no
// versions until data is written.
func (b *backendV2) writeMetadata(ctx context.Context, req *logical.Request, m *framework.Match, in *metadataInput) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	expect, err := expectQuery(req)
	if err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	if in.CustomMetadata != nil {
		if err := checkCustomMetadata(*in.CustomMetadata); err != nil {
			return nil, err
		}
	}
	now := b.now()
	life, err := in.checkLife(now)
	if err != nil {
		return nil, err
	}
	defer b.lock(p)()
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if err := expect.check(meta); err != nil {
		return nil, err
	}
	if meta == nil {
		if err := b.checkNotTrashedLocked(ctx, p); err != nil {
			return nil, err
		}
		meta = &keyMeta{Created: now}
	}
	meta.touch(now)
	in.apply(meta)
	if in.CustomMetadata != nil {
		meta.CustomMetadata = *in.CustomMetadata
	}
	ops, err := life.apply(p, meta)
	if err != nil {
		return nil, err
	}
	if err := b.saveMetaLocked(ctx, p, meta, ops); err != nil {
		return nil, err
	}
	b.send(ctx, eventMetadataWrite, "metadata/"+p, p, versionsMetadata(meta))
	return nil, nil
}

// patchMetadata changes the given settings of an existing key and, with
// current_version, which version is current (stage.go): one transaction.
func (b *backendV2) patchMetadata(ctx context.Context, req *logical.Request, m *framework.Match, in *metadataPatchInput) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	expect, err := expectQuery(req)
	if err != nil {
		return nil, err
	}
	if in.CurrentVersion != nil {
		if *in.CurrentVersion < 1 || *in.CurrentVersion > 1<<31 {
			return nil, logical.InvalidRequest("invalid value for \"current_version\": want a version number from 1")
		}
		// The patch itself was checked with its body on metadata/<path>;
		// changing what readers of the data get also needs update on
		// data/<path>, with {"current_version": n} as the body there.
		target := req.MountPoint + "data/" + p
		if req.Access == nil || !req.Access.AllowedParams(target, logical.UpdateOperation, map[string]any{"current_version": int64(*in.CurrentVersion)}) {
			return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "current_version needs update permission on " + target + ", with the current_version parameter"}
		}
	}
	life, err := in.checkLife(b.now())
	if err != nil {
		return nil, err
	}
	defer b.lock(p)()
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if err := expect.check(meta); err != nil {
		return nil, err
	}
	if meta == nil {
		return nil, logical.NotFound("no metadata at the path to patch")
	}
	moved := false
	if in.CurrentVersion != nil {
		if moved, err = setCurrentLocked(meta, int(*in.CurrentVersion), b.now()); err != nil {
			return nil, err
		}
	}
	in.apply(meta)
	if err := patchCustomMetadata(meta, in.CustomMetadata); err != nil {
		return nil, err
	}
	meta.touch(b.now())
	ops, err := life.apply(p, meta)
	if err != nil {
		return nil, err
	}
	if err := b.saveMetaLocked(ctx, p, meta, ops); err != nil {
		return nil, err
	}
	b.send(ctx, eventMetadataPatch, "metadata/"+p, p, versionsMetadata(meta))
	if moved {
		// Readers of the data see another version, as after a write.
		b.send(ctx, eventDataWrite, "data/"+p, p, versionsMetadata(meta))
	}
	return nil, nil
}

// deleteMetadata removes a key's metadata and the data of all its
// versions, in one transaction; with a recovery window it moves the key
// to the trash instead, recoverable until the window ends. A
// ?recovery_window_days=N (a Coffer extension, stage.go) sets the key's
// window and deletes with it, in the same transaction.
func (b *backendV2) deleteMetadata(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	window, err := recoveryWindowQuery(req, p)
	if err != nil {
		return nil, err
	}
	expect, err := expectQuery(req)
	if err != nil {
		return nil, err
	}
	defer b.lock(p)()
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if err := expect.check(meta); err != nil || meta == nil {
		return nil, err
	}
	if window != nil {
		meta.RecoveryWindowDays = window
	}
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	if w := recoveryWindow(cfg, meta); w > 0 {
		return nil, b.trashLocked(ctx, p, meta, int64(w))
	}
	ops := make([]logical.TxnOp, 0, len(meta.Versions)+2)
	for _, v := range meta.Versions {
		ops = append(ops, logical.TxnOp{Key: verKey(p, v.N), Delete: true})
	}
	ops = append(ops, logical.TxnOp{Key: metaKey(p), Delete: true}, logical.TxnOp{Key: lastReadPrefix + p, Delete: true}, logical.TxnOp{Key: rotKey(p), Delete: true})
	ops = append(ops, dropExpiryOps(p, meta)...)
	b.lastRead.forget(p)
	if err := b.storage.Txn(ctx, ops); err != nil {
		return nil, err
	}
	b.sched.remove(p)
	b.send(ctx, eventMetadataDelete, "metadata/"+p, "", nil)
	return nil, nil
}
