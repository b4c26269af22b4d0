package kv

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// Callers of the Coffer extensions' tests (stage.go).
var (
	allAccess = prefixAccess{"read:secret/", "list:secret/", "create:secret/", "update:secret/", "patch:secret/", "delete:secret/"}
	// dataWriter may write data but not change metadata.
	dataWriter = prefixAccess{"read:secret/", "create:secret/data/", "update:secret/data/", "delete:secret/"}
	// metaPatcher may patch metadata but not write data.
	metaPatcher = prefixAccess{"read:secret/", "patch:secret/metadata/", "create:secret/data/", "delete:secret/"}
)

// xreq is a request of a Coffer extension test, sent as core would: with
// the mount point and the caller's ACL (allAccess when nil).
type xreq struct {
	access logical.AccessChecker
	op     logical.Operation
	path   string
	body   string
	query  string
}

func (h *harness) send(t *testing.T, r xreq) (*logical.Response, error) {
	t.Helper()
	q, err := url.ParseQuery(r.query)
	if err != nil {
		t.Fatal(err)
	}
	lr := h.Request(r.op, r.path, r.body)
	lr.Query, lr.MountPoint, lr.Access = q, "secret/", r.access
	if r.access == nil {
		lr.Access = allAccess
	}
	return h.Send(lr)
}

// kvState is what a Vault reader of key k sees: the value of data/k
// ("" for 404), current_version and custom_metadata.
type kvState struct {
	value   string
	current int
	custom  map[string]string
}

func (h *harness) state(t *testing.T) kvState {
	t.Helper()
	var s kvState
	if resp, err := h.send(t, xreq{op: opRead, path: "data/k"}); err != nil {
		t.Fatalf("read data/k: %v", err)
	} else if resp != nil && !resp.NotFound {
		s.value = string(resp.Data.(*dataResponse).Data)
	}
	resp, err := h.send(t, xreq{op: opRead, path: "metadata/k"})
	if err != nil {
		t.Fatalf("read metadata/k: %v", err)
	}
	if resp != nil {
		md := resp.Data.(*metadataResponse)
		s.current, s.custom = md.CurrentVersion, md.CustomMetadata
	}
	return s
}

func TestStagedVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   []xreq
		do      xreq
		wantErr error // a kind; nil for success
		want    kvState
	}{
		{
			name: "staged write keeps the current version",
			do:   xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false,"cas":1}}`},
			want: kvState{value: `{"v":1}`, current: 1},
		},
		{
			name:  "staged first version leaves the key without a current one",
			setup: []xreq{{op: opDelete, path: "metadata/k"}},
			do:    xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":1},"options":{"current":false}}`},
			want:  kvState{},
		},
		{
			name:  "custom_metadata patch with the version",
			setup: []xreq{{op: opPatch, path: "metadata/k", body: `{"custom_metadata":{"gone":"x","keep":"y"}}`}},
			do:    xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"version":2,"custom_metadata":{"id:2":"abc","gone":null}}}`},
			want:  kvState{value: `{"v":2}`, current: 2, custom: map[string]string{"id:2": "abc", "keep": "y"}},
		},
		{
			name: "current true is a plain write",
			do:   xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":true}}`},
			want: kvState{value: `{"v":2}`, current: 2},
		},
		{
			name: "patch staged",
			do:   xreq{op: opPatch, path: "data/k", body: `{"data":{"w":3},"options":{"current":false}}`},
			want: kvState{value: `{"v":1}`, current: 1},
		},
		{
			name:    "custom_metadata without metadata permission",
			do:      xreq{access: dataWriter, op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":"b"}}}`},
			wantErr: logical.ErrPermissionDenied,
		},
		{
			name:    "current false without metadata permission",
			do:      xreq{access: dataWriter, op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`},
			wantErr: logical.ErrPermissionDenied,
		},
		{
			name:    "no ACL at all",
			do:      xreq{access: prefixAccess{}, op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`},
			wantErr: logical.ErrPermissionDenied,
		},
		{
			name: "plain write needs no metadata permission",
			do:   xreq{access: dataWriter, op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"version":2}}`},
			want: kvState{value: `{"v":2}`, current: 2},
		},
		{
			name:    "version mismatch",
			do:      xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"version":3,"custom_metadata":{"a":"b"}}}`},
			wantErr: logical.ErrConflict,
		},
		{
			name:    "bad version",
			do:      xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"version":0}}`},
			wantErr: logical.ErrInvalidRequest,
		},
		{
			name:    "custom_metadata over the limit changes nothing",
			do:      xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":"` + strings.Repeat("x", 600) + `"}}}`},
			wantErr: logical.ErrInvalidRequest,
		},
		{
			name:    "cas compares against the current version",
			setup:   []xreq{{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}},
			do:      xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":3},"options":{"cas":2}}`},
			wantErr: logical.ErrConflict,
		},
		{
			name: "cas 0 refused on a key with only a staged version",
			setup: []xreq{
				{op: opDelete, path: "metadata/k"},
				{op: opUpdate, path: "data/k", body: `{"data":{"v":1},"options":{"current":false}}`},
			},
			do:      xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"cas":0}}`},
			wantErr: logical.ErrConflict,
		},
		{
			name: "cas 0 accepted on a key with metadata and no version",
			setup: []xreq{
				{op: opDelete, path: "metadata/k"},
				{op: opUpdate, path: "metadata/k", body: `{"max_versions":3}`},
			},
			do:   xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"cas":0}}`},
			want: kvState{value: `{"v":2}`, current: 1},
		},
		{
			name:  "a plain write after a staged one becomes current",
			setup: []xreq{{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}},
			do:    xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":3},"options":{"cas":1,"version":3}}`},
			want:  kvState{value: `{"v":3}`, current: 3},
		},
		{
			name:  "current_version makes a staged version current",
			setup: []xreq{{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}},
			do:    xreq{op: opPatch, path: "metadata/k", body: `{"current_version":2,"custom_metadata":{"stage":"2"}}`},
			want:  kvState{value: `{"v":2}`, current: 2, custom: map[string]string{"stage": "2"}},
		},
		{
			name:  "current_version moves back",
			setup: []xreq{{op: opUpdate, path: "data/k", body: `{"data":{"v":2}}`}},
			do:    xreq{op: opPatch, path: "metadata/k", body: `{"current_version":1}`},
			want:  kvState{value: `{"v":1}`, current: 1},
		},
		{
			name:    "current_version without data update permission",
			setup:   []xreq{{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}},
			do:      xreq{access: metaPatcher, op: opPatch, path: "metadata/k", body: `{"current_version":2}`},
			wantErr: logical.ErrPermissionDenied,
		},
		{
			name:    "current_version of a missing version",
			do:      xreq{op: opPatch, path: "metadata/k", body: `{"current_version":7}`},
			wantErr: logical.ErrInvalidRequest,
		},
		{
			name: "current_version of a deleted version",
			setup: []xreq{
				{op: opUpdate, path: "data/k", body: `{"data":{"v":2}}`},
				{op: opUpdate, path: "delete/k", body: `{"versions":[1]}`},
			},
			do:      xreq{op: opPatch, path: "metadata/k", body: `{"current_version":1}`},
			wantErr: logical.ErrInvalidRequest,
		},
		{
			name:    "current_version with a bad custom_metadata changes nothing",
			setup:   []xreq{{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}},
			do:      xreq{op: opPatch, path: "metadata/k", body: `{"current_version":2,"custom_metadata":{"":"x"}}`},
			wantErr: logical.ErrInvalidRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
			for _, r := range tt.setup {
				if _, err := h.send(t, r); err != nil {
					t.Fatalf("setup %s %s: %v", r.op, r.path, err)
				}
			}
			before := h.Storage.Snapshot()
			_, err := h.send(t, tt.do)
			if tt.wantErr != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantErr)
				h.Unchanged(tt.name, before)
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", tt.do.op, tt.do.path, err)
			}
			got := h.state(t)
			if got.value != tt.want.value || got.current != tt.want.current || !equalMaps(got.custom, tt.want.custom) {
				t.Errorf("after %s %s: state = %+v, want %+v", tt.do.op, tt.do.path, got, tt.want)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestStagedVersionReads: a staged version is read with ?version only;
// subkeys and the metadata answer the current one.
func TestStagedVersionReads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"a":1}}`})
	resp, err := h.send(t, xreq{op: opUpdate, path: "data/k", body: `{"data":{"b":{"c":2}},"options":{"current":false,"version":2}}`})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Data.(*versionResponse).Version; got != 2 {
		t.Fatalf("staged write answered version %d, want 2", got)
	}
	for _, tc := range []struct {
		path, query, want string
	}{
		{"data/k", "", `{"a":1}`},
		{"data/k", "version=2", `{"b":{"c":2}}`},
		{"subkeys/k", "", `{"a":null}`},
		{"subkeys/k", "version=2", `{"b":{"c":null}}`},
	} {
		resp := h.must(req{op: opRead, path: tc.path, query: tc.query})
		var got []byte
		switch d := resp.Data.(type) {
		case *dataResponse:
			got = d.Data
		case *subkeysResponse:
			got, _ = json.Marshal(d.Subkeys)
		}
		if string(got) != tc.want {
			t.Errorf("%s?%s = %s, want %s", tc.path, tc.query, got, tc.want)
		}
	}
	md := h.must(req{op: opRead, path: "metadata/k"}).Data.(*metadataResponse)
	if md.CurrentVersion != 1 || len(md.Versions) != 2 {
		t.Errorf("metadata: current_version %d, %d versions; want 1 and 2", md.CurrentVersion, len(md.Versions))
	}
}

// TestStagedVersionTrimming: max_versions never trims the current version
// or the one just written, staged or not.
func TestStagedVersionTrimming(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "metadata/k", body: `{"max_versions":1}`})
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
	for n := 2; n <= 3; n++ {
		if _, err := h.send(t, xreq{op: opUpdate, path: "data/k", body: fmt.Sprintf(`{"data":{"v":%d},"options":{"current":false}}`, n)}); err != nil {
			t.Fatal(err)
		}
	}
	snap := h.Storage.Snapshot()
	for n, want := range map[int]bool{1: true, 2: false, 3: true} {
		if _, ok := snap[verKey("k", n)]; ok != want {
			t.Errorf("version %d stored = %v, want %v", n, ok, want)
		}
	}
	if s := h.state(t); s.value != `{"v":1}` || s.current != 1 {
		t.Errorf("state = %+v, want version 1 current", s)
	}
}

// TestStagedVersionsAndRotation: while a rotation is pending, staged
// writes are refused (as every write) and current_version too.
func TestStagedVersionsAndRotation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":2}}`})
	// A rotation left version 2 pending (as after a failed rotator).
	meta, err := loadMeta(t.Context(), h.Storage, "k")
	if err != nil {
		t.Fatal(err)
	}
	meta.Current, meta.Pending = 1, 2
	op, err := putOp(metaKey("k"), meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Storage.Txn(t.Context(), []logical.TxnOp{op}); err != nil {
		t.Fatal(err)
	}
	before := h.Storage.Snapshot()
	_, err = h.send(t, xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":3},"options":{"current":false}}`})
	logicaltest.WantError(t, "staged write while pending", err, logical.ErrConflict, "rotation")
	_, err = h.send(t, xreq{op: opPatch, path: "metadata/k", body: `{"current_version":2}`})
	logicaltest.WantError(t, "current_version while pending", err, logical.ErrInvalidRequest, "rotation is pending")
	h.Unchanged("refused while pending", before)
}

// TestExtensionsAtomic: when the storage fails, a write with every
// extension changes nothing at all.
func TestExtensionsAtomic(t *testing.T) {
	t.Parallel()
	env := logicaltest.NewEnv(map[string]string{"version": "2"})
	inner := env.Storage.(*logicaltest.Storage)
	st := &failingTxn{Storage: inner}
	env.Storage = st
	h := &harness{logicaltest.NewHarness(t, Factory, env)}
	h.Storage = inner
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
	if _, err := h.send(t, xreq{op: opPatch, path: "metadata/k", body: `{"custom_metadata":{"old":"1"}}`}); err != nil {
		t.Fatal(err)
	}
	before := inner.Snapshot()
	st.mu.Lock()
	st.fail = true
	st.mu.Unlock()
	for _, r := range []xreq{
		{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"cas":1,"version":2,"current":false,"custom_metadata":{"id:2":"x","old":null}}}`},
		{op: opPatch, path: "data/k", body: `{"data":{"w":2},"options":{"version":2,"custom_metadata":{"id:2":"x"}}}`},
		{op: opPatch, path: "metadata/k", body: `{"current_version":1,"custom_metadata":{"id:1":"y"}}`},
		{op: opDelete, path: "metadata/k", query: "recovery_window_days=7"},
		{op: opDelete, path: "metadata/k", query: "recovery_window_days=0"},
	} {
		if _, err := h.send(t, r); err == nil {
			t.Errorf("%s %s?%s on failing storage succeeded", r.op, r.path, r.query)
		}
		h.Unchanged(string(r.op)+" "+r.path, before)
	}
}

// TestDeleteWithRecoveryWindow: ?recovery_window_days sets the window the
// delete uses, in the same request, for a caller who may patch the
// metadata.
func TestDeleteWithRecoveryWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		access      logical.AccessChecker
		query       string
		wantErr     error
		wantTrashed bool
		wantWindow  int
	}{
		{name: "seven days", query: "recovery_window_days=7", wantTrashed: true, wantWindow: 7},
		{name: "zero destroys", query: "recovery_window_days=0"},
		{name: "no query: the mount's window", query: "", wantTrashed: true, wantWindow: -1},
		{name: "bad value", query: "recovery_window_days=-3", wantErr: logical.ErrInvalidRequest},
		{name: "not a number", query: "recovery_window_days=x", wantErr: logical.ErrInvalidRequest},
		{name: "empty value", query: "recovery_window_days=", wantErr: logical.ErrInvalidRequest},
		{name: "blank value", query: "recovery_window_days=%20", wantErr: logical.ErrInvalidRequest},
		{name: "fraction", query: "recovery_window_days=1.5", wantErr: logical.ErrInvalidRequest},
		{name: "too long", query: "recovery_window_days=100000", wantErr: logical.ErrInvalidRequest},
		{name: "without patch permission", access: prefixAccess{"read:secret/", "delete:secret/"}, query: "recovery_window_days=0", wantErr: logical.ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			h.must(req{op: opUpdate, path: "config", body: `{"recovery_window_days":30}`})
			h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
			before := h.Storage.Snapshot()
			_, err := h.send(t, xreq{access: tt.access, op: opDelete, path: "metadata/k", query: tt.query})
			if tt.wantErr != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantErr)
				h.Unchanged(tt.name, before)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr, err := loadTrash(t.Context(), h.Storage, "k")
			if err != nil {
				t.Fatal(err)
			}
			if (tr != nil) != tt.wantTrashed {
				t.Fatalf("trashed = %v, want %v", tr != nil, tt.wantTrashed)
			}
			if tr == nil {
				if _, ok := h.Storage.Snapshot()[verKey("k", 1)]; ok {
					t.Error("destroyed key's version still stored")
				}
				return
			}
			got := -1
			if tr.Meta.RecoveryWindowDays != nil {
				got = *tr.Meta.RecoveryWindowDays
			}
			if got != tt.wantWindow {
				t.Errorf("trashed key's recovery_window_days = %d, want %d", got, tt.wantWindow)
			}
			days := 30
			if tt.wantWindow >= 0 {
				days = tt.wantWindow
			}
			if want := h.Clock.Now().UnixNano() + int64(days)*24*3600e9; tr.PurgeAt != want {
				t.Errorf("purge at %d, want %d", tr.PurgeAt, want)
			}
		})
	}
}

// TestRotateWithOptions: rotate/ stores a custom_metadata patch with the
// version it writes, in the prepare transaction; refused options change
// nothing (no failure is recorded either).
func TestRotateWithOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		access     logical.AccessChecker
		body       string
		wantErr    error
		wantCustom map[string]string
	}{
		{name: "version and custom_metadata", body: `{"version":2,"custom_metadata":{"id:2":"t","gone":null}}`, wantCustom: map[string]string{"id:2": "t"}},
		{name: "version alone", body: `{"version":2}`, wantCustom: map[string]string{"gone": "x"}},
		{name: "no body", body: ``, wantCustom: map[string]string{"gone": "x"}},
		{name: "wrong version", body: `{"version":5,"custom_metadata":{"id:5":"t"}}`, wantErr: logical.ErrConflict},
		{name: "custom_metadata without version", body: `{"custom_metadata":{"id:2":"t"}}`, wantErr: logical.ErrInvalidRequest},
		{name: "bad custom_metadata", body: `{"version":2,"custom_metadata":{"":"t"}}`, wantErr: logical.ErrInvalidRequest},
		{name: "without metadata permission", access: prefixAccess{"read:secret/", "update:secret/rotate/"}, body: `{"version":2,"custom_metadata":{"id:2":"t"}}`, wantErr: logical.ErrPermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newRotHarness(t, nil)
			h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":"1"}}`})
			if _, err := h.send(t, xreq{op: opPatch, path: "metadata/k", body: `{"custom_metadata":{"gone":"x"}}`}); err != nil {
				t.Fatal(err)
			}
			h.must(req{op: opUpdate, path: "rotation/k", body: `{"period":"24h","keys":{"v":{"generator":"random","encoding":"hex","length":8}}}`})
			before := h.Storage.Snapshot()
			_, err := h.send(t, xreq{access: tt.access, op: opUpdate, path: "rotate/k", body: tt.body})
			if tt.wantErr != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantErr)
				h.Unchanged(tt.name, before)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := h.state(t)
			if got.current != 2 || !equalMaps(got.custom, tt.wantCustom) {
				t.Errorf("after rotate: current %d custom %v; want 2 and %v", got.current, got.custom, tt.wantCustom)
			}
		})
	}
}

