package kv

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// sentEvent is one event a recorder heard.
type sentEvent struct {
	Type     string
	Metadata map[string]string
}

// recorder is a [logical.EventSender] that keeps what it is sent.
type recorder struct {
	mu     sync.Mutex
	events []sentEvent // guarded by mu
}

func (r *recorder) SendEvent(_ context.Context, typ string, md map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, sentEvent{Type: typ, Metadata: md})
}

// take returns the events sent since the last take.
func (r *recorder) take() []sentEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// newEventHarness is a version 2 harness whose events go to the returned
// recorder.
func newEventHarness(t testing.TB) (*harness, *recorder) {
	t.Helper()
	rec := &recorder{}
	env := logicaltest.NewEnv(map[string]string{"version": "2"})
	env.Events = rec
	return &harness{logicaltest.NewHarness(t, Factory, env)}, rec
}

// periodic runs the backend's sweep.
func (h *harness) periodic() {
	h.T.Helper()
	if err := h.Backend.(logical.Periodic).Periodic(h.T.Context()); err != nil {
		h.T.Fatalf("Periodic: %v", err)
	}
}

// keysWith returns the storage keys that contain s.
func (h *harness) keysWith(s string) []string {
	var out []string
	for k := range h.Storage.Snapshot() {
		if strings.Contains(k, s) {
			out = append(out, k)
		}
	}
	return out
}

func TestV2ExpiryInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "data/app", body: `{"data":{"k":"v"}}`})
	tests := []struct {
		name string
		body string
		want string // in the error
	}{
		{name: "both", body: `{"ttl":"1h","expire_at":"2030-01-01T00:00:00Z"}`, want: "not both"},
		{name: "not a time", body: `{"expire_at":"tomorrow"}`, want: "RFC 3339"},
		{name: "date only", body: `{"expire_at":"2030-01-01"}`, want: "RFC 3339"},
		{name: "past", body: `{"expire_at":"2020-01-01T00:00:00Z"}`, want: "not in the future"},
		{name: "now", body: `{"expire_at":"` + h.ts(0) + `"}`, want: "not in the future"},
		{name: "too far", body: `{"expire_at":"9999-01-01T00:00:00Z"}`, want: "out of range"},
		{name: "negative ttl", body: `{"ttl":"-5s"}`, want: "ttl"},
		{name: "ttl too long", body: `{"ttl":"106751d"}`, want: "too long"},
		{name: "expire_at a number", body: `{"expire_at":5}`, want: "expire_at"},
		{name: "window negative", body: `{"recovery_window_days":-2}`, want: "recovery_window_days"},
		{name: "window too long", body: `{"recovery_window_days":366}`, want: "recovery_window_days"},
	}
	for _, tt := range tests {
		for _, op := range []logical.Operation{opUpdate, opPatch} {
			t.Run(tt.name+"/"+string(op), func(t *testing.T) {
				before := h.Storage.Snapshot()
				_, err := h.do(req{op: op, path: "metadata/app", body: tt.body})
				logicaltest.WantError(t, tt.body, err, logical.ErrInvalidRequest, tt.want)
				h.Unchanged(tt.body, before)
			})
		}
	}
	for _, body := range []string{`{"recovery_window_days":-1}`, `{"recovery_window_days":400}`, `{"recovery_window_days":"x"}`} {
		_, err := h.do(req{op: opUpdate, path: "config", body: body})
		logicaltest.WantKind(t, "config "+body, err, logical.ErrInvalidRequest)
	}
}

