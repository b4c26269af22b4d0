package kv

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// paramAccess is a prefixAccess whose rules may also constrain request
// parameters by name, per full path, as a policy's allowed_parameters
// (with empty value lists), denied_parameters and required_parameters
// would.
type paramAccess struct {
	prefixAccess
	allowed  map[string][]string // the only parameters a request may carry
	denied   map[string][]string
	required map[string][]string
}

func (a paramAccess) AllowedParams(path string, op logical.Operation, params map[string]any) bool {
	if !a.Allowed(path, op) {
		return false
	}
	for _, r := range a.required[path] {
		if _, ok := params[r]; !ok {
			return false
		}
	}
	for k := range params {
		if slices.Contains(a.denied[path], k) {
			return false
		}
		if only, ok := a.allowed[path]; ok && !slices.Contains(only, k) {
			return false
		}
	}
	return true
}

// recordingAccess allows everything and records the parameterised checks
// as "op path body".
type recordingAccess struct {
	mu     sync.Mutex
	checks []string
}

func (*recordingAccess) Allowed(string, logical.Operation) bool { return true }

func (a *recordingAccess) AllowedParams(path string, op logical.Operation, params map[string]any) bool {
	b, err := json.Marshal(params)
	if err != nil {
		panic(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks = append(a.checks, string(op)+" "+path+" "+string(b))
	return true
}

// TestExtensionParamsChecked: the extensions that change metadata are
// checked with the metadata body they stand for, so a rule that limits
// the parameters of metadata/<path> (or, for current_version, of
// data/<path>) limits them too; refused requests change nothing.
func TestExtensionParamsChecked(t *testing.T) {
	t.Parallel()
	// The review's policy: patch and read on metadata/k with only
	// max_versions allowed, create and update on data/k.
	base := prefixAccess{"read:secret/", "patch:secret/metadata/", "create:secret/data/", "update:secret/data/", "update:secret/rotate/", "delete:secret/"}
	onlyMaxVersions := paramAccess{prefixAccess: base, allowed: map[string][]string{"secret/metadata/k": {"max_versions"}}}
	withCustom := paramAccess{prefixAccess: base, allowed: map[string][]string{"secret/metadata/k": {"max_versions", "custom_metadata"}}}
	withCurrent := paramAccess{prefixAccess: base, allowed: map[string][]string{"secret/metadata/k": {"current_version"}}}
	denyCustom := paramAccess{prefixAccess: base, denied: map[string][]string{"secret/metadata/k": {"custom_metadata"}}}
	requireMax := paramAccess{prefixAccess: base, required: map[string][]string{"secret/metadata/k": {"max_versions"}}}
	dataOnly := paramAccess{prefixAccess: base, allowed: map[string][]string{"secret/data/k": {"data", "options"}}}
	tests := []struct {
		name    string
		access  logical.AccessChecker
		do      xreq
		wantErr error // nil: accepted
	}{
		{name: "write custom_metadata, only max_versions allowed", access: onlyMaxVersions, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":"b"}}}`}, wantErr: logical.ErrPermissionDenied},
		{name: "patch custom_metadata, only max_versions allowed", access: onlyMaxVersions, do: xreq{op: opPatch, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":null}}}`}, wantErr: logical.ErrPermissionDenied},
		{name: "stage, only max_versions allowed", access: onlyMaxVersions, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}, wantErr: logical.ErrPermissionDenied},
		{name: "delete with window, only max_versions allowed", access: onlyMaxVersions, do: xreq{op: opDelete, path: "metadata/k", query: "recovery_window_days=0"}, wantErr: logical.ErrPermissionDenied},
		{name: "rotate with custom_metadata, only max_versions allowed", access: onlyMaxVersions, do: xreq{op: opUpdate, path: "rotate/k", body: `{"version":2,"custom_metadata":{"id:2":"t"}}`}, wantErr: logical.ErrPermissionDenied},
		{name: "custom_metadata denied", access: denyCustom, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":"b"}}}`}, wantErr: logical.ErrPermissionDenied},
		{name: "max_versions required", access: requireMax, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":"b"}}}`}, wantErr: logical.ErrPermissionDenied},
		{name: "stage without current_version allowed", access: withCustom, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false,"custom_metadata":{"a":"b"}}}`}, wantErr: logical.ErrPermissionDenied},
		{name: "current_version, data rule allows only data and options", access: dataOnly, do: xreq{op: opPatch, path: "metadata/k", body: `{"current_version":1}`}, wantErr: logical.ErrPermissionDenied},
		{name: "custom_metadata allowed", access: withCustom, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":"b"}}}`}},
		{name: "rotate with custom_metadata allowed", access: withCustom, do: xreq{op: opUpdate, path: "rotate/k", body: `{"version":2,"custom_metadata":{"id:2":"t"}}`}},
		{name: "stage with current_version allowed", access: withCurrent, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false}}`}},
		{name: "delete with window, no parameter limits", access: base, do: xreq{op: opDelete, path: "metadata/k", query: "recovery_window_days=0"}},
		{name: "plain write, only max_versions allowed", access: onlyMaxVersions, do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"version":2}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newRotHarness(t, nil)
			h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":"1"}}`})
			h.must(req{op: opUpdate, path: "rotation/k", body: `{"period":"24h","keys":{"v":{"generator":"random","encoding":"hex","length":8}}}`})
			before := h.Storage.Snapshot()
			tt.do.access = tt.access
			_, err := h.send(t, tt.do)
			if tt.wantErr != nil {
				logicaltest.WantKind(t, tt.name, err, tt.wantErr)
				h.Unchanged(tt.name, before)
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
		})
	}
}

