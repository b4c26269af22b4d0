package kv

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestFactoryVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version string
		want    string // type name, or "" for an error
	}{
		{version: "", want: "*kv.backendV1"},
		{version: "1", want: "*kv.backendV1"},
		{version: "2", want: "*kv.backendV2"},
		{version: "3"},
		{version: "v2"},
	}
	for _, tt := range tests {
		b, err := Factory(t.Context(), logicaltest.NewEnv(map[string]string{"version": tt.version}))
		if tt.want == "" {
			if err == nil {
				t.Errorf("Factory(version %q) = %T, want error", tt.version, b)
			}
			continue
		}
		if err != nil || fmt.Sprintf("%T", b) != tt.want {
			t.Errorf("Factory(version %q) = %T, %v, want %s", tt.version, b, err, tt.want)
		}
	}
}

func TestV1(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "1")
	h.must(req{op: opCreate, path: "app/db", body: `{"user":"u","pass":"p","n":1.50}`})
	h.must(req{op: opUpdate, path: "app/api", body: `{"key":"k"}`})
	h.must(req{op: opUpdate, path: "top", body: `{"a":{"b":[1,2]}}`})

	tests := []struct {
		name    string
		r       req
		want    string // JSON of the response data; "" for no response
		wantErr error
	}{
		{name: "read as stored", r: req{op: opRead, path: "app/db"}, want: `{"user":"u","pass":"p","n":1.50}`},
		{name: "read nested", r: req{op: opRead, path: "top"}, want: `{"a":{"b":[1,2]}}`},
		{name: "read missing", r: req{op: opRead, path: "app/none"}},
		{name: "read folder is missing", r: req{op: opRead, path: "app"}},
		{name: "list root", r: req{op: opList, path: ""}, want: `{"keys":["app/","top"]}`},
		{name: "list folder", r: req{op: opList, path: "app/"}, want: `{"keys":["api","db"]}`},
		{name: "list folder no slash", r: req{op: opList, path: "app"}, want: `{"keys":["api","db"]}`},
		{name: "list empty", r: req{op: opList, path: "nothing/"}},
		{name: "write empty object", r: req{op: opUpdate, path: "x", body: `{}`}, wantErr: logical.ErrInvalidRequest},
		{name: "write no body", r: req{op: opUpdate, path: "x"}, wantErr: logical.ErrInvalidRequest},
		{name: "write array", r: req{op: opUpdate, path: "x", body: `[1]`}, wantErr: logical.ErrInvalidRequest},
		{name: "write bad json", r: req{op: opUpdate, path: "x", body: `{"a":`}, wantErr: logical.ErrInvalidRequest},
		{name: "write empty path", r: req{op: opUpdate, path: "", body: `{"a":1}`}, wantErr: logical.ErrInvalidRequest},
		{name: "write trailing slash", r: req{op: opUpdate, path: "a/", body: `{"a":1}`}, wantErr: logical.ErrInvalidRequest},
		{name: "write dot-dot", r: req{op: opUpdate, path: "a/../b", body: `{"a":1}`}, wantErr: logical.ErrInvalidRequest},
		{name: "patch unsupported", r: req{op: opPatch, path: "app/db", body: `{"a":1}`}, wantErr: logical.ErrUnsupportedOperation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.do(tt.r)
			if tt.wantErr != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("%s %q: %v", tt.r.op, tt.r.path, err)
			}
			if tt.want == "" {
				if resp != nil {
					t.Fatalf("%s %q = %+v, want no response", tt.r.op, tt.r.path, resp)
				}
				return
			}
			logicaltest.DiffJSON(t, tt.name, tt.want, resp)
		})
	}

	// Overwrite, then delete.
	h.must(req{op: opUpdate, path: "app/db", body: `{"user":"v"}`})
	logicaltest.DiffJSON(t, "after overwrite", `{"user":"v"}`, h.must(req{op: opRead, path: "app/db"}))
	h.must(req{op: opDelete, path: "app/db"})
	if resp := h.must(req{op: opRead, path: "app/db"}); resp != nil {
		t.Errorf("read after delete = %+v, want none", resp)
	}
	h.must(req{op: opDelete, path: "app/db"}) // deleting nothing succeeds
}

func TestV1RawDataIsReturnedAsIs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "1")
	h.must(req{op: opUpdate, path: "n", body: `{"big": 12345678901234567890, "s": "<&>"}`})
	got := h.must(req{op: opRead, path: "n"}).Data.(json.RawMessage)
	if want := `{"big":12345678901234567890,"s":"<&>"}`; string(got) != want {
		t.Errorf("read = %s, want %s (compacted, numbers and characters kept)", got, want)
	}
}

func TestV1ExistenceCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "1")
	h.must(req{op: opUpdate, path: "a", body: `{"x":1}`})
	ec := h.Backend.(logical.ExistenceChecker)
	for p, want := range map[string]bool{"a": true, "b": false, "": false} {
		exists, handled, err := ec.ExistenceCheck(t.Context(), &logical.Request{Operation: opUpdate, Path: p})
		if err != nil || !handled || exists != want {
			t.Errorf("ExistenceCheck(%q) = %v, %v, %v, want %v, true, nil", p, exists, handled, err, want)
		}
	}
}

func TestV1Limits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "1")
	_, err := h.do(req{op: opUpdate, path: "big", body: `{"v":"` + strings.Repeat("x", MaxDataBytes) + `"}`})
	logicaltest.WantKind(t, "1 MiB value", err, logical.ErrTooLarge)
	_, err = h.do(req{op: opUpdate, path: "many", body: manyKeys(MaxTopLevelKeys + 1)})
	logicaltest.WantKind(t, "too many keys", err, logical.ErrInvalidRequest)
	h.must(req{op: opUpdate, path: "many", body: manyKeys(MaxTopLevelKeys)})
}

func manyKeys(n int) string {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"k%d":{"nested":"a:b","x":[1,{"y":2}]}`, i)
	}
	sb.WriteString("}")
	return sb.String()
}

func TestConformanceV1(t *testing.T) {
	t.Parallel()
	logicaltest.Run(t, Factory, logicaltest.Options{
		Config: map[string]string{"version": "1"},
		Writes: []*logical.Request{
			{Operation: opUpdate, Path: "app/db", Body: json.RawMessage(`{"password":"p"}`)},
			{Operation: opCreate, Path: "other", Body: json.RawMessage(`{"a":1}`)},
		},
		Reads: []*logical.Request{
			{Operation: opRead, Path: "app/db"},
			{Operation: opList, Path: ""},
			{Operation: opList, Path: "app/"},
		},
		ServesAllPaths: true,
	})
}