func TestV2Expiry(t *testing.T) {
	t.Parallel()
	h, rec := newEventHarness(t)
	h.must(req{op: opUpdate, path: "data/app/key", body: `{"data":{"k":"one"}}`})
	h.must(req{op: opUpdate, path: "data/app/key", body: `{"data":{"k":"two"}}`})
	expireAt := h.ts(2 * time.Second)
	h.must(req{op: opUpdate, path: "metadata/app/key", body: `{"ttl":"2s"}`})
	if got := logicaltest.Data(t, h.must(req{op: opRead, path: "metadata/app/key"})).(map[string]any)["expire_at"]; got != expireAt {
		t.Errorf("metadata expire_at = %v, want %v (the ttl as an absolute time)", got, expireAt)
	}
	// Before the expiry the secret reads as usual.
	h.must(req{op: opRead, path: "data/app/key"})
	h.Clock.Advance(2 * time.Second)

	for _, r := range []req{
		{op: opRead, path: "data/app/key"},
		{op: opRead, path: "data/app/key", query: "version=1"},
		{op: opRead, path: "subkeys/app/key"},
	} {
		resp, err := h.do(r)
		logicaltest.WantError(t, r.path+"?"+r.query, err, logical.ErrNotFound, "expired at "+expireAt)
		if resp != nil {
			t.Errorf("%s: response %+v, want none (no value)", r.path, resp)
		}
	}
	// Writes of new versions are refused and change nothing.
	for _, r := range []req{
		{op: opUpdate, path: "data/app/key", body: `{"data":{"k":"three"}}`},
		{op: opPatch, path: "data/app/key", body: `{"data":{"k":"three"}}`},
	} {
		before := h.Storage.Snapshot()
		_, err := h.do(r)
		logicaltest.WantError(t, string(r.op), err, logical.ErrInvalidRequest, "expire_at")
		h.Unchanged(string(r.op), before)
	}
	// The key is still listed and its metadata readable.
	logicaltest.DiffJSON(t, "list", `{"keys":["key"]}`, h.must(req{op: opList, path: "metadata/app/"}))

	// A later expiry makes it readable again, with its versions.
	h.must(req{op: opPatch, path: "metadata/app/key", body: `{"expire_at":"` + h.ts(time.Hour) + `"}`})
	if got := logicaltest.Data(t, h.must(req{op: opRead, path: "data/app/key"})).(map[string]any)["data"]; !cmp.Equal(got, map[string]any{"k": "two"}) {
		t.Errorf("data after a later expire_at = %v", got)
	}
	// Moving the expiry to another day moves its index entry.
	h.must(req{op: opPatch, path: "metadata/app/key", body: `{"ttl":"40d"}`})
	if k := h.keysWith(expiryPrefix); len(k) != 1 || !strings.HasSuffix(k[0], "/app/key") {
		t.Errorf("expiry index after a new expiry = %v, want one entry", k)
	}
	// ttl 0 and expire_at "" clear it.
	for _, body := range []string{`{"ttl":0}`, `{"expire_at":""}`} {
		h.must(req{op: opUpdate, path: "metadata/app/key", body: `{"ttl":"1s"}`})
		h.must(req{op: opUpdate, path: "metadata/app/key", body: body})
		h.Clock.Advance(time.Hour)
		h.must(req{op: opRead, path: "data/app/key"})
		if _, ok := logicaltest.Data(t, h.must(req{op: opRead, path: "metadata/app/key"})).(map[string]any)["expire_at"]; ok {
			t.Errorf("%s: metadata still shows expire_at", body)
		}
	}
	if k := h.keysWith(expiryPrefix); len(k) != 0 {
		t.Errorf("expiry index after clearing = %v, want none", k)
	}
	rec.take()
}

