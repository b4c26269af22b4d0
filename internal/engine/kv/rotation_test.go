package kv

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/rotation"
)

// events records the events a backend sends.
type events struct {
	mu   sync.Mutex
	sent []string // "type path version"
}

func (e *events) SendEvent(_ context.Context, typ string, md map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if strings.HasPrefix(typ, "rotation/") {
		e.sent = append(e.sent, typ+" "+md["path"]+" "+md["version"])
	}
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.sent...)
}

// dbSystem is a system view whose database passwords a test controls.
type dbSystem struct {
	logicaltest.System
	mu   sync.Mutex
	fail error    // the next SetDatabasePassword fails with it
	set  []string // "mount conn user password" of every call
	// during, if set, runs in the next SetDatabasePassword call (once).
	during func()
}

func (s *dbSystem) SetDatabasePassword(_ context.Context, mount, conn, user, pw string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set = append(s.set, mount+" "+conn+" "+user+" "+pw)
	if f := s.during; f != nil {
		s.during = nil
		f()
	}
	return s.fail
}

// allowAll is an ACL that allows everything.
type allowAll struct{}

func (allowAll) Allowed(string, logical.Operation) bool { return true }

func (allowAll) AllowedParams(string, logical.Operation, map[string]any) bool { return true }

// onlyAllow is an ACL that allows one path.
type onlyAllow string

func (o onlyAllow) Allowed(p string, _ logical.Operation) bool { return p == string(o) }

func (o onlyAllow) AllowedParams(p string, op logical.Operation, _ map[string]any) bool {
	return o.Allowed(p, op)
}

type rotHarness struct {
	*harness
	events *events
	db     *dbSystem
}

func newRotHarness(t testing.TB, clock logical.Clock) *rotHarness {
	t.Helper()
	env := logicaltest.NewEnv(map[string]string{"version": "2"})
	ev, db := &events{}, &dbSystem{System: logicaltest.System{DefaultTTL: time.Hour, MaxTTL: time.Hour}}
	env.Events, env.System = ev, db
	if clock != nil {
		env.Clock = clock
	}
	return &rotHarness{harness: &harness{logicaltest.NewHarness(t, Factory, env)}, events: ev, db: db}
}