// TestExtensionParamsBody: the bodies the extensions are checked with.
func TestExtensionParamsBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		do   xreq
		want []string
	}{
		{name: "custom_metadata", do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"custom_metadata":{"a":"b","c":null}}}`},
			want: []string{`patch secret/metadata/k {"custom_metadata":{"a":"b","c":null}}`}},
		{name: "staged with custom_metadata", do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":false,"custom_metadata":{"a":"b"}}}`},
			want: []string{`patch secret/metadata/k {"current_version":null,"custom_metadata":{"a":"b"}}`}},
		{name: "current true", do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"current":true}}`},
			want: []string{`patch secret/metadata/k {}`}},
		{name: "delete with window", do: xreq{op: opDelete, path: "metadata/k", query: "recovery_window_days=3"},
			want: []string{`patch secret/metadata/k {"recovery_window_days":3}`}},
		{name: "current_version", do: xreq{op: opPatch, path: "metadata/k", body: `{"current_version":1}`},
			want: []string{`update secret/data/k {"current_version":1}`}},
		{name: "plain write", do: xreq{op: opUpdate, path: "data/k", body: `{"data":{"v":2},"options":{"version":2,"cas":1}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
			a := &recordingAccess{}
			tt.do.access = a
			if _, err := h.send(t, tt.do); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.checks, tt.want) {
				t.Errorf("checks = %q, want %q", a.checks, tt.want)
			}
		})
	}
}

// FuzzRecoveryWindowQuery: any ?recovery_window_days value is either
// refused as a bad request or a whole number of days in range that
// reads back as the value sent; an empty value is always refused.
func FuzzRecoveryWindowQuery(f *testing.F) {
	for _, s := range []string{"", " ", "0", "7", "365", "366", "-1", "1.5", "x", "+3", " 4 ", "0x10", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &logical.Request{MountPoint: "secret/", Access: allowAll{}, Query: url.Values{"recovery_window_days": {raw}}}
		d, err := recoveryWindowQuery(r, "k")
		if err != nil {
			logicaltest.WantKind(t, "refused value", err, logical.ErrInvalidRequest)
			return
		}
		if d == nil || *d < 0 || *d > maxRecoveryWindowDays {
			t.Fatalf("%q read as %v", raw, d)
		}
		if n, perr := strconv.Atoi(strings.TrimSpace(raw)); perr != nil || n != *d {
			t.Fatalf("%q read as %d", raw, *d)
		}
	})
}