func TestV2ExpiryEvents(t *testing.T) {
	t.Parallel()
	h, rec := newEventHarness(t)
	h.must(req{op: opUpdate, path: "config", body: `{"expiry_notice":"1h"}`})
	h.must(req{op: opUpdate, path: "data/a/soon", body: `{"data":{"k":"v"}}`})
	h.must(req{op: opUpdate, path: "metadata/a/soon", body: `{"ttl":"2h"}`})
	at := h.ts(2 * time.Hour)
	h.must(req{op: opUpdate, path: "data/late", body: `{"data":{"k":"v"}}`})
	h.must(req{op: opUpdate, path: "metadata/late", body: `{"ttl":"3m"}`}) // expires before the next sweep
	lateAt := h.ts(3 * time.Minute)
	rec.take()

	expiring := sentEvent{Type: "secret/expiring", Metadata: map[string]string{
		"path": "data/a/soon", "data_path": "data/a/soon", "operation": "expiring", "modified": "true",
		"current_version": "1", "expire_time": at,
	}}
	expired := expiring
	expired.Type = "secret/expired"
	expired.Metadata = map[string]string{
		"path": "data/a/soon", "data_path": "data/a/soon", "operation": "expired", "modified": "true",
		"current_version": "1", "expire_time": at,
	}
	lateExpired := sentEvent{Type: "secret/expired", Metadata: map[string]string{
		"path": "data/late", "data_path": "data/late", "operation": "expired", "modified": "true",
		"current_version": "1", "expire_time": lateAt,
	}}
	steps := []struct {
		name    string
		advance time.Duration
		want    []sentEvent
	}{
		{name: "far from expiry", advance: 0, want: []sentEvent{{Type: "secret/expiring", Metadata: map[string]string{
			"path": "data/late", "data_path": "data/late", "operation": "expiring", "modified": "true",
			"current_version": "1", "expire_time": lateAt,
		}}}},
		{name: "late one expired", advance: 5 * time.Minute, want: []sentEvent{lateExpired}},
		{name: "within the notice", advance: 56 * time.Minute, want: []sentEvent{expiring}},
		{name: "sent once", advance: time.Minute},
		{name: "expired", advance: time.Hour, want: []sentEvent{expired}},
		{name: "expired once", advance: time.Hour},
	}
	for _, s := range steps {
		h.Clock.Advance(s.advance)
		h.periodic()
		if diff := cmp.Diff(s.want, rec.take()); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", s.name, diff)
		}
	}
	if k := h.keysWith(expiryPrefix); len(k) != 0 {
		t.Errorf("expiry index after both expired = %v, want none", k)
	}
	// A new expiry time is announced again.
	h.must(req{op: opUpdate, path: "metadata/late", body: `{"ttl":"10m"}`})
	rec.take()
	h.periodic()
	if got := rec.take(); len(got) != 1 || got[0].Type != "secret/expiring" {
		t.Errorf("events after a new expiry = %v, want one secret/expiring", got)
	}
}

