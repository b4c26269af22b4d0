package kv

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestV2Config(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	logicaltest.DiffJSON(t, "default config", `{"cas_required":false,"delete_version_after":"0s","expiry_notice":"168h0m0s","max_versions":0,"recovery_window_days":0}`,
		h.must(req{op: opRead, path: "config"}))
	h.must(req{op: opUpdate, path: "config", body: `{"max_versions":"5","delete_version_after":"3h25m19s"}`})
	h.must(req{op: opUpdate, path: "config", body: `{"cas_required":true}`}) // other fields kept
	logicaltest.DiffJSON(t, "config", `{"cas_required":true,"delete_version_after":"3h25m19s","expiry_notice":"168h0m0s","max_versions":5,"recovery_window_days":0}`,
		h.must(req{op: opRead, path: "config"}))

	for _, body := range []string{`{"max_versions":-1}`, `{"delete_version_after":"-1s"}`, `{"cas_required":"maybe"}`} {
		_, err := h.do(req{op: opUpdate, path: "config", body: body})
		logicaltest.WantKind(t, "config "+body, err, logical.ErrInvalidRequest)
	}
	// Unknown fields are ignored, as in Vault.
	if _, err := h.do(req{op: opUpdate, path: "config", body: `{"bogus":1}`}); err != nil {
		t.Errorf("config with an unknown field: %v", err)
	}
}

func TestV2WriteRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	t0 := h.ts(0)
	logicaltest.DiffJSON(t, "first write",
		`{"created_time":"`+t0+`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`,
		h.must(req{op: opCreate, path: "data/app/db", body: `{"data":{"password":"one"}}`}))
	h.Clock.Advance(time.Second)
	t1 := h.ts(0)
	logicaltest.DiffJSON(t, "second write",
		`{"created_time":"`+t1+`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}`,
		h.must(req{op: opUpdate, path: "data/app/db", body: `{"data":{"password":"two"},"options":{}}`}))

	tests := []struct {
		name  string
		r     req
		want  string // "" for no response
		not   bool   // want Response.NotFound
		wantE error
	}{
		{name: "latest", r: req{op: opRead, path: "data/app/db"},
			want: `{"data":{"password":"two"},"metadata":{"created_time":"` + t1 + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}}`},
		{name: "version 1", r: req{op: opRead, path: "data/app/db", query: "version=1"},
			want: `{"data":{"password":"one"},"metadata":{"created_time":"` + t0 + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}}`},
		{name: "version 0 is latest", r: req{op: opRead, path: "data/app/db", query: "version=0"},
			want: `{"data":{"password":"two"},"metadata":{"created_time":"` + t1 + `","custom_metadata":null,"deletion_time":"","destroyed":false,"version":2}}`},
		{name: "future version", r: req{op: opRead, path: "data/app/db", query: "version=3"}},
		{name: "bad version", r: req{op: opRead, path: "data/app/db", query: "version=x"}, wantE: logical.ErrInvalidRequest},
		{name: "missing key", r: req{op: opRead, path: "data/app/none"}},
		{name: "empty path", r: req{op: opRead, path: "data/"}, wantE: logical.ErrInvalidRequest},
		{name: "list data unsupported", r: req{op: opList, path: "data/"}, wantE: logical.ErrUnsupportedOperation},
		{name: "unknown root", r: req{op: opRead, path: "secret/app"}, wantE: logical.ErrUnsupportedPath},
		{name: "write no data", r: req{op: opUpdate, path: "data/x", body: `{"options":{}}`}, wantE: logical.ErrInvalidRequest},
		{name: "write null data", r: req{op: opUpdate, path: "data/x", body: `{"data":null}`}, wantE: logical.ErrInvalidRequest},
		{name: "write array data", r: req{op: opUpdate, path: "data/x", body: `{"data":[1]}`}, wantE: logical.ErrInvalidRequest},
		{name: "write string data", r: req{op: opUpdate, path: "data/x", body: `{"data":"s"}`}, wantE: logical.ErrInvalidRequest},
		{name: "write empty path", r: req{op: opUpdate, path: "data/", body: `{"data":{"a":1}}`}, wantE: logical.ErrInvalidRequest},
		{name: "write empty segment", r: req{op: opUpdate, path: "data/a//b", body: `{"data":{"a":1}}`}, wantE: logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.do(tt.r)
			if tt.wantE != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantE)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if resp != nil {
					t.Fatalf("got %+v, want no response", resp)
				}
				return
			}
			if resp.NotFound != tt.not {
				t.Errorf("NotFound = %v, want %v", resp.NotFound, tt.not)
			}
			logicaltest.DiffJSON(t, tt.name, tt.want, resp)
		})
	}

	// Unknown members, top-level or in options, are ignored with Vault's
	// warning; the write happens.
	resp := h.must(req{op: opUpdate, path: "data/unknown", body: `{"data":{"a":"1"},"options":{"x":1},"foo":1}`})
	if diff := cmp.Diff([]string{"Endpoint ignored these unrecognized parameters: [foo options.x]"}, resp.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	got := logicaltest.Data(t, h.must(req{op: opRead, path: "data/unknown"})).(map[string]any)["data"]
	if diff := cmp.Diff(logicaltest.JSON(t, `{"a":"1"}`), got); diff != "" {
		t.Errorf("read after an ignored field (-want +got):\n%s", diff)
	}
}

