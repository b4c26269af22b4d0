package search_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// Two teams share the secret/ mount; each may read its own secrets and
// list everything's metadata folders, and search with sudo.
const (
	teamPolicy = `
path "secret/data/TEAM/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/" { capabilities = ["list"] }
path "secret/metadata/TEAM/" { capabilities = ["list"] }
path "sys/access/search" { capabilities = ["read", "sudo"] }
`
	// noSudoPolicy may read everything but not search.
	noSudoPolicy = `
path "secret/*" { capabilities = ["read", "list"] }
path "sys/access/search" { capabilities = ["read"] }
`
)

type fixture struct {
	srv          *testserver.Server
	root, a, b   *api.Client
	accA, accB   string
	secretValues []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := testserver.Start(t)
	f := &fixture{srv: s, root: s.Client}
	sys := s.Client.Sys()
	for _, team := range []string{"alpha", "beta"} {
		if err := sys.PutPolicy(team, strings.ReplaceAll(teamPolicy, "TEAM", team)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sys.PutPolicy("nosudo", noSudoPolicy); err != nil {
		t.Fatal(err)
	}
	f.a, f.accA = f.token(t, "alpha")
	f.b, f.accB = f.token(t, "beta")
	put := func(cl *api.Client, p string, meta map[string]any) {
		t.Helper()
		v := "value-of-" + p
		f.secretValues = append(f.secretValues, v)
		if _, err := cl.KVv2("secret").Put(t.Context(), p, map[string]any{"password": v}); err != nil {
			t.Fatalf("put %s: %v", p, err)
		}
		if meta != nil {
			if err := s.Client.KVv2("secret").PutMetadata(t.Context(), p, api.KVMetadataPutInput{CustomMetadata: meta}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(f.a, "alpha/db", map[string]any{"owner": "alpha", "tier": "prod"})
	put(f.a, "alpha/api", map[string]any{"owner": "alpha", "tier": "dev"})
	put(f.a, "alpha/deep/x/y", nil)
	put(f.b, "beta/db", map[string]any{"owner": "beta", "tier": "prod"})
	put(f.b, "beta/cache", nil)
	put(f.root, "shared/ca", nil)
	return f
}

// token makes a token with policy and returns a client for it and its
// accessor.
func (f *fixture) token(t *testing.T, policy string) (*api.Client, string) {
	t.Helper()
	sec, err := f.root.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policy}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := f.root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(sec.Auth.ClientToken)
	return cl, sec.Auth.Accessor
}

// recursiveList lists secret/metadata/<path> recursively with extra query
// parameters, through the official client (GET ?list=true).
func recursiveList(t *testing.T, cl *api.Client, path string, q map[string][]string) ([]string, []string) {
	t.Helper()
	data := map[string][]string{"list": {"true"}, "recursive": {"true"}}
	for k, v := range q {
		data[k] = v
	}
	sec, err := cl.Logical().ReadWithDataWithContext(t.Context(), "secret/metadata/"+path, data)
	if err != nil {
		t.Fatalf("recursive list %s: %v", path, err)
	}
	if sec == nil {
		return nil, nil
	}
	var keys []string
	for _, k := range sec.Data["keys"].([]any) {
		keys = append(keys, k.(string))
	}
	return keys, sec.Warnings
}

func TestRecursiveListPerToken(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		cl   *api.Client
		path string
		q    map[string][]string
		want []string
	}{
		{"root sees every key", f.root, "", nil, []string{"alpha/api", "alpha/db", "alpha/deep/x/y", "beta/cache", "beta/db", "shared/ca"}},
		{"alpha sees its own", f.a, "", nil, []string{"alpha/api", "alpha/db", "alpha/deep/x/y"}},
		{"beta sees its own", f.b, "", nil, []string{"beta/cache", "beta/db"}},
		{"under a folder", f.a, "alpha/", nil, []string{"api", "db", "deep/x/y"}},
		{"first page", f.root, "", map[string][]string{"limit": {"2"}}, []string{"alpha/api", "alpha/db"}},
		{"next page", f.root, "", map[string][]string{"limit": {"2"}, "after": {"alpha/db"}}, []string{"alpha/deep/x/y", "beta/cache"}},
		{"last page", f.root, "", map[string][]string{"limit": {"2"}, "after": {"beta/db"}}, []string{"shared/ca"}},
		{"filtered page", f.b, "", map[string][]string{"limit": {"1"}, "after": {"alpha/zzz"}}, []string{"beta/cache"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := recursiveList(t, tc.cl, tc.path, tc.q)
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys = %q, want %q", got, tc.want)
			}
		})
	}
	// The LIST verb takes the same parameters as GET ?list=true.
	req, err := http.NewRequestWithContext(t.Context(), "LIST", f.srv.Addr+"/v1/secret/metadata/?recursive=true&limit=1&after=beta/cache", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", f.b.Token())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Data struct{ Keys []string } `json:"data"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !slices.Equal(body.Data.Keys, []string{"beta/db"}) {
		t.Errorf("LIST verb: %d %q %v, want 200 [beta/db]", res.StatusCode, body.Data.Keys, err)
	}

	// Beta may not list alpha's folder at all: the ACL refuses the request.
	_, err = f.b.Logical().ReadWithDataWithContext(t.Context(), "secret/metadata/alpha/", map[string][]string{"list": {"true"}, "recursive": {"true"}})
	wantStatus(t, "beta lists alpha/", err, http.StatusForbidden)
	// A bad limit is a 400 that says what to fix.
	_, err = f.root.Logical().ReadWithDataWithContext(t.Context(), "secret/metadata/", map[string][]string{"list": {"true"}, "recursive": {"true"}, "limit": {"many"}})
	wantStatus(t, "bad limit", err, http.StatusBadRequest)
}

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	re, ok := errors.AsType[*api.ResponseError](err)
	if !ok || re.StatusCode != status {
		t.Fatalf("%s: err = %v, want status %d", what, err, status)
	}
}

type hit struct {
	Mount             string            `json:"mount"`
	Path              string            `json:"path"`
	CurrentVersion    int               `json:"current_version"`
	LastReadTime      string            `json:"last_read_time"`
	CreatedByAccessor string            `json:"created_by_accessor"`
	CustomMetadata    map[string]string `json:"custom_metadata"`
}

func search(t *testing.T, cl *api.Client, q map[string][]string) ([]hit, string) {
	t.Helper()
	sec, err := cl.Logical().ReadWithDataWithContext(t.Context(), "sys/access/search", q)
	if err != nil {
		t.Fatalf("search %v: %v", q, err)
	}
	raw, err := json.Marshal(sec.Data["secrets"])
	if err != nil {
		t.Fatal(err)
	}
	var hits []hit
	if err := json.Unmarshal(raw, &hits); err != nil {
		t.Fatal(err)
	}
	return hits, string(raw)
}

func paths(hits []hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Mount + h.Path
	}
	return out
}

