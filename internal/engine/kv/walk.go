package kv

import (
	"context"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// walkSorted calls fn with every leaf key under folder (a relative path ""
// or ending in "/") of the storage tree rooted at base ("meta/", "v1/"),
// as the full relative path ("team/app/db"), in byte order, that sorts
// after after ("" for all) and not before from ("" for all). It lists one
// folder at a time, depth first, so it holds the listings of the folders
// on the current path and never the whole tree; folders that sort wholly
// at or before after, or wholly before from, are not listed at all. It
// stops when fn returns false or an error.
//
// Listing names in byte order with folders ending in "/" yields full
// paths in byte order: every path below folder "a/" starts with "a/", so
// it sorts where "a/" sorts among its siblings.
func walkSorted(ctx context.Context, s logical.Storage, base, folder, after, from string, fn func(key string) (bool, error)) error {
	_, err := walkFolder(ctx, s, base, folder, walkBounds{after: after, from: from}, fn)
	return err
}

// walkBounds are the keys a walk skips: those at or before after and
// those before from.
type walkBounds struct{ after, from string }

// skipsKey reports whether the walk skips key k.
func (w walkBounds) skipsKey(k string) bool { return k <= w.after || k < w.from }

// skipsFolder reports whether every key below folder f (ending in "/")
// is skipped: f sorts at or before after (before from) and is not a
// prefix of it, so every path starting with f sorts there too.
func (w walkBounds) skipsFolder(f string) bool {
	return (f <= w.after && !strings.HasPrefix(w.after, f)) || (f < w.from && !strings.HasPrefix(w.from, f))
}

func walkFolder(ctx context.Context, s logical.Storage, base, folder string, w walkBounds, fn func(string) (bool, error)) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	names, err := s.List(ctx, base+folder)
	if err != nil {
		return false, err
	}
	slices.Sort(names)
	for _, name := range names {
		full := folder + name
		if strings.HasSuffix(name, "/") {
			if w.skipsFolder(full) {
				continue
			}
			more, err := walkFolder(ctx, s, base, full, w, fn)
			if err != nil || !more {
				return more, err
			}
			continue
		}
		if w.skipsKey(full) {
			continue
		}
		more, err := fn(full)
		if err != nil || !more {
			return more, err
		}
	}
	return true, nil
}

// scanBudget is how many keys one recursive list or search examines at
// most for a page of limit keys (minScanBudget at least): a caller that
// may see few keys then gets a short page and a continuation instead of
// a walk of the whole tree.
func scanBudget(limit int) int { return max(10*limit, minScanBudget) }

// minScanBudget is the smallest scan budget of one request.
const minScanBudget = 1000

// mayReadV1Key is the filter of recursive lists on KV version 1: the
// caller may read or list mount+k.
func mayReadV1Key(access logical.AccessChecker, mount, k string) bool {
	if access == nil {
		return false
	}
	return access.Allowed(mount+k, logical.ReadOperation) || access.Allowed(mount+k, logical.ListOperation)
}

// secretInfo describes p from its metadata for a [logical.SecretWalker];
// lastRead is the stored last-read time (Unix nanoseconds, 0 for none).
func secretInfo(p string, m *keyMeta, lastRead int64) logical.SecretInfo {
	info := logical.SecretInfo{
		Path:           p,
		CurrentVersion: m.Current,
		CreatedTime:    timeOf(m.Created),
		UpdatedTime:    timeOf(m.Updated),
		CustomMetadata: m.CustomMetadata,
		ExpireTime:     timeOf(m.ExpireAt),
	}
	// A last read from before the key was (re)created belongs to a key of
	// the same name that was deleted.
	if lastRead >= m.Created {
		info.LastRead = timeOf(lastRead)
	}
	if v := m.version(m.Current); v != nil {
		info.CreatedByAccessor = v.Accessor
		info.CreatedByEntity = v.EntityID
	}
	return info
}

// WalkSecrets calls fn for every key whose path starts with prefix, in
// key order, loading each key's metadata (and last-read time) as it goes.
// It implements [logical.SecretWalker].
func (b *backendV2) WalkSecrets(ctx context.Context, prefix string, fn func(logical.SecretInfo) (bool, error)) error {
	return b.WalkSecretsAfter(ctx, prefix, "", fn)
}

// WalkSecretsAfter is WalkSecrets for the keys that sort after after, so
// that a paginated search resumes without reading what it answered.
func (b *backendV2) WalkSecretsAfter(ctx context.Context, prefix, after string, fn func(logical.SecretInfo) (bool, error)) error {
	return b.WalkSecretsFiltered(ctx, prefix, after, func(string) (bool, bool) { return true, true }, fn)
}

// WalkSecretsFiltered is WalkSecretsAfter that first asks visit about
// every key it reaches, by path only, before reading anything of the key:
// visit answers whether to load the key and call fn with it, and whether
// to go on. A search checks the caller's ACL and counts its scan budget
// there, so that a key the caller may not see costs no storage read.
func (b *backendV2) WalkSecretsFiltered(ctx context.Context, prefix, after string, visit func(k string) (load, more bool), fn func(logical.SecretInfo) (bool, error)) error {
	folder := prefix[:strings.LastIndex(prefix, "/")+1]
	return walkSorted(ctx, b.storage, metaPrefix, folder, after, prefix, func(k string) (bool, error) {
		if !strings.HasPrefix(k, prefix) {
			// Keys in byte order, none before prefix: past the prefix's
			// range, nothing more matches.
			return false, nil
		}
		load, more := visit(k)
		if !load {
			return more, nil
		}
		m, err := loadMeta(ctx, b.storage, k)
		if err != nil || m == nil {
			return more && err == nil, err // deleted meanwhile: skip
		}
		read, err := b.lastRead.load(ctx, b.storage, k)
		if err != nil {
			return false, err
		}
		info := secretInfo(k, m, read)
		info.NextRotation = timeOf(b.sched.dueOf(k))
		goOn, err := fn(info)
		return goOn && more, err
	})
}

// writer names who wrote a version: the accessor and entity of the
// request's token ("" when unknown, as for a system write).
type writer struct{ accessor, entityID string }

func writerOf(req *logical.Request) writer {
	if req == nil {
		return writer{}
	}
	return writer{accessor: req.Accessor, entityID: req.EntityID}
}
