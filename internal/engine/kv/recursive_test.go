package kv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// prefixAccess allows an operation on a path under one of its prefixes
// ("op:prefix").
type prefixAccess []string

func (a prefixAccess) Allowed(path string, op logical.Operation) bool {
	for _, r := range a {
		o, p, _ := strings.Cut(r, ":")
		if o == string(op) && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// AllowedParams ignores the parameters: prefixAccess constrains none.
func (a prefixAccess) AllowedParams(path string, op logical.Operation, _ map[string]any) bool {
	return a.Allowed(path, op)
}

// recursiveKeys are written in every recursive list test; their names
// probe the byte order of folders ("a/") against siblings ("a-b", "a0").
var recursiveKeys = []string{"a", "a-b", "a/x", "a/y/z", "a0", "b/c/d/e", "team/app/db", "team/app/api", "team/web/tls", "zz"}

func listKeys(t *testing.T, h *harness, version, path string, access logical.AccessChecker, query string) ([]string, error) {
	t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	r := &logical.Request{Operation: opList, Path: path, MountPoint: "secret/", Query: q, Access: access}
	resp, err := h.Send(r)
	if err != nil || resp == nil {
		return nil, err
	}
	return respKeys(resp), nil
}

// respKeys returns the keys of a list answer, recursive or not.
func respKeys(resp *logical.Response) []string {
	if l, ok := resp.Data.(*recursiveList); ok {
		return l.Keys
	}
	return resp.Data.(*framework.ListData).Keys
}

func TestRecursiveList(t *testing.T) {
	all := prefixAccess{"read:secret/"}
	tests := []struct {
		name   string
		path   string
		access logical.AccessChecker
		query  string
		want   []string
	}{
		{"everything in byte order", "metadata/", all, "recursive=true", []string{"a", "a-b", "a/x", "a/y/z", "a0", "b/c/d/e", "team/app/api", "team/app/db", "team/web/tls", "zz"}},
		{"under a folder, relative to it", "metadata/team", all, "recursive=true", []string{"app/api", "app/db", "web/tls"}},
		{"first page", "metadata/", all, "recursive=true&limit=3", []string{"a", "a-b", "a/x"}},
		{"page after a key inside a folder", "metadata/", all, "recursive=true&after=a/x&limit=3", []string{"a/y/z", "a0", "b/c/d/e"}},
		{"page after a folder's name", "metadata/", all, "recursive=true&after=a/", []string{"a/x", "a/y/z", "a0", "b/c/d/e", "team/app/api", "team/app/db", "team/web/tls", "zz"}},
		{"page after a key that does not exist", "metadata/", all, "recursive=true&after=t", []string{"team/app/api", "team/app/db", "team/web/tls", "zz"}},
		{"page relative to the folder", "metadata/team/", all, "recursive=true&after=app/db", []string{"web/tls"}},
		{"data read grants a key", "metadata/", prefixAccess{"read:secret/data/team/app/"}, "recursive=true", []string{"team/app/api", "team/app/db"}},
		{"metadata list grants a key", "metadata/", prefixAccess{"list:secret/metadata/b/"}, "recursive=true", []string{"b/c/d/e"}},
		{"metadata read grants a key", "metadata/", prefixAccess{"read:secret/metadata/zz"}, "recursive=true", []string{"zz"}},
		{"write alone grants nothing", "metadata/", prefixAccess{"update:secret/data/"}, "recursive=true", nil},
		{"no checker: nothing passes", "metadata/", nil, "recursive=true", nil},
		{"filtered pages fill up", "metadata/", prefixAccess{"read:secret/data/team/", "read:secret/data/zz"}, "recursive=true&limit=2&after=team/app/db", []string{"team/web/tls", "zz"}},
		{"recursive=false is a plain list", "metadata/", all, "recursive=false", []string{"a", "a-b", "a/", "a0", "b/", "team/", "zz"}},
	}
	h := newHarness(t, "2")
	for _, k := range recursiveKeys {
		h.must(req{op: opUpdate, path: "data/" + k, body: `{"data":{"k":"v"}}`})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := listKeys(t, h, "2", tc.path, tc.access, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecursiveListV1(t *testing.T) {
	h := newHarness(t, "1")
	for _, k := range recursiveKeys {
		h.must(req{op: opUpdate, path: k, body: `{"k":"v"}`})
	}
	got, err := listKeys(t, h, "1", "team/", prefixAccess{"read:secret/team/app/", "list:secret/team/web/tls"}, "recursive=true")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"app/api", "app/db", "web/tls"}; !slices.Equal(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
}

func TestRecursiveListBadQuery(t *testing.T) {
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "data/a", body: `{"data":{"k":"v"}}`})
	for _, q := range []string{"recursive=maybe", "recursive=true&limit=-1", "recursive=true&limit=x", fmt.Sprintf("recursive=true&limit=%d", MaxRecursiveLimit+1), "recursive=true&after=a%00b"} {
		if _, err := listKeys(t, h, "2", "metadata/", prefixAccess{"read:secret/"}, q); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want an invalid request", q, err)
		}
	}
}

func TestLastReadAndCreatedBy(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, "2")
	write := func(p, accessor, entity string) {
		r := h.Request(opUpdate, "data/"+p, `{"data":{"k":"v"}}`)
		r.Accessor, r.EntityID = accessor, entity
		if _, err := h.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	write("app/db", "acc-1", "ent-1")
	write("app/db", "acc-2", "ent-2")
	write("app/api", "", "")
	h.must(req{op: opUpdate, path: "metadata/app/api", body: `{"ttl":"48h"}`})
	expireAt := h.Clock.Now().Add(48 * time.Hour)
	h.Clock.Advance(time.Hour)
	readAt := h.Clock.Now()
	h.must(req{op: opRead, path: "data/app/db"})
	h.must(req{op: opRead, path: "subkeys/app/api"}) // structure only: not a read of the data

	b := h.Backend.(*backendV2)
	if n := len(h.Storage.Snapshot()); n == 0 {
		t.Fatal("nothing stored")
	}
	if keysUnder(h, lastReadPrefix) != 0 {
		t.Fatal("a read wrote to storage before a flush")
	}
	walk := func() map[string]logical.SecretInfo {
		out := map[string]logical.SecretInfo{}
		err := b.WalkSecrets(ctx, "app/", func(s logical.SecretInfo) (bool, error) {
			out[s.Path] = s
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(when string) {
		got := walk()
		db, api := got["app/db"], got["app/api"]
		if len(got) != 2 || !db.LastRead.Equal(readAt) || !api.LastRead.IsZero() {
			t.Errorf("%s: last reads = %v / %v, want %v / zero", when, db.LastRead, api.LastRead, readAt)
		}
		if !api.ExpireTime.Equal(expireAt) || !db.ExpireTime.IsZero() {
			t.Errorf("%s: expire times %v / %v, want zero / %v", when, db.ExpireTime, api.ExpireTime, expireAt)
		}
		if db.CreatedByAccessor != "acc-2" || db.CreatedByEntity != "ent-2" || db.CurrentVersion != 2 {
			t.Errorf("%s: created by %q/%q v%d, want acc-2/ent-2 v2", when, db.CreatedByAccessor, db.CreatedByEntity, db.CurrentVersion)
		}
	}
	check("pending")
	if err := b.Periodic(ctx); err != nil {
		t.Fatal(err)
	}
	if keysUnder(h, lastReadPrefix) != 1 {
		t.Fatalf("after a flush: %d last-read entries, want 1", keysUnder(h, lastReadPrefix))
	}
	check("flushed")

	// A new backend on the same storage (a restart) sees the flushed time.
	b2, err := Factory(ctx, h.Env)
	if err != nil {
		t.Fatal(err)
	}
	b = b2.(*backendV2)
	check("after a restart")

	// A metadata read names who wrote each version; a data read never.
	lr := h.Request(opRead, "metadata/app/db", "")
	lr.Access = prefixAccess{"read:sys/access/search"}
	resp, err := h.Send(lr)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%+v", resp.Data); !strings.Contains(s, "CreatedByAccessor:acc-2 CreatedByEntityID:ent-2") || !strings.Contains(s, "CreatedByAccessor:acc-1") {
		t.Errorf("metadata answer does not name each version's writer: %s", s)
	}
	resp = h.must(req{op: opRead, path: "data/app/db"})
	if s := fmt.Sprintf("%+v", resp.Data); strings.Contains(s, "acc-2") || strings.Contains(s, "ent-2") {
		t.Errorf("data answer names the writer: %s", s)
	}
	// Deleting the key deletes its last-read entry.
	h.must(req{op: logical.DeleteOperation, path: "metadata/app/db"})
	if keysUnder(h, lastReadPrefix) != 0 {
		t.Error("last-read entry left after the key's metadata was deleted")
	}
}

func keysUnder(h *harness, prefix string) int {
	n := 0
	for k := range h.Storage.Snapshot() {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func TestWalkSecretsPrefix(t *testing.T) {
	h := newHarness(t, "2")
	for _, k := range recursiveKeys {
		h.must(req{op: opUpdate, path: "data/" + k, body: `{"data":{"k":"v"}}`})
	}
	b := h.Backend.(*backendV2)
	tests := []struct {
		prefix, after string
		want          []string
	}{
		{"", "", recursiveKeysSorted()},
		{"a", "", []string{"a", "a-b", "a/x", "a/y/z", "a0"}},
		{"a/", "", []string{"a/x", "a/y/z"}},
		{"team/app/d", "", []string{"team/app/db"}},
		{"team/", "team/app/api", []string{"team/app/db", "team/web/tls"}},
		{"nothing/", "", nil},
	}
	for _, tc := range tests {
		var got []string
		err := b.WalkSecretsAfter(t.Context(), tc.prefix, tc.after, func(s logical.SecretInfo) (bool, error) {
			got = append(got, s.Path)
			return true, nil
		})
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("walk %q after %q = %q, %v; want %q", tc.prefix, tc.after, got, err, tc.want)
		}
	}
}

func recursiveKeysSorted() []string {
	s := slices.Clone(recursiveKeys)
	slices.Sort(s)
	return s
}

// BenchmarkRecursiveList100k pages through a recursive list of 100,000
// keys in 100 folders, 1,000 keys a page, as `coffer kv list -r` does.
// The storage is an ordered one (as bolt and PostgreSQL are), so that the
// figure is the engine's and not the test storage's linear List.
func BenchmarkRecursiveList100k(b *testing.B) {
	ctx := context.Background()
	h := newOrderedHarness(b)
	access := prefixAccess{"read:secret/data/"}
	b.ReportAllocs()
	for b.Loop() {
		after, n := "", 0
		for {
			r := &logical.Request{Operation: opList, Path: "metadata/", MountPoint: "secret/", Access: access,
				Query: url.Values{"recursive": {"true"}, "after": {after}, "limit": {"1000"}}}
			resp, err := h.Backend.HandleRequest(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			if resp == nil {
				break
			}
			l := resp.Data.(*recursiveList)
			n += len(l.Keys)
			if l.NextAfter == "" {
				break
			}
			after = l.NextAfter
		}
		if n != 100000 {
			b.Fatalf("listed %d keys, want 100000", n)
		}
	}
}

// newOrderedHarness is a v2 backend over an ordered storage holding
// 100,000 keys, f000/s0000 to f099/s0999, each with one version.
func newOrderedHarness(b *testing.B) *harness {
	st := &orderedStorage{data: map[string][]byte{}}
	meta := []byte(`{"created":1,"updated":1,"current":1,"oldest":1,"versions":[{"n":1,"created":1,"accessor":"acc"}],"custom_metadata":{"owner":"ops"}}`)
	for f := range 100 {
		for k := range 1000 {
			st.data[fmt.Sprintf("%sf%03d/s%04d", metaPrefix, f, k)] = meta
		}
	}
	st.keys = slices.Sorted(maps.Keys(st.data))
	env := logicaltest.NewEnv(map[string]string{"version": "2"})
	env.Storage = st
	return &harness{logicaltest.NewHarness(b, Factory, env)}
}

// BenchmarkWalkSecrets100k walks 100,000 keys as a search does, reading
// each key's metadata and last-read entry.
func BenchmarkWalkSecrets100k(b *testing.B) {
	h := newOrderedHarness(b)
	w := h.Backend.(logical.SecretWalker)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := w.WalkSecrets(b.Context(), "", func(logical.SecretInfo) (bool, error) {
			n++
			return true, nil
		})
		if err != nil || n != 100000 {
			b.Fatalf("walked %d keys, %v", n, err)
		}
	}
}

// orderedStorage is a read-only storage over sorted keys whose List seeks
// to the prefix and past each folder, as the bolt storage does.
type orderedStorage struct {
	logical.Storage // nil: writes are not used
	data            map[string][]byte
	keys            []string
}

func (s *orderedStorage) Get(_ context.Context, key string) (*logical.StorageEntry, error) {
	v, ok := s.data[key]
	if !ok {
		return nil, nil
	}
	return &logical.StorageEntry{Key: key, Value: v}, nil
}

func (s *orderedStorage) List(_ context.Context, prefix string) ([]string, error) {
	var out []string
	i, _ := slices.BinarySearch(s.keys, prefix)
	for i < len(s.keys) && strings.HasPrefix(s.keys[i], prefix) {
		rest := s.keys[i][len(prefix):]
		j := strings.IndexByte(rest, '/')
		if j < 0 {
			out = append(out, rest)
			i++
			continue
		}
		// A folder: seek past it, as bolt does ("0" follows "/").
		out = append(out, rest[:j+1])
		i, _ = slices.BinarySearch(s.keys, prefix+rest[:j]+"0")
	}
	return out, nil
}

// FuzzRecursiveList writes the keys of a newline-separated list and checks
// that a recursive list after a key answers exactly the valid keys that
// sort after it, in byte order, and that a walk page by page sees them
// all once.
func FuzzRecursiveList(f *testing.F) {
	f.Add("a\na-b\na/x\na/y/z\na0\nb/c", "a/", uint8(2))
	f.Add("x/y\nx\nx0/z\nx.y", "x", uint8(1))
	f.Add("é/a\ne/b\n~", "", uint8(3))
	f.Fuzz(func(t *testing.T, list, after string, limit uint8) {
		keys := map[string]bool{}
		for k := range strings.SplitSeq(list, "\n") {
			if len(keys) < 20 && checkPath(k) == nil && len(k) < 100 {
				keys[k] = true
			}
		}
		h := newHarness(t, "2")
		for k := range keys {
			r := h.Request(opUpdate, "data/"+k, `{"data":{"k":"v"}}`)
			if _, err := h.Send(r); err != nil {
				t.Fatalf("write %q: %v", k, err)
			}
		}
		// Keys that are also folders of other keys are still keys.
		var want []string
		for k := range keys {
			if k > after {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		q := url.Values{"recursive": {"true"}, "after": {after}}
		if strings.ContainsRune(after, 0) {
			return
		}
		got, err := listKeys(t, h, "2", "metadata/", prefixAccess{"read:secret/data/"}, q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("after %q: keys = %q, want %q", after, got, want)
		}
		n := int(limit%5) + 1
		var paged []string
		for cursor := after; ; {
			q := url.Values{"recursive": {"true"}, "after": {cursor}, "limit": {strconv.Itoa(n)}}
			page, err := listKeys(t, h, "2", "metadata/", prefixAccess{"read:secret/data/"}, q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, page...)
			if len(page) < n {
				break
			}
			cursor = page[len(page)-1]
		}
		if !slices.Equal(paged, want) {
			t.Fatalf("pages of %d after %q = %q, want %q", n, after, paged, want)
		}
	})
}