func TestV2RecoveryWindow(t *testing.T) {
	t.Parallel()
	h, rec := newEventHarness(t)
	h.must(req{op: opUpdate, path: "config", body: `{"recovery_window_days":7}`})
	for _, v := range []string{"one", "two", "three"} {
		h.must(req{op: opUpdate, path: "data/team/db", body: `{"data":{"k":"` + v + `"}}`})
	}
	h.must(req{op: opUpdate, path: "data/team/other", body: `{"data":{"k":"x"}}`})
	h.must(req{op: opUpdate, path: "metadata/team/db", body: `{"custom_metadata":{"owner":"ops"}}`})
	deletedAt, until := h.ts(0), h.ts(7*24*time.Hour)
	h.must(req{op: opDelete, path: "metadata/team/db"})

	// Gone from every read and from LIST.
	for _, p := range []string{"data/team/db", "metadata/team/db", "subkeys/team/db"} {
		if resp, err := h.do(req{op: opRead, path: p}); err != nil || resp != nil {
			t.Errorf("read %s after delete = %+v, %v; want nothing", p, resp, err)
		}
	}
	logicaltest.DiffJSON(t, "list", `{"keys":["other"]}`, h.must(req{op: opList, path: "metadata/team/"}))
	logicaltest.DiffJSON(t, "list deleted", `{"keys":["team/"]}`, h.must(req{op: opList, path: "deleted/"}))
	logicaltest.DiffJSON(t, "list deleted team", `{"keys":["db"]}`, h.must(req{op: opList, path: "deleted/team"}))
	d := logicaltest.Data(t, h.must(req{op: opRead, path: "deleted/team/db"})).(map[string]any)
	if d["deletion_time"] != deletedAt || d["recoverable_until"] != until || d["current_version"] != float64(3) {
		t.Errorf("read deleted = %v", d)
	}
	if _, ok := d["data"]; ok {
		t.Error("read deleted carries data")
	}

	// Writes to the path are refused and name recover.
	for _, r := range []req{
		{op: opUpdate, path: "data/team/db", body: `{"data":{"k":"new"}}`},
		{op: opUpdate, path: "metadata/team/db", body: `{"max_versions":3}`},
	} {
		before := h.Storage.Snapshot()
		_, err := h.do(r)
		logicaltest.WantError(t, "write "+r.path, err, logical.ErrInvalidRequest, "recover/<path>")
		h.Unchanged("write "+r.path, before)
	}

	// Recover brings back every version and the settings.
	h.Clock.Advance(24 * time.Hour)
	h.must(req{op: opUpdate, path: "recover/team/db"})
	for v, want := range map[string]string{"1": "one", "2": "two", "3": "three"} {
		got := logicaltest.Data(t, h.must(req{op: opRead, path: "data/team/db", query: "version=" + v})).(map[string]any)
		if !cmp.Equal(got["data"], map[string]any{"k": want}) {
			t.Errorf("version %s after recover = %v", v, got["data"])
		}
	}
	if cm := logicaltest.Data(t, h.must(req{op: opRead, path: "metadata/team/db"})).(map[string]any)["custom_metadata"]; !cmp.Equal(cm, map[string]any{"owner": "ops"}) {
		t.Errorf("custom_metadata after recover = %v", cm)
	}
	if resp, _ := h.do(req{op: opList, path: "deleted/"}); resp != nil {
		t.Errorf("list deleted after recover = %+v, want 404", resp)
	}
	_, err := h.do(req{op: opUpdate, path: "recover/team/db"})
	logicaltest.WantKind(t, "recover twice", err, logical.ErrNotFound)

	// The window passes: unrecoverable at once, destroyed by the sweep.
	h.must(req{op: opDelete, path: "metadata/team/db"})
	h.Clock.Advance(7*24*time.Hour + time.Second)
	_, err = h.do(req{op: opUpdate, path: "recover/team/db"})
	logicaltest.WantKind(t, "recover after the window", err, logical.ErrNotFound)
	for _, p := range []string{"deleted/team/", "deleted/"} {
		if resp, _ := h.do(req{op: opList, path: p}); resp != nil {
			t.Errorf("list %s after the window = %+v, want 404", p, resp)
		}
	}
	rec.take()
	h.periodic()
	if k := h.keysWith("team/db"); len(k) != 0 {
		t.Errorf("storage after the sweep holds %v", k)
	}
	if diff := cmp.Diff([]sentEvent{{Type: "secret/purged", Metadata: map[string]string{
		"path": "deleted/team/db", "operation": "purged", "modified": "true",
	}}}, rec.take()); diff != "" {
		t.Errorf("sweep events (-want +got):\n%s", diff)
	}
	// The path starts afresh.
	logicaltest.DiffJSON(t, "fresh write",
		`{"created_time":"`+h.ts(0)+`","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}`,
		h.must(req{op: opUpdate, path: "data/team/db", body: `{"data":{"k":"fresh"}}`}))
}