// asMap re-decodes a response's data as JSON.
func asMap(t testing.TB, resp *logical.Response) map[string]any {
	t.Helper()
	if resp == nil {
		t.Fatal("no response")
	}
	b, err := json.Marshal(resp.Data)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// current reads data/p and returns its data and version.
func (h *rotHarness) current(p string) (map[string]any, int) {
	h.T.Helper()
	m := asMap(h.T, h.must(req{op: opRead, path: "data/" + p}))
	data, _ := m["data"].(map[string]any)
	return data, int(m["metadata"].(map[string]any)["version"].(float64))
}

func TestRotationPolicyAPI(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	h.must(req{op: opCreate, path: "data/app/api", body: `{"data":{"user":"app","key":"old"}}`})
	resp := h.must(req{op: opUpdate, path: "rotation/app/api", body: `{"period":"1h","grace_period":"10m","keys":{"key":{"generator":"random","encoding":"hex","length":16}},"bogus":1}`})
	if w := resp.Warnings; len(w) != 1 || !strings.Contains(w[0], "bogus") {
		t.Errorf("warnings = %v, want the unknown field named", w)
	}
	got := asMap(t, h.must(req{op: opRead, path: "rotation/app/api"}))
	if got["period"] != "1h0m0s" || got["grace_period"] != "10m0s" || got["next_rotation"] != h.ts(time.Hour) || got["pending_version"] != 0.0 {
		t.Errorf("rotation read = %v", got)
	}
	// A metadata read shows the rotation only to who may read it at
	// rotation/<path> (its own ACL).
	for _, tt := range []struct {
		name   string
		access logical.AccessChecker
		want   bool
	}{
		{"metadata and rotation read", allowAll{}, true},
		{"metadata read only", onlyAllow("secret/metadata/app/api"), false},
		{"no token", nil, false},
	} {
		r := h.Request(opRead, "metadata/app/api", "")
		r.MountPoint, r.Access = "secret/", tt.access
		resp, err := h.Send(r)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		meta := asMap(t, resp)
		rot, _ := meta["rotation"].(map[string]any)
		if got := rot != nil; got != tt.want || tt.want && rot["next_rotation"] != h.ts(time.Hour) {
			t.Errorf("%s: metadata rotation = %v, want shown %v", tt.name, meta["rotation"], tt.want)
		}
		if meta["current_version"] != 1.0 {
			t.Errorf("%s: metadata = %v", tt.name, meta)
		}
	}
	if keys := asMap(t, h.must(req{op: opList, path: "rotation/app"}))["keys"]; len(keys.([]any)) != 1 {
		t.Errorf("list = %v", keys)
	}

	bad := []struct{ name, path, body string }{
		{"no schedule", "rotation/app/api", `{"keys":{"key":{"generator":"random"}}}`},
		{"bad generator", "rotation/app/api", `{"period":"1h","keys":{"key":{"generator":"magic"}}}`},
		{"bad path", "rotation/a//b", `{"period":"1h","keys":{"key":{"generator":"random"}}}`},
	}
	for _, tt := range bad {
		before := h.Storage.Snapshot()
		_, err := h.do(req{op: opUpdate, path: tt.path, body: tt.body})
		logicaltest.WantKind(t, tt.name, err, logical.ErrInvalidRequest)
		h.Unchanged(tt.name, before)
	}

	// A database rotator needs the caller to manage the connection.
	dbPolicy := `{"period":"1h","keys":{"pw":{"generator":"random"}},"rotator":{"type":"database","mount":"database","connection":"db","username":"app"}}`
	_, err := h.do(req{op: opUpdate, path: "rotation/app/db", body: dbPolicy})
	logicaltest.WantKind(t, "database rotator without access", err, logical.ErrPermissionDenied)
	h.must(req{op: opCreate, path: "data/app/db", body: `{"data":{"pw":"x"}}`})
	r := h.Request(opUpdate, "rotation/app/db", dbPolicy)
	r.Access = allowAll{}
	if _, err := h.Send(r); err != nil {
		t.Fatalf("database rotator with access: %v", err)
	}

	// A webhook that receives the values needs read access to them.
	hookPolicy := `{"period":"1h","keys":{"key":{"generator":"random"}},"rotator":{"type":"webhook","url":"https://h.example/r","hmac_key":"0123456789abcdef","send_values":true}}`
	r = h.Request(opUpdate, "rotation/app/api", hookPolicy)
	r.MountPoint, r.Access = "secret/", onlyAllow("secret/config/x")
	_, err = h.Send(r)
	logicaltest.WantKind(t, "send_values without read access", err, logical.ErrPermissionDenied)
	r = h.Request(opUpdate, "rotation/app/api", hookPolicy)
	r.MountPoint, r.Access = "secret/", onlyAllow("secret/data/app/api")
	if _, err := h.Send(r); err != nil {
		t.Errorf("send_values with read access: %v", err)
	}

	h.must(req{op: opDelete, path: "rotation/app/api"})
	if resp, _ := h.do(req{op: opRead, path: "rotation/app/api"}); resp != nil {
		t.Errorf("read after delete = %v", resp.Data)
	}
	// Deleting the secret deletes its policy.
	h.must(req{op: opDelete, path: "metadata/app/db"})
	if resp, _ := h.do(req{op: opRead, path: "rotation/app/db"}); resp != nil {
		t.Errorf("policy survived its secret: %v", resp.Data)
	}
}

func TestRotateNow(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	h.must(req{op: opCreate, path: "data/svc", body: `{"data":{"user":"app","token":"old","n":7}}`})
	h.must(req{op: opUpdate, path: "rotation/svc", body: `{"period":"1h","grace_period":"10m","keys":{"token":{"generator":"random","encoding":"hex","length":16},"sign":{"generator":"ed25519"},"user":{"generator":"keep"}}}`})
	h.Clock.Advance(time.Minute)
	got := asMap(t, h.must(req{op: opUpdate, path: "rotate/svc"}))
	if got["version"] != 2.0 || got["previous_version"] != 1.0 {
		t.Fatalf("rotate = %v", got)
	}
	data, v := h.current("svc")
	if v != 2 || data["user"] != "app" || data["n"] != 7.0 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(data["token"].(string)) {
		t.Fatalf("current after rotation = v%d %v", v, data)
	}
	// The public key of the generated pair is in the rotation state.
	rot := asMap(t, h.must(req{op: opRead, path: "rotation/svc"}))
	pub := rot["public_keys"].(map[string]any)["sign"].(string)
	pb, _ := pem.Decode([]byte(pub))
	kb, _ := pem.Decode([]byte(data["sign"].(string)))
	pk, err1 := x509.ParsePKIXPublicKey(pb.Bytes)
	sk, err2 := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err1 != nil || err2 != nil || !sk.(ed25519.PrivateKey).Public().(ed25519.PublicKey).Equal(pk) {
		t.Errorf("public key %q does not match the private key (%v, %v)", pub, err1, err2)
	}
	if rot["last_rotation"] != h.ts(0) || rot["next_rotation"] != h.ts(time.Hour) || rot["previous_version"] != 1.0 {
		t.Errorf("rotation state = %v", rot)
	}
	// The previous version stays readable for the grace period, then is
	// soft-deleted.
	if old := asMap(t, h.must(req{op: opRead, path: "data/svc", query: "version=1"})); old["data"].(map[string]any)["token"] != "old" {
		t.Errorf("previous version during grace = %v", old)
	}
	h.Clock.Advance(10*time.Minute + time.Second)
	if resp := h.must(req{op: opRead, path: "data/svc", query: "version=1"}); !resp.NotFound {
		t.Error("previous version still readable after the grace period")
	}
	if ev := h.events.list(); len(ev) != 1 || ev[0] != "rotation/succeeded data/svc 2" {
		t.Errorf("events = %v", ev)
	}
	// A policy may come before its secret: the first rotation creates it.
	h.must(req{op: opUpdate, path: "rotation/fresh", body: `{"period":"1h","keys":{"k":{"generator":"random"}}}`})
	h.must(req{op: opUpdate, path: "rotate/fresh"})
	if data, v := h.current("fresh"); v != 1 || len(data["k"].(string)) != 43 {
		t.Errorf("fresh secret = v%d %v", v, data)
	}
	_, err := h.do(req{op: opUpdate, path: "rotate/none"})
	logicaltest.WantKind(t, "rotate without a policy", err, logical.ErrNotFound)
}

func TestRotatorFailureKeepsCurrent(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	h.must(req{op: opCreate, path: "data/db", body: `{"data":{"password":"old"}}`})
	r := h.Request(opUpdate, "rotation/db", `{"period":"1h","keys":{"password":{"generator":"password"}},"rotator":{"type":"database","mount":"database","connection":"pg","username":"app"}}`)
	r.Access = allowAll{}
	if _, err := h.Send(r); err != nil {
		t.Fatal(err)
	}
	h.db.fail = &logical.Error{Kind: logical.ErrUpstream, Msg: "set database user password: connection refused"}
	for i := 1; i <= 2; i++ {
		_, err := h.do(req{op: opUpdate, path: "rotate/db"})
		logicaltest.WantKind(t, "failing rotator", err, logical.ErrUpstream)
		if data, v := h.current("db"); v != 1 || data["password"] != "old" {
			t.Fatalf("after failure %d: current = v%d %v", i, v, data)
		}
		rot := asMap(t, h.must(req{op: opRead, path: "rotation/db"}))
		if rot["failures"] != float64(i) || rot["pending_version"] != 2.0 || !strings.Contains(rot["last_error"].(string), "connection refused") ||
			rot["next_rotation"] != h.ts(retryDelay(i)) {
			t.Errorf("after failure %d: state = %v", i, rot)
		}
	}
	meta := asMap(t, h.must(req{op: opRead, path: "metadata/db"}))
	if meta["current_version"] != 1.0 {
		t.Errorf("metadata current_version = %v while pending", meta["current_version"])
	}
	h.db.fail = nil
	h.must(req{op: opUpdate, path: "rotate/db"})
	data, v := h.current("db")
	if v != 2 {
		t.Fatalf("after success: version %d", v)
	}
	// Every attempt set the same pending password: a retry completes the
	// rotation it started, it does not draw a new one.
	want := "database pg app " + data["password"].(string)
	for i, s := range h.db.set {
		if s != want {
			t.Errorf("attempt %d set %q, want %q", i, s, want)
		}
	}
	if len(h.db.set) != 3 {
		t.Errorf("attempts = %d, want 3", len(h.db.set))
	}
	ev := h.events.list()
	if len(ev) != 3 || ev[0] != "rotation/failed data/db 2" || ev[2] != "rotation/succeeded data/db 2" {
		t.Errorf("events = %v", ev)
	}
	for _, e := range ev {
		if strings.Contains(e, data["password"].(string)) {
			t.Error("an event carries the password")
		}
	}
	if rot := asMap(t, h.must(req{op: opRead, path: "rotation/db"})); rot["failures"] != 0.0 || rot["last_error"] != "" {
		t.Errorf("state after success = %v", rot)
	}
}

// TestPendingVersionAndWriters: while a rotation is pending, writes and
// patches are refused and change nothing, so that the version the rotator
// put in place becomes current; a pending version found older than the
// current one (storage written before writes were refused) is dropped,
// not reported as a success, and the secret is rotated again at once.
func TestPendingVersionAndWriters(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	h.must(req{op: opUpdate, path: "metadata/k", body: `{"max_versions":1}`})
	h.must(req{op: opCreate, path: "data/k", body: `{"data":{"pw":"v1"}}`})
	r := h.Request(opUpdate, "rotation/k", `{"period":"1h","keys":{"pw":{"generator":"random"}},"rotator":{"type":"database","mount":"d","connection":"c","username":"u"}}`)
	r.Access = allowAll{}
	if _, err := h.Send(r); err != nil {
		t.Fatal(err)
	}
	h.db.fail = errors.New("down")
	if _, err := h.do(req{op: opUpdate, path: "rotate/k"}); err == nil {
		t.Fatal("rotation with a failing rotator succeeded")
	}
	// max_versions 1 trimmed neither the current nor the pending version.
	if data, v := h.current("k"); v != 1 || data["pw"] != "v1" {
		t.Fatalf("current = v%d %v", v, data)
	}
	for _, w := range []req{
		{op: opUpdate, path: "data/k", body: `{"data":{"pw":"manual"}}`},
		{op: opUpdate, path: "data/k", body: `{"data":{"pw":"manual"},"options":{"cas":1}}`},
		{op: logical.PatchOperation, path: "data/k", body: `{"data":{"pw":"manual"}}`},
	} {
		before := h.Storage.Snapshot()
		_, err := h.do(w)
		logicaltest.WantKind(t, string(w.op)+" during a pending rotation", err, logical.ErrConflict)
		if err != nil && !strings.Contains(err.Error(), "rotation of this secret is in progress") {
			t.Errorf("%s during a pending rotation: %q does not say why", w.op, err)
		}
		h.Unchanged(string(w.op)+" during a pending rotation", before)
	}
	h.db.fail = nil
	h.must(req{op: opUpdate, path: "rotate/k"})
	data, v := h.current("k")
	if v != 2 || data["pw"] == "v1" || h.db.set[len(h.db.set)-1] != "d c u "+data["pw"].(string) {
		t.Fatalf("after the rotation completed: v%d %v; the database got %v", v, data, h.db.set)
	}
	// Writes are accepted again.
	h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"pw":"manual"}}`})

	// Stored state from before writes were refused: version 5 written
	// after the pending version 4. Completing 4 would leave the database
	// with a password KV does not answer; it is dropped and a new
	// rotation (version 6) runs from the current version.
	h.db.fail = errors.New("down")
	if _, err := h.do(req{op: opUpdate, path: "rotate/k"}); err == nil {
		t.Fatal("rotation with a failing rotator succeeded")
	}
	h.db.fail = nil
	h.writeBehindPending("k", `{"pw":"manual2"}`)
	h.db.set = nil
	got := asMap(t, h.must(req{op: opUpdate, path: "rotate/k"}))
	data, v = h.current("k")
	if got["version"] != 6.0 || got["previous_version"] != 5.0 || v != 6 || data["pw"] == "manual2" {
		t.Fatalf("rotate after a stale pending version = %v; current v%d %v", got, v, data)
	}
	if len(h.db.set) != 1 || h.db.set[0] != "d c u "+data["pw"].(string) {
		t.Errorf("database calls %v, want the new current password only", h.db.set)
	}

	// A version (8) written while the rotator sets the pending one (7),
	// bypassing the refusal: the commit is not a success; the secret is
	// rotated again at once (9) and the database ends with its password.
	h.db.set = nil
	h.db.during = func() { h.writeBehindPending("k", `{"pw":"manual3"}`) }
	got = asMap(t, h.must(req{op: opUpdate, path: "rotate/k"}))
	data, v = h.current("k")
	if got["version"] != 9.0 || got["previous_version"] != 8.0 || v != 9 || len(h.db.set) != 2 || h.db.set[1] != "d c u "+data["pw"].(string) {
		t.Fatalf("rotate with a write during the rotator = %v; current v%d %v; database %v", got, v, data, h.db.set)
	}
	var succeeded []string
	for _, e := range h.events.list() {
		if strings.HasPrefix(e, "rotation/succeeded") {
			succeeded = append(succeeded, e)
		}
	}
	if want := []string{"rotation/succeeded data/k 2", "rotation/succeeded data/k 6", "rotation/succeeded data/k 9"}; !slices.Equal(succeeded, want) {
		t.Errorf("success events %v, want %v (a stale pending version is no success)", succeeded, want)
	}
}

// writeBehindPending stores data as a new current version of p after its
// pending one, straight to storage, as a writer could before writes were
// refused while a rotation is pending.
func (h *rotHarness) writeBehindPending(p, data string) {
	h.T.Helper()
	ctx := h.T.Context()
	meta, err := loadMeta(ctx, h.Storage, p)
	if err != nil || meta == nil || meta.Pending == 0 {
		h.T.Fatalf("metadata of %s = %+v, %v: want a pending version", p, meta, err)
	}
	v := versionMeta{N: meta.nextVersion(), Created: h.Clock.Now().UnixNano()}
	meta.Versions = append(meta.Versions, v)
	meta.Current = v.N
	op, err := putOp(metaKey(p), meta)
	if err != nil {
		h.T.Fatal(err)
	}
	if err := h.Storage.Txn(ctx, []logical.TxnOp{op, {Key: verKey(p, v.N), Value: []byte(data)}}); err != nil {
		h.T.Fatal(err)
	}
}

// TestScheduler runs the scheduler in a bubble with fake time: a 2 s
// period rotates at 2 s, 4 s, 6 s, never more often, and a failing
// rotator is retried with backoff.
func TestScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newRotHarness(t, logical.SystemClock{})
		h.must(req{op: opCreate, path: "data/s", body: `{"data":{"k":"v0"}}`})
		h.must(req{op: opUpdate, path: "rotation/s", body: `{"period":"2s","keys":{"k":{"generator":"random"}}}`})
		h.must(req{op: opUpdate, path: "rotation/other", body: `{"period":"1h","keys":{"k":{"generator":"random"}}}`})
		for _, tt := range []struct {
			after time.Duration
			want  int
		}{{1900 * time.Millisecond, 1}, {200 * time.Millisecond, 2}, {1800 * time.Millisecond, 2}, {300 * time.Millisecond, 3}, {2 * time.Second, 4}} {
			time.Sleep(tt.after)
			synctest.Wait()
			if _, v := h.current("s"); v != tt.want {
				t.Fatalf("at +%v: version %d, want %d", tt.after, v, tt.want)
			}
		}
		if resp, _ := h.do(req{op: opRead, path: "data/other"}); resp != nil {
			t.Error("a secret due in an hour was rotated")
		}
	})
}

// TestSchedulerResumesPending: a backend built on storage with a pending
// rotation completes it at start, with the pending value, without a new
// version; a standby backend starts no scheduler.
func TestSchedulerResumesPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		env := logicaltest.NewEnv(map[string]string{"version": "2"})
		env.Clock = logical.SystemClock{}
		db := &dbSystem{fail: errors.New("down")}
		env.System = db
		first := &harness{logicaltest.NewHarness(t, Factory, env)}
		first.must(req{op: opCreate, path: "data/p", body: `{"data":{"pw":"old"}}`})
		r := first.Request(opUpdate, "rotation/p", `{"period":"1h","keys":{"pw":{"generator":"random"}},"rotator":{"type":"database","mount":"d","connection":"c","username":"u"}}`)
		r.Access = allowAll{}
		if _, err := first.Send(r); err != nil {
			t.Fatal(err)
		}
		if _, err := first.do(req{op: opUpdate, path: "rotate/p"}); err == nil {
			t.Fatal("rotation succeeded with the rotator down")
		}
		first.Backend.(logical.Cleaner).Cleanup(t.Context())

		// A standby on the same storage does nothing.
		db.fail = nil
		env.Standby = true
		standby := logicaltest.New(t, Factory, env)
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(db.set) != 1 {
			t.Fatalf("a standby ran rotations: %d calls", len(db.set))
		}
		standby.(logical.Cleaner).Cleanup(t.Context())

		env.Standby = false
		second := &harness{logicaltest.NewHarness(t, Factory, env)}
		synctest.Wait()
		m := asMap(t, second.must(req{op: opRead, path: "data/p"}))
		if v := m["metadata"].(map[string]any)["version"]; v != 2.0 {
			t.Fatalf("after restart: version %v, want 2 (the pending one)", v)
		}
		pw := m["data"].(map[string]any)["pw"].(string)
		if len(db.set) != 2 || db.set[0] != db.set[1] || !strings.HasSuffix(db.set[1], " "+pw) {
			t.Errorf("rotator calls = %q, want the same pending password twice", db.set)
		}
	})
}

// TestRotationOfDeletedSecret: a secret in its recovery window is not
// rotated (nor brought back) and rotates again once recovered; purging it
// deletes its policy.
func TestRotationOfDeletedSecret(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	h.must(req{op: opUpdate, path: "config", body: `{"recovery_window_days":1}`})
	h.must(req{op: opCreate, path: "data/gone", body: `{"data":{"k":"v1"}}`})
	h.must(req{op: opUpdate, path: "rotation/gone", body: `{"period":"1h","keys":{"k":{"generator":"random"}}}`})
	h.must(req{op: opDelete, path: "metadata/gone"})
	_, err := h.do(req{op: opUpdate, path: "rotate/gone"})
	logicaltest.WantKind(t, "rotate a deleted secret", err, logical.ErrInvalidRequest)
	if resp, _ := h.do(req{op: opRead, path: "data/gone"}); resp != nil {
		t.Fatalf("rotation brought a deleted secret back: %v", resp.Data)
	}
	if rot := asMap(t, h.must(req{op: opRead, path: "rotation/gone"})); rot["failures"] != 0.0 {
		t.Errorf("a deleted secret's skipped rotation counted as a failure: %v", rot)
	}
	h.must(req{op: opUpdate, path: "recover/gone"})
	h.must(req{op: opUpdate, path: "rotate/gone"})
	if data, v := h.current("gone"); v != 2 || data["k"] == "v1" {
		t.Errorf("after recovery: v%d %v", v, data)
	}
	h.must(req{op: opDelete, path: "metadata/gone"})
	h.Clock.Advance(49 * time.Hour)
	_, err = h.do(req{op: opUpdate, path: "rotate/gone"})
	logicaltest.WantKind(t, "rotate a purged secret", err, logical.ErrNotFound)
	if resp, _ := h.do(req{op: opRead, path: "rotation/gone"}); resp != nil {
		t.Errorf("policy survived the purge: %v", resp.Data)
	}
}

func TestSchedulerQueue(t *testing.T) {
	t.Parallel()
	s := newScheduler()
	s.set("a", 30)
	s.set("b", 10)
	s.set("c", 20)
	s.set("b", 40) // moved: the entry at 10 is stale
	s.remove("c")
	if due, next := s.next(25); len(due) != 0 || next != 30 {
		t.Fatalf("next(25) = %v, %d; want nothing due, the earliest at 30", due, next)
	}
	if due, next := s.next(45); strings.Join(due, ",") != "a,b" || next != 0 {
		t.Fatalf("next(45) = %v, %d; want a,b and nothing left", due, next)
	}
	// Rewriting one far-off due time many times keeps the heap small.
	for i := range 10000 {
		s.set("x", int64(1000+i))
	}
	if n := len(s.queue); n > 1100 {
		t.Errorf("heap holds %d entries for 1 policy", n)
	}
	if due, _ := s.next(1 << 40); len(due) != 1 || due[0] != "x" {
		t.Errorf("due = %v, want x once", due)
	}
}

// TestSchedulerRetriesFailures: a failed scheduled rotation is retried
// after 1 s, 2 s, 4 s ... with the same pending value until the rotator
// accepts it.
func TestSchedulerRetriesFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newRotHarness(t, logical.SystemClock{})
		start := time.Now()
		h.must(req{op: opCreate, path: "data/r", body: `{"data":{"pw":"old"}}`})
		h.db.mu.Lock()
		h.db.fail = errors.New("database down")
		h.db.mu.Unlock()
		r := h.Request(opUpdate, "rotation/r", `{"period":"10s","keys":{"pw":{"generator":"random"}},"rotator":{"type":"database","mount":"d","connection":"c","username":"u"}}`)
		r.Access = allowAll{}
		if _, err := h.Send(r); err != nil {
			t.Fatal(err)
		}
		calls := func() []string {
			h.db.mu.Lock()
			defer h.db.mu.Unlock()
			return append([]string(nil), h.db.set...)
		}
		ms := time.Millisecond
		// Due at 10 s; failures retried at 11 s, 13 s and 17 s.
		for _, tt := range []struct {
			at    time.Duration
			calls int
		}{{9990 * ms, 0}, {10010 * ms, 1}, {10990 * ms, 1}, {11010 * ms, 2}, {12990 * ms, 2}, {13010 * ms, 3}} {
			time.Sleep(time.Until(start.Add(tt.at)))
			synctest.Wait()
			if got := len(calls()); got != tt.calls {
				t.Fatalf("at %v: %d rotator calls, want %d", tt.at, got, tt.calls)
			}
		}
		h.db.mu.Lock()
		h.db.fail = nil
		h.db.mu.Unlock()
		time.Sleep(time.Until(start.Add(17010 * ms)))
		synctest.Wait()
		got := calls()
		if len(got) != 4 {
			t.Fatalf("rotator calls = %d, want 4", len(got))
		}
		for _, c := range got[1:] {
			if c != got[0] {
				t.Errorf("a retry set %q, the first attempt %q: want the same pending password", c, got[0])
			}
		}
		if data, v := h.current("r"); v != 2 || !strings.HasSuffix(got[0], " "+data["pw"].(string)) {
			t.Errorf("after the retries: v%d %v", v, data)
		}
	})
}

func TestWalkReportsNextRotation(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	h.must(req{op: opCreate, path: "data/app/api", body: `{"data":{"key":"old"}}`})
	h.must(req{op: opCreate, path: "data/app/plain", body: `{"data":{"key":"x"}}`})
	h.must(req{op: opUpdate, path: "rotation/app/api", body: `{"period":"1h","keys":{"key":{"generator":"random"}}}`})
	got := map[string]time.Time{}
	err := h.Backend.(logical.SecretWalker).WalkSecrets(t.Context(), "app/", func(i logical.SecretInfo) (bool, error) {
		got[i.Path] = i.NextRotation
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := h.Clock.Now().Add(time.Hour); !got["app/api"].Equal(want) {
		t.Errorf("app/api next rotation = %v, want %v", got["app/api"], want)
	}
	if n, ok := got["app/plain"]; !ok || !n.IsZero() {
		t.Errorf("app/plain next rotation = %v (walked %v), want zero", n, ok)
	}
}

// TestExpiredSecretNotRotated: an expired secret, like a deleted one, is
// not rotated (its data can no longer be read; a rotator would set a value nobody
// may read): no rotator call, no recorded failure; once its expiry is
// extended it rotates again. A pending rotation is not completed either.
func TestExpiredSecretNotRotated(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	h.must(req{op: opCreate, path: "data/e", body: `{"data":{"pw":"old"}}`})
	h.must(req{op: opUpdate, path: "metadata/e", body: `{"ttl":"1h"}`})
	r := h.Request(opUpdate, "rotation/e", `{"period":"30m","keys":{"pw":{"generator":"random"}},"rotator":{"type":"database","mount":"d","connection":"c","username":"u"}}`)
	r.Access = allowAll{}
	if _, err := h.Send(r); err != nil {
		t.Fatal(err)
	}
	// A pending rotation, then the secret expires.
	h.db.fail = errors.New("down")
	if _, err := h.do(req{op: opUpdate, path: "rotate/e"}); err == nil {
		t.Fatal("rotation with a failing rotator succeeded")
	}
	h.db.fail, h.db.set = nil, nil
	h.Clock.Advance(time.Hour + time.Second)
	if resp, err := h.do(req{op: opRead, path: "data/e"}); err == nil && !resp.NotFound {
		t.Fatal("the expired secret is still readable")
	}
	before := asMap(t, h.must(req{op: opRead, path: "rotation/e"}))
	for i := range 2 {
		_, err := h.do(req{op: opUpdate, path: "rotate/e"})
		logicaltest.WantKind(t, "rotate an expired secret", err, logical.ErrInvalidRequest)
		if err != nil && !strings.Contains(err.Error(), "expired") {
			t.Errorf("attempt %d: %q does not say the secret expired", i, err)
		}
	}
	if len(h.db.set) != 0 {
		t.Errorf("the rotator was called for an expired secret: %v", h.db.set)
	}
	if after := asMap(t, h.must(req{op: opRead, path: "rotation/e"})); after["failures"] != before["failures"] || after["last_error"] != before["last_error"] {
		t.Errorf("rotation state changed from %v to %v: an expired secret is no failure", before, after)
	}
	h.must(req{op: opUpdate, path: "metadata/e", body: `{"ttl":"2h"}`})
	got := asMap(t, h.must(req{op: opUpdate, path: "rotate/e"}))
	data, v := h.current("e")
	if got["version"] != 2.0 || v != 2 || len(h.db.set) != 1 || h.db.set[0] != "d c u "+data["pw"].(string) {
		t.Errorf("rotate after extending the expiry = %v; current v%d %v; database %v", got, v, data, h.db.set)
	}
}

// TestWebhookAllowedHosts: the mount's rotation_webhook_allowed_hosts
// bounds the hosts a webhook rotator may call, when a policy is written
// and again when it runs.
func TestWebhookAllowedHosts(t *testing.T) {
	t.Parallel()
	h := newRotHarness(t, nil)
	for _, bad := range []string{`["hooks.example:443"]`, `["https://hooks.example"]`, `["hooks.example/x"]`, `[""]`, `["a b"]`} {
		before := h.Storage.Snapshot()
		_, err := h.do(req{op: opUpdate, path: "config", body: `{"rotation_webhook_allowed_hosts":` + bad + `}`})
		logicaltest.WantKind(t, "allowed hosts "+bad, err, logical.ErrInvalidRequest)
		h.Unchanged("allowed hosts "+bad, before)
	}
	h.must(req{op: opUpdate, path: "config", body: `{"rotation_webhook_allowed_hosts":"Hooks.Example., ::1"}`})
	cfg := asMap(t, h.must(req{op: opRead, path: "config"}))
	if got, _ := cfg["rotation_webhook_allowed_hosts"].([]any); len(got) != 2 || got[0] != "hooks.example" || got[1] != "::1" {
		t.Fatalf("config = %v", cfg)
	}
	policy := func(url string) string {
		return `{"period":"1h","keys":{"k":{"generator":"random"}},"rotator":{"type":"webhook","url":"` + url + `","hmac_key":"0123456789abcdef"}}`
	}
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example/r", true},
		{"https://HOOKS.example:8443/r", true},
		{"https://[::1]:9/r", true},
		{"https://10.0.0.5/r", false},
		{"https://hooks.example.evil/r", false},
	} {
		before := h.Storage.Snapshot()
		_, err := h.do(req{op: opUpdate, path: "rotation/w", body: policy(tt.url)})
		if tt.ok && err != nil {
			t.Errorf("policy with %s: %v", tt.url, err)
		}
		if !tt.ok {
			logicaltest.WantKind(t, "policy with "+tt.url, err, logical.ErrInvalidRequest)
			h.Unchanged("policy with "+tt.url, before)
		}
	}
	// Narrowing the list stops a policy written before.
	h.must(req{op: opUpdate, path: "rotation/w", body: policy("https://hooks.example/r")})
	h.must(req{op: opUpdate, path: "config", body: `{"rotation_webhook_allowed_hosts":["other.example"]}`})
	_, err := h.do(req{op: opUpdate, path: "rotate/w"})
	logicaltest.WantKind(t, "rotate with a host no longer allowed", err, logical.ErrInvalidRequest)
	if err != nil && !strings.Contains(err.Error(), "rotation_webhook_allowed_hosts") {
		t.Errorf("error %q does not name the setting", err)
	}
	// An empty list allows every host again.
	h.must(req{op: opUpdate, path: "config", body: `{"rotation_webhook_allowed_hosts":""}`})
	if cfg := asMap(t, h.must(req{op: opRead, path: "config"})); cfg["rotation_webhook_allowed_hosts"] != nil {
		t.Errorf("config after clearing = %v", cfg)
	}
	h.must(req{op: opUpdate, path: "rotation/w", body: policy("https://10.0.0.5/r")})
}

// FuzzWebhookAllowedHosts: any rotation_webhook_allowed_hosts item is
// refused or stored normalized, and a stored host admits a webhook URL
// naming it.
func FuzzWebhookAllowedHosts(f *testing.F) {
	for _, s := range []string{"hooks.example", "Hooks.Example.", "::1", "[::1]", "a:1", "", " x ", "a/b", "10.0.0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		list := framework.CommaStrings{host}
		c := new(mountConfig)
		if err := (&rotationConfigInput{WebhookAllowedHosts: &list}).applyRotationConfig(c); err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if len(c.WebhookAllowedHosts) != 1 || c.WebhookAllowedHosts[0] != normalizeHost(host) {
			t.Fatalf("stored %q for %q", c.WebhookAllowedHosts, host)
		}
		h := c.WebhookAllowedHosts[0]
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		u, err := url.Parse("https://" + h + "/hook")
		if err != nil || u.Host != h {
			return // not a URL host; no policy can name it
		}
		if err := checkWebhookHost(c, &rotation.RotatorConfig{Type: rotation.RotatorWebhook, URL: u.String()}); err != nil {
			t.Fatalf("host %q stored but %s refused: %v", c.WebhookAllowedHosts[0], u, err)
		}
	})
}