func TestV2ReadCostsTwoGets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`})
	before := h.Storage.Counts()
	h.must(req{op: opRead, path: "data/k"})
	if got := h.Storage.Counts().Gets - before.Gets; got > 2 {
		t.Errorf("read of the latest version did %d storage Gets, want at most 2", got)
	}
	before = h.Storage.Counts()
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"a":2}}`})
	after := h.Storage.Counts()
	if after.Txns-before.Txns != 1 || after.Puts != before.Puts || after.Deletes != before.Deletes {
		t.Errorf("write used %+v -> %+v, want exactly one Txn and no Put or Delete", before, after)
	}
}

func TestV2CAS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   []req
		write   string
		wantErr error
	}{
		{name: "cas 0 creates", write: `{"data":{"a":1},"options":{"cas":0}}`},
		{name: "cas 0 on existing", setup: []req{{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`}},
			write: `{"data":{"a":2},"options":{"cas":0}}`, wantErr: logical.ErrConflict},
		{name: "cas matches", setup: []req{{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`}},
			write: `{"data":{"a":2},"options":{"cas":1}}`},
		{name: "cas as string", setup: []req{{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`}},
			write: `{"data":{"a":2},"options":{"cas":"1"}}`},
		{name: "cas stale", setup: []req{
			{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`},
			{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`}},
			write: `{"data":{"a":2},"options":{"cas":1}}`, wantErr: logical.ErrConflict},
		{name: "mount requires cas", setup: []req{{op: opUpdate, path: "config", body: `{"cas_required":true}`}},
			write: `{"data":{"a":2}}`, wantErr: logical.ErrInvalidRequest},
		{name: "mount requires cas, given", setup: []req{{op: opUpdate, path: "config", body: `{"cas_required":true}`}},
			write: `{"data":{"a":2},"options":{"cas":0}}`},
		{name: "key requires cas", setup: []req{{op: opUpdate, path: "metadata/k", body: `{"cas_required":true}`}},
			write: `{"data":{"a":2}}`, wantErr: logical.ErrInvalidRequest},
		{name: "key requires cas, given", setup: []req{{op: opUpdate, path: "metadata/k", body: `{"cas_required":true}`}},
			write: `{"data":{"a":2},"options":{"cas":0}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			for _, r := range tt.setup {
				h.must(r)
			}
			before := h.Storage.Snapshot()
			_, err := h.do(req{op: opUpdate, path: "data/k", body: tt.write})
			if tt.wantErr != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantErr)
				if len(h.Storage.Snapshot()) != len(before) {
					t.Errorf("a refused write changed storage")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestV2VersionTrimming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		config     string // mount config body, or ""
		meta       string // key metadata body, or ""
		writes     int
		wantKept   []int
		wantOldest int
	}{
		{name: "default keeps 10", writes: 12, wantKept: seq(3, 12), wantOldest: 3},
		{name: "under the limit", writes: 4, wantKept: seq(1, 4), wantOldest: 0},
		{name: "mount max 3", config: `{"max_versions":3}`, writes: 5, wantKept: seq(3, 5), wantOldest: 3},
		{name: "key max 2 beats mount", config: `{"max_versions":3}`, meta: `{"max_versions":2}`, writes: 5, wantKept: seq(4, 5), wantOldest: 4},
		{name: "key max 1", meta: `{"max_versions":1}`, writes: 3, wantKept: seq(3, 3), wantOldest: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			if tt.config != "" {
				h.must(req{op: opUpdate, path: "config", body: tt.config})
			}
			if tt.meta != "" {
				h.must(req{op: opUpdate, path: "metadata/k", body: tt.meta})
			}
			for i := range tt.writes {
				h.must(req{op: opUpdate, path: "data/k", body: fmt.Sprintf(`{"data":{"n":%d}}`, i+1)})
			}
			md := logicaltest.Data(t, h.must(req{op: opRead, path: "metadata/k"})).(map[string]any)
			var kept []int
			for k := range md["versions"].(map[string]any) {
				var n int
				fmt.Sscan(k, &n)
				kept = append(kept, n)
			}
			slices.Sort(kept)
			if !slices.Equal(kept, tt.wantKept) {
				t.Errorf("versions kept = %v, want %v", kept, tt.wantKept)
			}
			if got := md["oldest_version"]; got != float64(tt.wantOldest) {
				t.Errorf("oldest_version = %v, want %d", got, tt.wantOldest)
			}
			if got := md["current_version"]; got != float64(tt.writes) {
				t.Errorf("current_version = %v, want %d", got, tt.writes)
			}
			// Trimmed versions are gone from storage too, kept ones readable.
			snap := h.Storage.Snapshot()
			for n := 1; n <= tt.writes; n++ {
				_, stored := snap[verKey("k", n)]
				if want := slices.Contains(tt.wantKept, n); stored != want {
					t.Errorf("version %d stored = %v, want %v", n, stored, want)
				}
				resp := h.must(req{op: opRead, path: "data/k", query: fmt.Sprintf("version=%d", n)})
				if (resp != nil) != slices.Contains(tt.wantKept, n) {
					t.Errorf("read version %d = %+v, want present %v", n, resp, slices.Contains(tt.wantKept, n))
				}
			}
		})
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestV2DeleteUndeleteDestroy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	for i := range 3 {
		h.must(req{op: opUpdate, path: "data/k", body: fmt.Sprintf(`{"data":{"n":%d}}`, i+1)})
	}
	created := h.ts(0)
	h.Clock.Advance(time.Minute)
	now := h.ts(0)

	readVersion := func(n int) *logical.Response {
		t.Helper()
		return h.must(req{op: opRead, path: "data/k", query: fmt.Sprintf("version=%d", n)})
	}
	wantGone := func(n int, deletion string, destroyed bool) {
		t.Helper()
		resp := readVersion(n)
		if resp == nil || !resp.NotFound {
			t.Fatalf("read version %d = %+v, want a NotFound response", n, resp)
		}
		logicaltest.DiffJSON(t, fmt.Sprintf("gone version %d", n), fmt.Sprintf(
			`{"data":null,"metadata":{"created_time":%q,"custom_metadata":null,"deletion_time":%q,"destroyed":%v,"version":%d}}`,
			created, deletion, destroyed, n), resp)
	}
	wantReadable := func(n int) {
		t.Helper()
		resp := readVersion(n)
		if resp == nil || resp.NotFound {
			t.Fatalf("read version %d = %+v, want the data", n, resp)
		}
		logicaltest.DiffJSON(t, fmt.Sprintf("version %d data", n), fmt.Sprintf(`{"n":%d}`, n),
			&logical.Response{Data: resp.Data.(*dataResponse).Data})
	}

	// Soft-delete the latest version.
	h.must(req{op: opDelete, path: "data/k"})
	wantGone(3, now, false)
	if resp := h.must(req{op: opRead, path: "data/k"}); resp == nil || !resp.NotFound {
		t.Errorf("read latest after delete = %+v, want NotFound with metadata", resp)
	}
	wantReadable(2)

	// Delete versions 1 and 2 by list (numbers and strings both accepted).
	h.must(req{op: opUpdate, path: "delete/k", body: `{"versions":[1,"2"]}`})
	wantGone(1, now, false)
	wantGone(2, now, false)

	// Undelete 1 and 3; 2 stays deleted.
	h.must(req{op: opUpdate, path: "undelete/k", body: `{"versions":"1,3"}`})
	wantReadable(1)
	wantReadable(3)
	wantGone(2, now, false)

	// Destroy 2 and 3: data leaves storage, undelete cannot bring it back.
	h.must(req{op: opUpdate, path: "destroy/k", body: `{"versions":[2,3]}`})
	wantGone(3, "", true)
	wantGone(2, now, true)
	if _, ok := h.Storage.Snapshot()[verKey("k", 3)]; ok {
		t.Errorf("destroyed version 3 still in storage")
	}
	h.must(req{op: opUpdate, path: "undelete/k", body: `{"versions":[3]}`})
	wantGone(3, "", true)
	wantReadable(1)

	// Errors and no-ops.
	for _, path := range []string{"delete/k", "undelete/k", "destroy/k"} {
		_, err := h.do(req{op: opUpdate, path: path, body: `{}`})
		logicaltest.WantKind(t, path+" without versions", err, logical.ErrInvalidRequest)
		_, err = h.do(req{op: opUpdate, path: path, body: `{"versions":[-1]}`})
		logicaltest.WantKind(t, path+" negative version", err, logical.ErrInvalidRequest)
		_, err = h.do(req{op: opUpdate, path: path, body: `{"versions":{"a":1}}`})
		logicaltest.WantKind(t, path+" object versions", err, logical.ErrInvalidRequest)
		h.must(req{op: opUpdate, path: path, body: `{"versions":[99]}`})
		h.must(req{op: opUpdate, path: strings.Replace(path, "/k", "/missing", 1), body: `{"versions":[1]}`})
	}
	h.must(req{op: opDelete, path: "data/missing"})
}

func TestV2DeleteVersionAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, config, meta string
		wantAfter          time.Duration
	}{
		{name: "mount", config: `{"delete_version_after":"1h"}`, wantAfter: time.Hour},
		{name: "key", meta: `{"delete_version_after":1800}`, wantAfter: 30 * time.Minute},
		{name: "key shorter than mount", config: `{"delete_version_after":"1h"}`, meta: `{"delete_version_after":"10m"}`, wantAfter: 10 * time.Minute},
		{name: "key longer than mount is capped", config: `{"delete_version_after":"1h"}`, meta: `{"delete_version_after":"2h"}`, wantAfter: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			if tt.config != "" {
				h.must(req{op: opUpdate, path: "config", body: tt.config})
			}
			if tt.meta != "" {
				h.must(req{op: opUpdate, path: "metadata/k", body: tt.meta})
			}
			resp := h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`})
			if got, want := logicaltest.Data(t, resp).(map[string]any)["deletion_time"], h.ts(tt.wantAfter); got != want {
				t.Errorf("deletion_time = %v, want %v", got, want)
			}
			h.Clock.Advance(tt.wantAfter - time.Nanosecond)
			if resp := h.must(req{op: opRead, path: "data/k"}); resp == nil || resp.NotFound {
				t.Fatalf("read just before deletion = %+v, want data", resp)
			}
			h.Clock.Advance(time.Nanosecond)
			if resp := h.must(req{op: opRead, path: "data/k"}); resp == nil || !resp.NotFound {
				t.Fatalf("read at deletion time = %+v, want NotFound", resp)
			}
		})
	}
}

func TestV2Patch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		start   string // data of version 1, or "" for no secret
		patch   string
		want    string
		wantErr error
	}{
		{name: "add and replace", start: `{"a":1,"b":"x"}`, patch: `{"data":{"b":"y","c":true}}`, want: `{"a":1,"b":"y","c":true}`},
		{name: "null removes", start: `{"a":1,"b":2}`, patch: `{"data":{"a":null}}`, want: `{"b":2}`},
		{name: "nested merge", start: `{"o":{"x":1,"y":{"z":2}}}`, patch: `{"data":{"o":{"y":{"z":null,"w":3},"v":4}}}`, want: `{"o":{"x":1,"y":{"w":3},"v":4}}`},
		{name: "object replaces scalar", start: `{"a":1}`, patch: `{"data":{"a":{"b":null,"c":1}}}`, want: `{"a":{"c":1}}`},
		{name: "array replaced whole", start: `{"a":[1,2,3]}`, patch: `{"data":{"a":[4]}}`, want: `{"a":[4]}`},
		{name: "big numbers kept", start: `{"n":12345678901234567890}`, patch: `{"data":{"m":0.1}}`, want: `{"m":0.1,"n":12345678901234567890}`},
		{name: "cas ok", start: `{"a":1}`, patch: `{"data":{"a":2},"options":{"cas":1}}`, want: `{"a":2}`},
		{name: "cas mismatch", start: `{"a":1}`, patch: `{"data":{"a":2},"options":{"cas":0}}`, wantErr: logical.ErrConflict},
		{name: "missing secret", patch: `{"data":{"a":2}}`, wantErr: logical.ErrNotFound},
		{name: "not an object", start: `{"a":1}`, patch: `{"data":[1]}`, wantErr: logical.ErrInvalidRequest},
		{name: "malformed", start: `{"a":1}`, patch: `{"data":{`, wantErr: logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			if tt.start != "" {
				h.must(req{op: opUpdate, path: "data/k", body: `{"data":` + tt.start + `}`})
			}
			resp, err := h.do(req{op: opPatch, path: "data/k", body: tt.patch})
			if tt.wantErr != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v := logicaltest.Data(t, resp).(map[string]any)["version"]; v != 2.0 {
				t.Errorf("patch created version %v, want 2", v)
			}
			got := h.must(req{op: opRead, path: "data/k"}).Data.(*dataResponse).Data
			logicaltest.DiffJSON(t, "patched data", tt.want, &logical.Response{Data: got})
			if tt.name == "big numbers kept" && !strings.Contains(string(got), "12345678901234567890") {
				t.Errorf("patched data %s lost number precision", got)
			}
		})
	}
}

func TestV2PatchDeletedLatest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`})
	h.must(req{op: opDelete, path: "data/k"})
	_, err := h.do(req{op: opPatch, path: "data/k", body: `{"data":{"a":2}}`})
	logicaltest.WantKind(t, "patch of a deleted latest version", err, logical.ErrNotFound)
}

func TestV2Metadata(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	t0 := h.ts(0)
	h.must(req{op: opUpdate, path: "data/app/db", body: `{"data":{"a":1}}`})
	h.Clock.Advance(time.Second)
	t1 := h.ts(0)
	h.must(req{op: opUpdate, path: "data/app/db", body: `{"data":{"a":2}}`})
	h.must(req{op: opDelete, path: "data/app/db"})

	logicaltest.DiffJSON(t, "metadata", `{
		"cas_required": false, "created_time": "`+t0+`", "current_version": 2, "custom_metadata": null,
		"delete_version_after": "0s", "max_versions": 0, "oldest_version": 0, "updated_time": "`+t1+`",
		"versions": {
			"1": {"created_time": "`+t0+`", "deletion_time": "", "destroyed": false},
			"2": {"created_time": "`+t1+`", "deletion_time": "`+t1+`", "destroyed": false}
		}}`, h.must(req{op: opRead, path: "metadata/app/db"}))

	h.Clock.Advance(time.Second)
	t2 := h.ts(0)
	h.must(req{op: opUpdate, path: "metadata/app/db", body: `{"max_versions":5,"cas_required":true,"delete_version_after":"1h","custom_metadata":{"owner":"team","env":"prod"}}`})
	logicaltest.DiffJSON(t, "metadata after write", `{
		"cas_required": true, "created_time": "`+t0+`", "current_version": 2, "custom_metadata": {"owner":"team","env":"prod"},
		"delete_version_after": "1h0m0s", "max_versions": 5, "oldest_version": 0, "updated_time": "`+t2+`",
		"versions": {
			"1": {"created_time": "`+t0+`", "deletion_time": "", "destroyed": false},
			"2": {"created_time": "`+t1+`", "deletion_time": "`+t1+`", "destroyed": false}
		}}`, h.must(req{op: opRead, path: "metadata/app/db"}))

	// custom_metadata shows in data responses.
	resp := h.must(req{op: opRead, path: "data/app/db", query: "version=1"})
	if got := logicaltest.Data(t, resp).(map[string]any)["metadata"].(map[string]any)["custom_metadata"]; got == nil {
		t.Errorf("data read custom_metadata = nil, want the key's map")
	}

	// Patch: null removes a custom key, others merge; unset fields stay.
	h.must(req{op: opPatch, path: "metadata/app/db", body: `{"custom_metadata":{"env":null,"tier":"1"},"max_versions":7}`})
	md := logicaltest.Data(t, h.must(req{op: opRead, path: "metadata/app/db"})).(map[string]any)
	logicaltest.DiffJSON(t, "patched custom_metadata", `{"owner":"team","tier":"1"}`, &logical.Response{Data: md["custom_metadata"]})
	if md["max_versions"] != 7.0 || md["cas_required"] != true || md["delete_version_after"] != "1h0m0s" {
		t.Errorf("patched metadata = %v", md)
	}

	// A write replaces custom_metadata whole and leaves absent fields alone.
	h.must(req{op: opUpdate, path: "metadata/app/db", body: `{"custom_metadata":{"only":"one"}}`})
	md = logicaltest.Data(t, h.must(req{op: opRead, path: "metadata/app/db"})).(map[string]any)
	logicaltest.DiffJSON(t, "rewritten custom_metadata", `{"only":"one"}`, &logical.Response{Data: md["custom_metadata"]})
	if md["max_versions"] != 7.0 {
		t.Errorf("max_versions after write without it = %v, want 7", md["max_versions"])
	}

	_, err := h.do(req{op: opPatch, path: "metadata/none", body: `{"max_versions":1}`})
	logicaltest.WantKind(t, "patch missing metadata", err, logical.ErrNotFound)
	if resp := h.must(req{op: opRead, path: "metadata/none"}); resp != nil {
		t.Errorf("read missing metadata = %+v, want none", resp)
	}
	_, err = h.do(req{op: opUpdate, path: "metadata/", body: `{"max_versions":1}`})
	logicaltest.WantKind(t, "metadata write with empty path", err, logical.ErrInvalidRequest)

	// A metadata-only key has no versions.
	h.must(req{op: opUpdate, path: "metadata/fresh", body: `{"max_versions":2}`})
	if resp := h.must(req{op: opRead, path: "data/fresh"}); resp != nil {
		t.Errorf("data read of a metadata-only key = %+v, want none", resp)
	}
}

func TestV2CustomMetadataLimits(t *testing.T) {
	t.Parallel()
	many := make(map[string]string)
	for i := range maxCustomMetadataKeys + 1 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	manyJSON, _ := json.Marshal(many)
	delete(many, "k0")
	okJSON, _ := json.Marshal(many)
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{name: "64 keys", body: `{"custom_metadata":` + string(okJSON) + `}`},
		{name: "65 keys", body: `{"custom_metadata":` + string(manyJSON) + `}`, wantErr: true},
		{name: "long key", body: `{"custom_metadata":{"` + strings.Repeat("k", 129) + `":"v"}}`, wantErr: true},
		{name: "128-byte key", body: `{"custom_metadata":{"` + strings.Repeat("k", 128) + `":"v"}}`},
		{name: "long value", body: `{"custom_metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`, wantErr: true},
		{name: "512-byte value", body: `{"custom_metadata":{"k":"` + strings.Repeat("v", 512) + `"}}`},
		{name: "empty key", body: `{"custom_metadata":{"":"v"}}`, wantErr: true},
		{name: "non-string value", body: `{"custom_metadata":{"k":1}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			_, err := h.do(req{op: opUpdate, path: "metadata/k", body: tt.body})
			if tt.wantErr {
				logicaltest.WantKind(t, tt.name, err, logical.ErrInvalidRequest)
				if len(h.Storage.Snapshot()) != 0 {
					t.Errorf("refused metadata write changed storage")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// A patch that would push the map over the limit is refused too.
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "metadata/k", body: `{"custom_metadata":` + string(okJSON) + `}`})
	_, err := h.do(req{op: opPatch, path: "metadata/k", body: `{"custom_metadata":{"extra":"v"}}`})
	logicaltest.WantKind(t, "patch over the key limit", err, logical.ErrInvalidRequest)
}

func TestV2MetadataListAndDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "config", body: `{"max_versions":4}`})
	for _, p := range []string{"app/db", "app/api", "app/deep/x", "top"} {
		h.must(req{op: opUpdate, path: "data/" + p, body: `{"data":{"a":1}}`})
		h.must(req{op: opUpdate, path: "data/" + p, body: `{"data":{"a":2}}`})
	}
	tests := []struct {
		path, want string
	}{
		{path: "metadata/", want: `{"keys":["app/","top"]}`},
		{path: "metadata", want: `{"keys":["app/","top"]}`},
		{path: "metadata/app/", want: `{"keys":["api","db","deep/"]}`},
		{path: "metadata/app", want: `{"keys":["api","db","deep/"]}`},
		{path: "metadata/nothing/"},
	}
	for _, tt := range tests {
		resp := h.must(req{op: opList, path: tt.path})
		if tt.want == "" {
			if resp != nil {
				t.Errorf("list %q = %+v, want none", tt.path, resp)
			}
			continue
		}
		logicaltest.DiffJSON(t, "list "+tt.path, tt.want, resp)
	}

	h.must(req{op: opUpdate, path: "destroy/app/db", body: `{"versions":[1]}`})
	h.must(req{op: opDelete, path: "metadata/app/db"})
	for k := range h.Storage.Snapshot() {
		if strings.Contains(k, "app/db") {
			t.Errorf("storage key %q left after metadata delete", k)
		}
	}
	if resp := h.must(req{op: opRead, path: "data/app/db"}); resp != nil {
		t.Errorf("read after metadata delete = %+v, want none", resp)
	}
	logicaltest.DiffJSON(t, "list after delete", `{"keys":["api","deep/"]}`, h.must(req{op: opList, path: "metadata/app/"}))
	// The key starts over at version 1.
	resp := h.must(req{op: opUpdate, path: "data/app/db", body: `{"data":{"a":1},"options":{"cas":0}}`})
	if v := logicaltest.Data(t, resp).(map[string]any)["version"]; v != 1.0 {
		t.Errorf("version after metadata delete and rewrite = %v, want 1", v)
	}
	h.must(req{op: opDelete, path: "metadata/never"})
}

func TestV2Subkeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	created := h.ts(0)
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"foo":"abc","bar":{"baz":"def","q":{"r":1}},"quux":{},"arr":[{"x":1}]}}`})
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"only":1}}`})
	meta := func(v int) string {
		return fmt.Sprintf(`"metadata":{"created_time":%q,"custom_metadata":null,"deletion_time":"","destroyed":false,"version":%d}`, created, v)
	}
	tests := []struct {
		query, want string
	}{
		{query: "version=1", want: `{"subkeys":{"foo":null,"bar":{"baz":null,"q":{"r":null}},"quux":null,"arr":null},` + meta(1) + `}`},
		{query: "version=1&depth=1", want: `{"subkeys":{"foo":null,"bar":null,"quux":null,"arr":null},` + meta(1) + `}`},
		{query: "version=1&depth=2", want: `{"subkeys":{"foo":null,"bar":{"baz":null,"q":null},"quux":null,"arr":null},` + meta(1) + `}`},
		{query: "", want: `{"subkeys":{"only":null},` + meta(2) + `}`},
		{query: "version=9"},
	}
	for _, tt := range tests {
		resp := h.must(req{op: opRead, path: "subkeys/k", query: tt.query})
		if tt.want == "" {
			if resp != nil {
				t.Errorf("subkeys?%s = %+v, want none", tt.query, resp)
			}
			continue
		}
		logicaltest.DiffJSON(t, "subkeys?"+tt.query, tt.want, resp)
	}
	_, err := h.do(req{op: opRead, path: "subkeys/k", query: "depth=-1"})
	logicaltest.WantKind(t, "negative depth", err, logical.ErrInvalidRequest)

	h.must(req{op: opUpdate, path: "destroy/k", body: `{"versions":[2]}`})
	resp := h.must(req{op: opRead, path: "subkeys/k"})
	if resp == nil || !resp.NotFound || logicaltest.Data(t, resp).(map[string]any)["subkeys"] != nil {
		t.Errorf("subkeys of a destroyed version = %+v, want NotFound with subkeys null", resp)
	}
}

func TestV2Limits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	_, err := h.do(req{op: opUpdate, path: "data/big", body: `{"data":{"v":"` + strings.Repeat("x", MaxDataBytes) + `"}}`})
	logicaltest.WantKind(t, "1 MiB", err, logical.ErrTooLarge)
	_, err = h.do(req{op: opUpdate, path: "data/many", body: `{"data":` + manyKeys(MaxTopLevelKeys+1) + `}`})
	logicaltest.WantKind(t, "too many keys", err, logical.ErrInvalidRequest)
	h.must(req{op: opUpdate, path: "data/many", body: `{"data":` + manyKeys(MaxTopLevelKeys) + `}`})
	// A patch may not grow a secret past the limits either.
	_, err = h.do(req{op: opPatch, path: "data/many", body: `{"data":{"one-more":1}}`})
	logicaltest.WantKind(t, "patch past key limit", err, logical.ErrInvalidRequest)
	if len(h.Storage.Snapshot()) != 2 {
		t.Errorf("storage has %d keys, want 2 (meta and one version)", len(h.Storage.Snapshot()))
	}
}

func TestV2ExistenceCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "data/a", body: `{"data":{"x":1}}`})
	h.must(req{op: opUpdate, path: "metadata/m", body: `{"max_versions":1}`})
	ec := h.Backend.(logical.ExistenceChecker)
	tests := []struct {
		path            string
		exists, handled bool
	}{
		{path: "data/a", exists: true, handled: true},
		{path: "data/b", handled: true},
		{path: "data/m", exists: true, handled: true},
		{path: "metadata/a", exists: true, handled: true},
		{path: "metadata/b", handled: true},
		{path: "data/", handled: true},
		{path: "config"},
		{path: "destroy/a"},
	}
	for _, tt := range tests {
		exists, handled, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: tt.path})
		if err != nil || exists != tt.exists || handled != tt.handled {
			t.Errorf("ExistenceCheck(%q) = %v, %v, %v, want %v, %v, nil", tt.path, exists, handled, err, tt.exists, tt.handled)
		}
	}
}

// TestV2ConcurrentCAS has 64 writers race on each version with the same
// check-and-set value: exactly one must win each round.
func TestV2ConcurrentCAS(t *testing.T) {
	t.Parallel()
	h := newSlowHarness(t, "2")
	const writers, rounds = 64, 5
	for round := range rounds {
		results := make(chan error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				_, err := h.Backend.HandleRequest(t.Context(), &logical.Request{
					Operation: opUpdate, Path: "data/race",
					Body: json.RawMessage(fmt.Sprintf(`{"data":{"w":%d},"options":{"cas":%d}}`, w, round)),
				})
				results <- err
			})
		}
		wg.Wait()
		close(results)
		won := 0
		for err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, logical.ErrConflict):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d writers won, want exactly 1", round, won)
		}
	}
	md := logicaltest.Data(t, h.must(req{op: opRead, path: "metadata/race"})).(map[string]any)
	if md["current_version"] != float64(rounds) {
		t.Errorf("current_version = %v, want %d", md["current_version"], rounds)
	}
}

// TestV2ConcurrentWritersAndReaders mixes unconditional writers, readers,
// deletes and metadata reads on a few keys; run with -race.
func TestV2ConcurrentWritersAndReaders(t *testing.T) {
	t.Parallel()
	h := newSlowHarness(t, "2")
	h.must(req{op: opUpdate, path: "config", body: `{"max_versions":3}`})
	var wg sync.WaitGroup
	const perKey = 40
	for w := range 16 {
		wg.Go(func() {
			key := fmt.Sprintf("data/k%d", w%4)
			for i := range perKey {
				var r *logical.Request
				switch i % 4 {
				case 0, 1:
					r = &logical.Request{Operation: opUpdate, Path: key, Body: json.RawMessage(`{"data":{"i":1}}`)}
				case 2:
					r = &logical.Request{Operation: opRead, Path: key}
				case 3:
					r = &logical.Request{Operation: opRead, Path: strings.Replace(key, "data/", "metadata/", 1)}
				}
				if _, err := h.Backend.HandleRequest(t.Context(), r); err != nil {
					t.Errorf("%s %s: %v", r.Operation, r.Path, err)
				}
			}
		})
	}
	wg.Wait()
	for k := range 4 {
		md := logicaltest.Data(t, h.must(req{op: opRead, path: fmt.Sprintf("metadata/k%d", k)})).(map[string]any)
		// 4 workers per key, each writing perKey/2 times.
		if want := float64(4 * perKey / 2); md["current_version"] != want {
			t.Errorf("k%d current_version = %v, want %v (lost update)", k, md["current_version"], want)
		}
		if n := len(md["versions"].(map[string]any)); n != 3 {
			t.Errorf("k%d keeps %d versions, want 3", k, n)
		}
	}
}

func TestConformanceV2(t *testing.T) {
	t.Parallel()
	logicaltest.Run(t, Factory, logicaltest.Options{
		Config: map[string]string{"version": "2"},
		Writes: []*logical.Request{
			{Operation: opUpdate, Path: "config", Body: json.RawMessage(`{"max_versions":5}`)},
			{Operation: opCreate, Path: "data/app/db", Body: json.RawMessage(`{"data":{"password":"p"}}`)},
			{Operation: opUpdate, Path: "data/app/db", Body: json.RawMessage(`{"data":{"password":"q"}}`)},
			{Operation: opPatch, Path: "data/app/db", Body: json.RawMessage(`{"data":{"user":"u"}}`)},
			{Operation: opUpdate, Path: "metadata/app/db", Body: json.RawMessage(`{"custom_metadata":{"a":"b"}}`)},
			{Operation: opPatch, Path: "metadata/app/db", Body: json.RawMessage(`{"max_versions":4}`)},
			{Operation: opUpdate, Path: "delete/app/db", Body: json.RawMessage(`{"versions":[1]}`)},
			{Operation: opUpdate, Path: "undelete/app/db", Body: json.RawMessage(`{"versions":[1]}`)},
			{Operation: opUpdate, Path: "destroy/app/db", Body: json.RawMessage(`{"versions":[2]}`)},
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "config"},
			{Operation: opRead, Path: "data/app/db"},
			{Operation: opRead, Path: "metadata/app/db"},
			{Operation: opList, Path: "metadata/"},
			{Operation: opRead, Path: "subkeys/app/db"},
		},
	})
}