func TestSearch(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		cl   *api.Client
		q    map[string][]string
		want []string
	}{
		{"everything, root", f.root, nil, []string{"secret/alpha/api", "secret/alpha/db", "secret/alpha/deep/x/y", "secret/beta/cache", "secret/beta/db", "secret/shared/ca"}},
		{"alpha's view", f.a, nil, []string{"secret/alpha/api", "secret/alpha/db", "secret/alpha/deep/x/y"}},
		{"beta's view", f.b, nil, []string{"secret/beta/cache", "secret/beta/db"}},
		{"glob within a segment", f.root, map[string][]string{"glob": {"secret/*/db"}}, []string{"secret/alpha/db", "secret/beta/db"}},
		{"glob across segments", f.root, map[string][]string{"glob": {"secret/alpha/**"}}, []string{"secret/alpha/api", "secret/alpha/db", "secret/alpha/deep/x/y"}},
		{"glob, filtered by the ACL", f.b, map[string][]string{"glob": {"secret/*/db"}}, []string{"secret/beta/db"}},
		{"custom metadata", f.root, map[string][]string{"meta": {"tier=prod"}}, []string{"secret/alpha/db", "secret/beta/db"}},
		{"two metadata conditions", f.root, map[string][]string{"meta": {"tier=prod", "owner=beta"}}, []string{"secret/beta/db"}},
		{"metadata key present", f.root, map[string][]string{"meta": {"owner"}}, []string{"secret/alpha/api", "secret/alpha/db", "secret/beta/db"}},
		{"created by an accessor", f.root, map[string][]string{"created_by": {f.accB}}, []string{"secret/beta/cache", "secret/beta/db"}},
		{"mount", f.root, map[string][]string{"mount": {"secret"}, "glob": {"secret/shared/*"}}, []string{"secret/shared/ca"}},
		{"other mount", f.root, map[string][]string{"mount": {"nothing"}}, nil},
		{"updated after now", f.root, map[string][]string{"updated_after": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}, nil},
		{"page", f.root, map[string][]string{"limit": {"2"}, "after": {"secret/alpha/db"}}, []string{"secret/alpha/deep/x/y", "secret/beta/cache"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits, raw := search(t, tc.cl, tc.q)
			if got := paths(hits); !slices.Equal(got, tc.want) {
				t.Errorf("paths = %q, want %q", got, tc.want)
			}
			for _, v := range f.secretValues {
				if strings.Contains(raw, v) {
					t.Errorf("the answer holds a secret value: %s", raw)
				}
			}
			if strings.Contains(raw, f.root.Token()) || strings.Contains(raw, f.a.Token()) || strings.Contains(raw, f.b.Token()) {
				t.Errorf("the answer holds a token: %s", raw)
			}
		})
	}

	// A token that may list no metadata folder of the mount finds nothing
	// there, even with read on the data.
	if err := f.root.Sys().PutPolicy("nolist", `
path "secret/data/*" { capabilities = ["read"] }
path "sys/access/search" { capabilities = ["read", "sudo"] }
`); err != nil {
		t.Fatal(err)
	}
	nolist, _ := f.token(t, "nolist")
	if hits, _ := search(t, nolist, nil); len(hits) != 0 {
		t.Errorf("a token that may list nothing found %q", paths(hits))
	}

	// Search needs sudo on sys/access/search.
	nosudo, _ := f.token(t, "nosudo")
	_, err := nosudo.Logical().ReadWithDataWithContext(t.Context(), "sys/access/search", nil)
	wantStatus(t, "search without sudo", err, http.StatusForbidden)
	for _, q := range []map[string][]string{
		{"updated_before": {"yesterday"}}, {"limit": {"100000"}}, {"meta": {"=x"}}, {"glob": {strings.Repeat("*", 2000)}},
	} {
		_, err := f.root.Logical().ReadWithDataWithContext(t.Context(), "sys/access/search", q)
		wantStatus(t, "bad query", err, http.StatusBadRequest)
	}
}

