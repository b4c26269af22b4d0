package kv

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// versionList is a list of version numbers given as a JSON array of
// numbers or digit strings, a comma-separated string ("1,2") or one
// number, as Vault's clients send them.
type versionList []int

// UnmarshalJSON implements [json.Unmarshaler].
func (l *versionList) UnmarshalJSON(b []byte) error {
	bad := &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[versionList]()}
	var items []json.RawMessage
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &items); err != nil {
			return bad
		}
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, json.RawMessage(strconv.Quote(item)))
			}
		}
	default:
		items = []json.RawMessage{b}
	}
	out := make(versionList, 0, len(items))
	for _, it := range items {
		var n framework.Int
		if err := json.Unmarshal(it, &n); err != nil || n <= 0 || n > 1<<31 {
			return bad
		}
		out = append(out, int(n))
	}
	*l = out
	return nil
}

// versionsInput is the body of delete/, undelete/ and destroy/.
type versionsInput struct {
	Versions versionList `json:"versions"`
}

// changeVersions applies change to each listed version of p that exists,
// under p's lock, and stores the result in one transaction. change
// returns the extra storage operations it needs and whether it changed
// anything. A key with no metadata is left alone and the call succeeds, as
// in Vault.
func (b *backendV2) changeVersions(ctx context.Context, m *framework.Match, in *versionsInput, event string,
	change func(p string, v *versionMeta, now int64) ([]logical.TxnOp, bool)) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if len(in.Versions) == 0 {
		return nil, logical.InvalidRequest("no version number provided")
	}
	defer b.lock(p)()
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil || meta == nil {
		return nil, err
	}
	now := b.now()
	var ops []logical.TxnOp
	var changed []int
	for _, n := range in.Versions {
		v := meta.version(n)
		if v == nil {
			continue
		}
		extra, c := change(p, v, now)
		ops = append(ops, extra...)
		if c {
			changed = append(changed, n)
		}
	}
	if len(changed) == 0 {
		return nil, nil
	}
	if err := b.saveMetaLocked(ctx, p, meta, ops); err != nil {
		return nil, err
	}
	md := versionsMetadata(meta)
	md["versions"] = joinVersions(changed)
	b.send(ctx, event, event[len("kv-v2/"):]+"/"+p, p, md)
	return nil, nil
}

// deleteVersions soft-deletes versions: their data stays but reads answer
// 404 until they are undeleted.
func (b *backendV2) deleteVersions(ctx context.Context, _ *logical.Request, m *framework.Match, in *versionsInput) (*logical.Response, error) {
	return b.changeVersions(ctx, m, in, eventDelete, func(_ string, v *versionMeta, now int64) ([]logical.TxnOp, bool) {
		if v.gone(now) {
			return nil, false
		}
		v.Deleted = now
		return nil, true
	})
}

// undeleteVersions clears the deletion time of versions not destroyed.
func (b *backendV2) undeleteVersions(ctx context.Context, _ *logical.Request, m *framework.Match, in *versionsInput) (*logical.Response, error) {
	return b.changeVersions(ctx, m, in, eventUndelete, func(_ string, v *versionMeta, _ int64) ([]logical.TxnOp, bool) {
		if v.Destroyed || v.Deleted == 0 {
			return nil, false
		}
		v.Deleted = 0
		return nil, true
	})
}

// destroyVersions removes the data of versions for good; their metadata
// stays, marked destroyed.
func (b *backendV2) destroyVersions(ctx context.Context, _ *logical.Request, m *framework.Match, in *versionsInput) (*logical.Response, error) {
	return b.changeVersions(ctx, m, in, eventDestroy, func(p string, v *versionMeta, _ int64) ([]logical.TxnOp, bool) {
		if v.Destroyed {
			return nil, false
		}
		v.Destroyed = true
		return []logical.TxnOp{{Key: verKey(p, v.N), Delete: true}}, true
	})
}