// FuzzDataOptions sends any body to data/ and metadata/ with the Coffer
// extensions: no panic, a refused request changes nothing, and after an
// accepted one the current version is a retained version the data read
// answers.
func FuzzDataOptions(f *testing.F) {
	for _, s := range []string{
		`{"data":{"v":2},"options":{"current":false,"version":2,"custom_metadata":{"a":"b","c":null}}}`,
		`{"data":{"v":2},"options":{"cas":1,"current":"false"}}`,
		`{"data":{"v":2},"options":{"version":"7"}}`,
		`{"data":{"v":2},"options":{"custom_metadata":{"":"x"}}}`,
		`{"data":{"v":2},"options":{"custom_metadata":[1]}}`,
		`{"current_version":1,"custom_metadata":{"x":"y"}}`,
		`{"current_version":"2"}`,
		`{"current_version":-1}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, metadata bool) {
		h := newHarness(t, "2")
		h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
		if _, err := h.send(t, xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}); err != nil {
			t.Fatal(err)
		}
		r := xreq{op: opUpdate, path: "data/k", body: string(body)}
		if metadata {
			r.op, r.path = opPatch, "metadata/k"
		}
		before := h.Storage.Snapshot()
		if _, err := h.send(t, r); err != nil {
			h.Unchanged("refused request", before)
			return
		}
		meta, err := loadMeta(t.Context(), h.Storage, "k")
		if err != nil || meta == nil {
			t.Fatalf("metadata after an accepted request: %v, %v", meta, err)
		}
		if v := meta.version(meta.Current); v == nil {
			t.Fatalf("current version %d is not retained", meta.Current)
		}
		if err := checkCustomMetadata(meta.CustomMetadata); err != nil {
			t.Fatalf("stored custom_metadata breaks the limits: %v", err)
		}
		if _, err := h.send(t, xreq{op: opRead, path: "data/k"}); err != nil {
			t.Fatalf("read after an accepted request: %v", err)
		}
	})
}