// TestSearchLastRead reads one secret, seals and unseals the server (the
// mount flushes its last-read times when it goes away) and searches for
// the secrets not read since the test began.
func TestSearchLastRead(t *testing.T) {
	f := newFixture(t)
	began := time.Now().UTC()
	if _, err := f.a.KVv2("secret").Get(t.Context(), "alpha/db"); err != nil {
		t.Fatal(err)
	}
	if err := f.root.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.root.Sys().Unseal(f.srv.UnsealKeys[0]); err != nil {
		t.Fatal(err)
	}
	hits, _ := search(t, f.root, map[string][]string{"glob": {"secret/alpha/*"}})
	for _, h := range hits {
		read := h.LastReadTime != ""
		if read != (h.Path == "alpha/db") {
			t.Errorf("%s: last read %q", h.Path, h.LastReadTime)
		}
		if h.CreatedByAccessor != f.accA {
			t.Errorf("%s: created by %q, want alpha's accessor", h.Path, h.CreatedByAccessor)
		}
	}
	hits, _ = search(t, f.root, map[string][]string{"glob": {"secret/alpha/*"}, "not_read_since": {began.Format(time.RFC3339Nano)}})
	if got, want := paths(hits), []string{"secret/alpha/api"}; !slices.Equal(got, want) {
		t.Errorf("not read since the start = %q, want %q", got, want)
	}
}

// TestSearchMetadataNeedsMetadataRead: two tokens see alpha's secrets,
// one by data read, one also by metadata read. Only the second gets
// their metadata, and only for it do filters on metadata match, so that
// a filter tells the first nothing about metadata it may not read.
func TestSearchMetadataNeedsMetadataRead(t *testing.T) {
	f := newFixture(t)
	if err := f.root.Sys().PutPolicy("alphameta", strings.ReplaceAll(teamPolicy, "TEAM", "alpha")+`
path "secret/metadata/alpha/*" { capabilities = ["read"] }
`); err != nil {
		t.Fatal(err)
	}
	meta, _ := f.token(t, "alphameta")
	all := []string{"secret/alpha/api", "secret/alpha/db", "secret/alpha/deep/x/y"}
	tests := []struct {
		name     string
		cl       *api.Client
		q        map[string][]string
		want     []string
		wantMeta bool
	}{
		{"data read: paths only", f.a, nil, all, false},
		{"data read: custom_metadata filter tells nothing", f.a, map[string][]string{"meta": {"owner=alpha"}}, nil, false},
		{"data read: created_by filter tells nothing", f.a, map[string][]string{"created_by": {f.accA}}, nil, false},
		{"data read: not_read_since filter tells nothing", f.a, map[string][]string{"not_read_since": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}, nil, false},
		{"data read: glob still works", f.a, map[string][]string{"glob": {"secret/alpha/d*"}}, []string{"secret/alpha/db"}, false},
		{"metadata read: metadata shown", meta, nil, all, true},
		{"metadata read: custom_metadata filter", meta, map[string][]string{"meta": {"owner=alpha"}}, []string{"secret/alpha/api", "secret/alpha/db"}, true},
		{"metadata read: created_by filter", meta, map[string][]string{"created_by": {f.accA}}, all, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits, raw := search(t, tc.cl, tc.q)
			if got := paths(hits); !slices.Equal(got, tc.want) {
				t.Errorf("paths = %q, want %q", got, tc.want)
			}
			for _, h := range hits {
				shown := h.CurrentVersion != 0 || h.CreatedByAccessor != "" || h.CustomMetadata != nil
				if shown != tc.wantMeta {
					t.Errorf("%s: metadata shown %v, want %v: %s", h.Path, shown, tc.wantMeta, raw)
				}
			}
		})
	}
}
