package kv

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Page sizes of a recursive list.
const (
	// DefaultRecursiveLimit is how many keys a recursive list answers
	// when the request sets no limit.
	DefaultRecursiveLimit = 1000
	// MaxRecursiveLimit is the most keys one recursive list answers; a
	// larger limit is refused.
	MaxRecursiveLimit = 10000
)

// listOptions are the query parameters of a recursive list.
type listOptions struct {
	after string
	limit int
	// defaulted is set when the request named no limit.
	defaulted bool
}

// recursiveQuery reports whether a list request asks for a recursive
// list (?recursive=true) and with which page.
func recursiveQuery(req *logical.Request) (bool, listOptions, error) {
	var o listOptions
	if req.Query == nil {
		return false, o, nil
	}
	s := strings.TrimSpace(req.Query.Get("recursive"))
	if s == "" {
		return false, o, nil
	}
	on, err := strconv.ParseBool(s)
	if err != nil {
		return false, o, logical.InvalidRequest("invalid value for query parameter \"recursive\": want true or false")
	}
	if !on {
		return false, o, nil
	}
	o.after = req.Query.Get("after")
	if strings.ContainsRune(o.after, 0) {
		return false, o, logical.InvalidRequest("query parameter \"after\" must not contain a NUL byte")
	}
	o.limit, err = framework.QueryInt(req, "limit", 0)
	if err != nil {
		return false, o, err
	}
	switch {
	case o.limit == 0:
		o.limit = DefaultRecursiveLimit
		o.defaulted = true
	case o.limit > MaxRecursiveLimit:
		return false, o, logical.InvalidRequest("limit is %d; the most one recursive list answers is %d (continue with after=<last key>)", o.limit, MaxRecursiveLimit)
	}
	return true, o, nil
}

// listRecursive answers a recursive list: the leaf keys under folder
// (relative to base in storage), as paths relative to folder, in byte
// order, that sort after o.after and that allow lets the caller see; at
// most o.limit of them. A page of o.limit keys may have a next one: the
// client asks again with after set to its last key. An empty answer is
// (nil, nil), which core answers with 404, as for a plain list.
func listRecursive(ctx context.Context, s logical.Storage, base, folder string, o listOptions, allow func(key string) bool) (*logical.Response, error) {
	var after string
	if o.after != "" {
		after = folder + o.after
	}
	keys := make([]string, 0, min(o.limit, 64))
	err := walkSorted(ctx, s, base, folder, after, func(k string) (bool, error) {
		if allow(k) {
			keys = append(keys, k[len(folder):])
		}
		return len(keys) < o.limit, nil
	})
	if err != nil {
		return nil, err
	}
	resp, err := framework.ListResponse(keys)
	if resp != nil && o.defaulted && len(keys) == o.limit {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("the answer holds the first %d keys; list again with after set to the last one for the next page", o.limit))
	}
	return resp, err
}

// listMetadataRecursive is listMetadata with ?recursive=true: every key
// under the path that the caller may see (see mayReadKey).
func (b *backendV2) listMetadataRecursive(ctx context.Context, req *logical.Request, folder string, o listOptions) (*logical.Response, error) {
	return listRecursive(ctx, b.storage, metaPrefix, folder, o, func(k string) bool {
		return mayReadKey(req.Access, req.MountPoint, k)
	})
}

// listRecursiveV1 is a KV version 1 list with ?recursive=true.
func (b *backendV1) listRecursiveV1(ctx context.Context, req *logical.Request, folder string, o listOptions) (*logical.Response, error) {
	return listRecursive(ctx, b.storage, v1Prefix, folder, o, func(k string) bool {
		return mayReadV1Key(req.Access, req.MountPoint, k)
	})
}
