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

// recursiveList is the data of a recursive list answer.
type recursiveList struct {
	Keys []string `json:"keys"`
	// NextAfter is set when the walk stopped before the end of the tree
	// (the page is full, or the scan budget ran out): the next page is
	// asked with after set to it. It is the last key examined, relative
	// to the listed folder, which the caller may not be allowed to see.
	NextAfter string `json:"next_after,omitempty"`
}

// listRecursive answers a recursive list: the leaf keys under folder
// (relative to base in storage), as paths relative to folder, in byte
// order, that sort after o.after and that allow lets the caller see; at
// most o.limit of them, from at most scanBudget(o.limit) keys examined.
// When the walk stops before the end of the tree the answer carries
// next_after, where the next page starts, even with no key (a caller
// that may see few keys then follows continuations instead of walking
// the whole tree in one request). An empty answer at the end of the tree
// is (nil, nil), which core answers with 404, as for a plain list.
func listRecursive(ctx context.Context, s logical.Storage, base, folder string, o listOptions, allow func(key string) bool) (*logical.Response, error) {
	var after string
	if o.after != "" {
		after = folder + o.after
	}
	keys := make([]string, 0, min(o.limit, 64))
	budget := scanBudget(o.limit)
	examined, last, stopped := 0, "", false
	err := walkSorted(ctx, s, base, folder, after, "", func(k string) (bool, error) {
		examined++
		last = k
		if allow(k) {
			keys = append(keys, k[len(folder):])
		}
		stopped = len(keys) >= o.limit || examined >= budget
		return !stopped, nil
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 && !stopped {
		return nil, nil
	}
	data := &recursiveList{Keys: keys}
	resp := &logical.Response{Data: data}
	if stopped {
		data.NextAfter = last[len(folder):]
	}
	switch {
	case stopped && len(keys) < o.limit:
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%d keys were examined, the most for one page; list again with after set to next_after for the next page", examined))
	case stopped && o.defaulted:
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("the answer holds the first %d keys; list again with after set to next_after for the next page", o.limit))
	}
	return resp, nil
}

// listMetadataRecursive is listMetadata with ?recursive=true: every key
// under the path that the caller may see (see [logical.MayViewKVKey]).
func (b *backendV2) listMetadataRecursive(ctx context.Context, req *logical.Request, folder string, o listOptions) (*logical.Response, error) {
	return listRecursive(ctx, b.storage, metaPrefix, folder, o, func(k string) bool {
		return logical.MayViewKVKey(req.Access, req.MountPoint, k)
	})
}

// listRecursiveV1 is a KV version 1 list with ?recursive=true.
func (b *backendV1) listRecursiveV1(ctx context.Context, req *logical.Request, folder string, o listOptions) (*logical.Response, error) {
	return listRecursive(ctx, b.storage, v1Prefix, folder, o, func(k string) bool {
		return mayReadV1Key(req.Access, req.MountPoint, k)
	})
}