func TestV2RecoveryWindowSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		mount       string // config body, "" for none
		key         string // metadata body, "" for none
		recoverable bool
	}{
		{name: "default destroys at once"},
		{name: "mount window", mount: `{"recovery_window_days":30}`, recoverable: true},
		{name: "key 0 overrides mount", mount: `{"recovery_window_days":30}`, key: `{"recovery_window_days":0}`},
		{name: "key window without mount", key: `{"recovery_window_days":"3"}`, recoverable: true},
		{name: "key -1 uses mount", mount: `{"recovery_window_days":30}`, key: `{"recovery_window_days":-1}`, recoverable: true},
		{name: "mount 0 again", mount: `{"recovery_window_days":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			if tt.mount != "" {
				h.must(req{op: opUpdate, path: "config", body: tt.mount})
			}
			h.must(req{op: opUpdate, path: "data/s", body: `{"data":{"k":"v"}}`})
			if tt.key != "" {
				h.must(req{op: opUpdate, path: "metadata/s", body: tt.key})
			}
			h.must(req{op: opDelete, path: "metadata/s"})
			if resp, err := h.do(req{op: opRead, path: "data/s"}); err != nil || resp != nil {
				t.Fatalf("read after delete = %+v, %v", resp, err)
			}
			_, err := h.do(req{op: opUpdate, path: "recover/s"})
			if tt.recoverable {
				if err != nil {
					t.Fatalf("recover: %v", err)
				}
				h.must(req{op: opRead, path: "data/s"})
				return
			}
			logicaltest.WantKind(t, "recover", err, logical.ErrNotFound)
			if k := h.keysWith("s"); len(k) != 0 {
				t.Errorf("storage after a delete without window holds %v", k)
			}
		})
	}
}

func TestV2PurgeDeleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "config", body: `{"recovery_window_days":7}`})
	h.must(req{op: opUpdate, path: "data/s", body: `{"data":{"k":"v"}}`})
	h.must(req{op: opDelete, path: "metadata/s"})
	h.must(req{op: opDelete, path: "deleted/s"})
	if k := h.keysWith("s"); len(k) != 0 {
		t.Errorf("storage after purge holds %v", k)
	}
	h.must(req{op: opDelete, path: "deleted/s"}) // nothing there: success
	h.must(req{op: opUpdate, path: "data/s", body: `{"data":{"k":"new"}}`})
}

// TestV2Events checks every event a version 2 mount sends and its
// metadata: paths and versions, never a value.
func TestV2Events(t *testing.T) {
	t.Parallel()
	h, rec := newEventHarness(t)
	type ev = sentEvent
	md := func(kv ...string) map[string]string {
		m := map[string]string{"modified": "true"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	steps := []struct {
		r    req
		want []ev
	}{
		{r: req{op: opUpdate, path: "config", body: `{"max_versions":2}`},
			want: []ev{{"kv-v2/config-write", md("path", "config", "operation", "config-write")}}},
		{r: req{op: opUpdate, path: "data/app/db", body: `{"data":{"password":"hunter2"}}`},
			want: []ev{{"kv-v2/data-write", md("path", "data/app/db", "data_path", "data/app/db", "operation", "data-write", "current_version", "1", "oldest_version", "0")}}},
		{r: req{op: opPatch, path: "data/app/db", body: `{"data":{"user":"app"}}`},
			want: []ev{{"kv-v2/data-patch", md("path", "data/app/db", "data_path", "data/app/db", "operation", "data-patch", "current_version", "2", "oldest_version", "0")}}},
		{r: req{op: opUpdate, path: "data/app/db", body: `{"data":{"password":"third"}}`},
			want: []ev{{"kv-v2/data-write", md("path", "data/app/db", "data_path", "data/app/db", "operation", "data-write", "current_version", "3", "oldest_version", "2")}}},
		{r: req{op: opDelete, path: "data/app/db"},
			want: []ev{{"kv-v2/data-delete", md("path", "data/app/db", "data_path", "data/app/db", "operation", "data-delete", "current_version", "3", "oldest_version", "2", "deleted_version", "3")}}},
		{r: req{op: opDelete, path: "data/app/db"}}, // already deleted: no change, no event
		{r: req{op: opUpdate, path: "undelete/app/db", body: `{"versions":[3]}`},
			want: []ev{{"kv-v2/undelete", md("path", "undelete/app/db", "data_path", "data/app/db", "operation", "undelete", "current_version", "3", "oldest_version", "2", "versions", "3")}}},
		{r: req{op: opUpdate, path: "delete/app/db", body: `{"versions":[2,3]}`},
			want: []ev{{"kv-v2/delete", md("path", "delete/app/db", "data_path", "data/app/db", "operation", "delete", "current_version", "3", "oldest_version", "2", "versions", "2,3")}}},
		{r: req{op: opUpdate, path: "destroy/app/db", body: `{"versions":[2]}`},
			want: []ev{{"kv-v2/destroy", md("path", "destroy/app/db", "data_path", "data/app/db", "operation", "destroy", "current_version", "3", "oldest_version", "2", "versions", "2")}}},
		{r: req{op: opUpdate, path: "destroy/app/db", body: `{"versions":[2]}`}}, // no change
		{r: req{op: opUpdate, path: "metadata/app/db", body: `{"max_versions":5}`},
			want: []ev{{"kv-v2/metadata-write", md("path", "metadata/app/db", "data_path", "data/app/db", "operation", "metadata-write", "current_version", "3", "oldest_version", "2")}}},
		{r: req{op: opPatch, path: "metadata/app/db", body: `{"custom_metadata":{"a":"b"}}`},
			want: []ev{{"kv-v2/metadata-patch", md("path", "metadata/app/db", "data_path", "data/app/db", "operation", "metadata-patch", "current_version", "3", "oldest_version", "2")}}},
		{r: req{op: opDelete, path: "metadata/app/db"},
			want: []ev{{"kv-v2/metadata-delete", md("path", "metadata/app/db", "operation", "metadata-delete")}}},
		{r: req{op: opDelete, path: "metadata/app/db"}}, // nothing there
		{r: req{op: opUpdate, path: "config", body: `{"recovery_window_days":1}`},
			want: []ev{{"kv-v2/config-write", md("path", "config", "operation", "config-write")}}},
		{r: req{op: opUpdate, path: "data/x", body: `{"data":{"k":"v"}}`},
			want: []ev{{"kv-v2/data-write", md("path", "data/x", "data_path", "data/x", "operation", "data-write", "current_version", "1", "oldest_version", "0")}}},
		{r: req{op: opDelete, path: "metadata/x"},
			want: []ev{{"kv-v2/metadata-delete", md("path", "metadata/x", "operation", "metadata-delete", "recoverable_until", "2025-01-03T03:04:05.000000006Z")}}},
		{r: req{op: opUpdate, path: "recover/x"},
			want: []ev{{"secret/recovered", md("path", "recover/x", "data_path", "data/x", "operation", "recovered", "current_version", "1", "oldest_version", "0")}}},
		{r: req{op: opUpdate, path: "data/x", body: `{"bad":1}`}}, // refused: no event
	}
	for _, s := range steps {
		h.do(s.r) //nolint:errcheck // the refused step is meant to fail
		got := rec.take()
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s %s %s: events (-want +got):\n%s", s.r.op, s.r.path, s.r.body, diff)
		}
		for _, e := range got {
			for k, v := range e.Metadata {
				if strings.Contains(v, "hunter2") || strings.Contains(v, "third") {
					t.Errorf("%s: metadata %s carries a value", e.Type, k)
				}
			}
		}
	}
}

func FuzzParseExpireAt(f *testing.F) {
	for _, s := range []string{"", "2030-01-02T15:04:05Z", "2030-01-02T15:04:05.999999999+02:00", "2262-04-12T00:00:00Z",
		"1677-01-01T00:00:00Z", "2030-13-01T00:00:00Z", " 2030-01-02T15:04:05Z ", "tomorrow"} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	f.Fuzz(func(t *testing.T, s string) {
		at, err := parseExpireAt(s, now)
		if err != nil {
			if at != 0 {
				t.Fatalf("parseExpireAt(%q) = %d with error %v", s, at, err)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			if at != 0 {
				t.Fatalf("parseExpireAt(%q) = %d, want 0", s, at)
			}
			return
		}
		if at <= now {
			t.Fatalf("parseExpireAt(%q) = %d, not after now", s, at)
		}
		// The stored time round-trips through its display form.
		back, err := parseExpireAt(formatTime(at), now)
		if err != nil || back != at {
			t.Fatalf("round trip of %q: %d, %v; want %d", formatTime(at), back, err, at)
		}
	})
}

func TestV1Events(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	env := logicaltest.NewEnv(map[string]string{"version": "1"})
	env.Events = rec
	h := &harness{logicaltest.NewHarness(t, Factory, env)}
	h.must(req{op: opUpdate, path: "app/db", body: `{"password":"hunter2"}`})
	h.must(req{op: opDelete, path: "app/db"})
	want := []sentEvent{
		{Type: "kv-v1/write", Metadata: map[string]string{"path": "app/db", "data_path": "app/db", "modified": "true", "operation": "write"}},
		{Type: "kv-v1/delete", Metadata: map[string]string{"path": "app/db", "modified": "true", "operation": "delete"}},
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// BenchmarkPeriodicIdle measures one sweep of a mount with 10,000 secrets
// that expire in 30 days (none due) and 10,000 without expiry: the cost
// the once-a-minute sweep adds at idle.
func BenchmarkPeriodicIdle(b *testing.B) {
	h := newHarness(b, "2")
	for i := range 20000 {
		p := "svc" + strconv.Itoa(i%100) + "/key" + strconv.Itoa(i)
		h.must(req{op: opUpdate, path: "data/" + p, body: `{"data":{"k":"v"}}`})
		if i%2 == 0 {
			h.must(req{op: opUpdate, path: "metadata/" + p, body: `{"ttl":"720h"}`})
		}
	}
	p := h.Backend.(logical.Periodic)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Periodic(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestV2SweepConcurrentWithWrites runs sweeps while other goroutines set
// and clear expiry times and write versions; afterwards every key has at
// most one index entry, the one its metadata calls for.
func TestV2SweepConcurrentWithWrites(t *testing.T) {
	t.Parallel()
	h, _ := newEventHarness(t)
	h.must(req{op: opUpdate, path: "config", body: `{"expiry_notice":"1m"}`})
	keys := []string{"a", "b", "c", "d"}
	for _, k := range keys {
		h.must(req{op: opUpdate, path: "data/" + k, body: `{"data":{"k":"v"}}`})
	}
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			for j := range 50 {
				body := `{"ttl":"` + strconv.Itoa(j%3*30) + `s"}`
				if _, err := h.Do(opPatch, "metadata/"+k, body); err != nil {
					t.Errorf("patch %s: %v", k, err)
				}
				h.Do(opUpdate, "data/"+k, `{"data":{"k":"`+strconv.Itoa(i*j)+`"}}`) //nolint:errcheck // refused once expired
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			h.Clock.Advance(10 * time.Second)
			if err := h.Backend.(logical.Periodic).Periodic(t.Context()); err != nil {
				t.Errorf("Periodic: %v", err)
			}
		}
	})
	wg.Wait()
	h.periodic()
	for _, k := range keys {
		meta, err := loadMeta(t.Context(), h.Storage, k)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		if meta.ExpireAt != 0 && meta.ExpiryNotified&notifiedExpired == 0 {
			want = []string{expiryKey(k, meta.ExpireAt)}
		}
		var got []string
		for _, key := range h.keysWith(expiryPrefix) {
			if strings.HasSuffix(key, "/"+k) {
				got = append(got, key)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("index of %s (-want +got):\n%s", k, diff)
		}
	}
}

// TestV2SweepGoesOnAfterAFailure checks that a damaged trash entry is
// reported but does not keep the sweep from purging the others.
func TestV2SweepGoesOnAfterAFailure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	h.must(req{op: opUpdate, path: "config", body: `{"recovery_window_days":1}`})
	h.must(req{op: opUpdate, path: "data/z", body: `{"data":{"k":"v"}}`})
	h.must(req{op: opDelete, path: "metadata/z"})
	if err := h.Storage.Put(t.Context(), &logical.StorageEntry{Key: trashPrefix + "a", Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	h.Clock.Advance(48 * time.Hour)
	err := h.Backend.(logical.Periodic).Periodic(t.Context())
	if err == nil || !strings.Contains(err.Error(), "purge deleted secret a") {
		t.Errorf("Periodic = %v, want the damaged entry's error", err)
	}
	if k := h.keysWith("/z"); len(k) != 0 {
		t.Errorf("storage after the sweep holds %v", k)
	}
}
