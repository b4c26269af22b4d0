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
// after after ("" for all). It lists one folder at a time, depth first,
// so it holds the listings of the folders on the current path and never
// the whole tree; folders that sort wholly at or before after are not
// listed at all. It stops when fn returns false or an error.
//
// Listing names in byte order with folders ending in "/" yields full
// paths in byte order: every path below folder "a/" starts with "a/", so
// it sorts where "a/" sorts among its siblings.
func walkSorted(ctx context.Context, s logical.Storage, base, folder, after string, fn func(key string) (bool, error)) error {
	_, err := walkFolder(ctx, s, base, folder, after, fn)
	return err
}

func walkFolder(ctx context.Context, s logical.Storage, base, folder, after string, fn func(string) (bool, error)) (bool, error) {
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
			if full <= after && !strings.HasPrefix(after, full) {
				continue // the whole folder sorts at or before after
			}
			more, err := walkFolder(ctx, s, base, full, after, fn)
			if err != nil || !more {
				return more, err
			}
			continue
		}
		if full <= after {
			continue
		}
		more, err := fn(full)
		if err != nil || !more {
			return more, err
		}
	}
	return true, nil
}

// mayReadKey is the filter of recursive lists and searches: the caller
// sees key k of the KV v2 mount at mount ("secret/") when its ACL lets it
// read the data (mount+"data/"+k), or read or list the metadata
// (mount+"metadata/"+k), of that key. A nil checker allows nothing.
func mayReadKey(access logical.AccessChecker, mount, k string) bool {
	if access == nil {
		return false
	}
	return access.Allowed(mount+"data/"+k, logical.ReadOperation) ||
		access.Allowed(mount+"metadata/"+k, logical.ReadOperation) ||
		access.Allowed(mount+"metadata/"+k, logical.ListOperation)
}

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
	folder := prefix[:strings.LastIndex(prefix, "/")+1]
	if after < folder {
		after = ""
	}
	return walkSorted(ctx, b.storage, metaPrefix, folder, after, func(k string) (bool, error) {
		if !strings.HasPrefix(k, prefix) {
			// Keys in byte order: past the prefix's range, nothing more matches.
			return k < prefix, nil
		}
		m, err := loadMeta(ctx, b.storage, k)
		if err != nil || m == nil {
			return err == nil, err // deleted meanwhile: skip
		}
		read, err := b.lastRead.load(ctx, b.storage, k)
		if err != nil {
			return false, err
		}
		info := secretInfo(k, m, read)
		info.NextRotation = timeOf(b.sched.dueOf(k))
		return fn(info)
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
