package leaks_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	sysleaks "github.com/coffer-secrets/coffer/internal/sys/leaks"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// checkerPolicy may check for leaks and read the team's secrets only.
const checkerPolicy = `
path "sys/leaks/check" { capabilities = ["update"] }
path "secret/data/team/*" { capabilities = ["read"] }
`

// match is one entry of an answer, as a client decodes it.
type match struct {
	Index    int    `json:"index"`
	Readable bool   `json:"readable"`
	Mount    string `json:"mount,omitempty"`
	Path     string `json:"path,omitempty"`
	Key      string `json:"key,omitempty"`
	Version  *int   `json:"version,omitempty"`
	Current  *bool  `json:"current,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Trashed  bool   `json:"trashed,omitempty"`
}

type answer struct {
	Matches []match `json:"matches"`
	Checked int     `json:"checked"`
}

// hashOf is what a scanner sends for candidate v.
func hashOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// randomSecret is a fresh random string shaped like a generated password.
func randomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// check sends candidates (as their hashes) to sys/leaks/check as cl.
func check(t testing.TB, cl *api.Client, candidates ...string) (*answer, error) {
	t.Helper()
	hs := make([]string, len(candidates))
	for i, c := range candidates {
		hs[i] = hashOf(c)
	}
	sec, err := cl.Logical().WriteWithContext(t.Context(), "sys/leaks/check", map[string]any{"candidates": hs})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(sec.Data)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return &a, nil
}

func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// tokenWith returns a client whose token has the named policies.
func tokenWith(t testing.TB, s *testserver.Server, policies ...string) *api.Client {
	t.Helper()
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(sec.Auth.ClientToken)
	return cl
}

func TestCheckKV(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if err := s.Client.Sys().PutPolicy("checker", checkerPolicy); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("nocheck", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	kv := s.Client.KVv2("secret")
	ctx := t.Context()
	old, cur, hidden, short := randomSecret(t), randomSecret(t), randomSecret(t), "abc1234"
	if _, err := kv.Put(ctx, "team/db", map[string]any{"password": old, "user": "app-user-name"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "other/api", map[string]any{"token": hidden, "pin": short}); err != nil {
		t.Fatal(err)
	}
	checker := tokenWith(t, s, "checker")

	// Found before any rotation: readable, current.
	a, err := check(t, checker, "nothing-like-this", old)
	if err != nil {
		t.Fatal(err)
	}
	want := &answer{Checked: 2, Matches: []match{{Index: 1, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(1), Current: ptr(true), Kind: "kv"}}}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("first check (-want +got):\n%s", d)
	}

	// A new version: the old value is now reported as not current.
	if _, err := kv.Put(ctx, "team/db", map[string]any{"password": cur, "user": "app-user-name"}); err != nil {
		t.Fatal(err)
	}
	a, err = check(t, checker, old, cur, hidden, short, randomSecret(t))
	if err != nil {
		t.Fatal(err)
	}
	want = &answer{Checked: 5, Matches: []match{
		{Index: 0, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(1), Current: ptr(false), Kind: "kv"},
		{Index: 1, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(2), Current: ptr(true), Kind: "kv"},
		{Index: 2}, // a live secret the checker may not read: nothing more
	}}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("after rotation (-want +got):\n%s", d)
	}

	// Destroying the old version takes it out; deleting the key's
	// metadata takes out everything.
	if err := kv.Destroy(ctx, "team/db", []int{1}); err != nil {
		t.Fatal(err)
	}
	if a, err = check(t, checker, old, cur); err != nil {
		t.Fatal(err)
	}
	if len(a.Matches) != 1 || a.Matches[0].Index != 1 {
		t.Errorf("after destroy: matches %+v, want only index 1", a.Matches)
	}
	if err := kv.DeleteMetadata(ctx, "team/db"); err != nil {
		t.Fatal(err)
	}
	if a, err = check(t, checker, old, cur); err != nil {
		t.Fatal(err)
	}
	if len(a.Matches) != 0 {
		t.Errorf("after metadata delete: matches %+v, want none", a.Matches)
	}

	// KV version 1: unversioned, always current; readable by root only.
	if err := s.Client.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	v1 := randomSecret(t)
	if _, err := s.Client.Logical().WriteWithContext(ctx, "kv1/app/cfg", map[string]any{"api_key": v1}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cl   *api.Client
		want []match
	}{
		{"root", s.Client, []match{{Index: 0, Readable: true, Mount: "kv1/", Path: "app/cfg", Key: "api_key", Version: ptr(0), Current: ptr(true), Kind: "kv"}}},
		{"checker", checker, []match{{Index: 0}}},
	} {
		a, err := check(t, tt.cl, v1)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, a.Matches); d != "" {
			t.Errorf("KV v1 value checked as %s (-want +got):\n%s", tt.name, d)
		}
	}

	// Without the capability (the default policy does not grant it): 403.
	for _, policy := range []string{"nocheck", "default"} {
		_, err = check(t, tokenWith(t, s, policy), cur)
		if got := statusOf(err); got != http.StatusForbidden || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("check with policy %s: %v, want 403 permission denied", policy, err)
		}
	}
}

// TestCheckRateLimitAndAudit checks that every call is audited (request
// and response, the candidates HMACed like any request data) and that a
// token calling too fast gets 429 with Retry-After and Vault's error
// shape, while another token is not held back.
func TestCheckRateLimitAndAudit(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	logPath := filepath.Join(t.TempDir(), "audit.log")
	if err := s.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": logPath}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("checker", checkerPolicy); err != nil {
		t.Fatal(err)
	}
	secret := randomSecret(t)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "team/db", map[string]any{"password": secret}); err != nil {
		t.Fatal(err)
	}
	fast := tokenWith(t, s, "checker")
	hs := make([]string, sysleaks.MaxCandidates)
	for i := range hs {
		hs[i] = hashOf(fmt.Sprint("candidate-", i))
	}
	hs[0] = hashOf(secret)
	body, err := json.Marshal(map[string]any{"candidates": hs})
	if err != nil {
		t.Fatal(err)
	}
	post := func(token string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.Addr+"/v1/sys/leaks/check", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Vault-Token", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// The candidate bucket holds ten full calls and refills at 100,000
	// a minute: however slow this machine, 1,000 full calls in a row
	// cannot all pass (that would take ten minutes).
	calls, limited := 0, (*http.Response)(nil)
	for calls < 1000 && limited == nil {
		resp := post(fast.Token())
		calls++
		switch resp.StatusCode {
		case http.StatusOK:
			resp.Body.Close()
		case http.StatusTooManyRequests:
			limited = resp
		default:
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("call %d: status %d: %s", calls, resp.StatusCode, b)
		}
	}
	if limited == nil {
		t.Fatalf("1000 calls of %d candidates were never rate limited", sysleaks.MaxCandidates)
	}
	var eb struct {
		Errors []string `json:"errors"`
	}
	if err := json.NewDecoder(limited.Body).Decode(&eb); err != nil || len(eb.Errors) != 1 || !strings.Contains(eb.Errors[0], "rate limit") {
		t.Errorf("429 body: %+v, %v; want Vault's error shape saying rate limit", eb, err)
	}
	limited.Body.Close()
	if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q, want a whole number of seconds >= 1", limited.Header.Get("Retry-After"))
	}
	// Another token has its own buckets.
	other := post(tokenWith(t, s, "checker").Token())
	other.Body.Close()
	if other.StatusCode != http.StatusOK {
		t.Errorf("another token's call: status %d, want 200", other.StatusCode)
	}
	calls++

	// The audit log has a request and a response entry for every call,
	// the 429s included, and never a candidate hash in the clear.
	raw, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(hs[0])) || bytes.Contains(raw, []byte(secret)) {
		t.Error("the audit log holds a candidate hash or the secret in the clear")
	}
	counts := map[string]int{}
	for line := range bytes.Lines(raw) {
		var e struct {
			Type    string `json:"type"`
			Request struct {
				Path string `json:"path"`
			} `json:"request"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("audit line %s: %v", line, err)
		}
		if e.Request.Path == "sys/leaks/check" {
			counts[e.Type]++
		}
	}
	if counts["request"] != calls || counts["response"] != calls {
		t.Errorf("audit entries for sys/leaks/check: %v, want %d requests and %d responses", counts, calls, calls)
	}
}

// TestCheckEvents checks that a match of a current value raises
// leak/detected, delivered only to subscribers who may read the secret,
// with no value in it.
func TestCheckEvents(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	if err := s.Client.Sys().PutPolicy("team-events", `
path "sys/events/subscribe/leak/*" { capabilities = ["read"] }
path "secret/data/team/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"team-events"}})
	if err != nil {
		t.Fatal(err)
	}
	kv := s.Client.KVv2("secret")
	teamOld, teamCur, other := randomSecret(t), randomSecret(t), randomSecret(t)
	for _, w := range []struct{ path, v string }{{"team/db", teamOld}, {"team/db", teamCur}, {"other/api", other}} {
		if _, err := kv.Put(ctx, w.path, map[string]any{"password": w.v}); err != nil {
			t.Fatal(err)
		}
	}
	u := "ws" + strings.TrimPrefix(s.Addr, "http") + "/v1/sys/events/subscribe/leak/detected?json=true"
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"X-Vault-Token": {sec.Auth.ClientToken}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for s.Core().Events().Len() == 0 {
		if dctx.Err() != nil {
			t.Fatal("the subscriber never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The other team's secret and an old version first: the subscriber
	// may not read the first, and the second is not current; then the
	// team's current value, which is the first event it must see.
	for _, c := range [][]string{{other}, {teamOld}, {teamCur}} {
		if _, err := check(t, s.Client, c...); err != nil {
			t.Fatal(err)
		}
	}
	_, b, err := conn.Read(dctx)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(teamCur)) || bytes.Contains(b, []byte(hashOf(teamCur))) {
		t.Error("the event holds the value or its hash")
	}
	var env struct {
		Data struct {
			Type  string `json:"event_type"`
			Event struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"event"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	e := env.Data
	want := map[string]string{
		"mount": "secret/", "path": "secret/team/db", "data_path": "secret/data/team/db",
		"version": "2", "kind": "kv", "accessor": rootAccessor(t, s),
	}
	if e.Type != "leak/detected" {
		t.Errorf("event type %q, want leak/detected", e.Type)
	}
	if d := cmp.Diff(want, e.Event.Metadata); d != "" {
		t.Errorf("event metadata (-want +got):\n%s\nevent: %s", d, b)
	}
}

func rootAccessor(t testing.TB, s *testserver.Server) string {
	t.Helper()
	sec, err := s.Client.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := sec.Data["accessor"].(string)
	return acc
}

// TestCheckDatabaseStaticRole checks that a static role's password, as
// rotated on a real PostgreSQL, is found, and that after a rotation only
// the new one is.
func TestCheckDatabaseStaticRole(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	s := testserver.Start(t)
	cl := s.Client
	if err := cl.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	user := "leak" + d.Suffix
	if _, err := d.Admin.ExecContext(t.Context(), `CREATE ROLE "`+user+`" WITH LOGIN PASSWORD 'Initial-pw-`+d.Suffix+`'`); err != nil {
		t.Fatal(err)
	}
	write := func(path string, data map[string]any) {
		t.Helper()
		if _, err := cl.Logical().WriteWithContext(t.Context(), path, data); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	write("database/config/db", map[string]any{
		"plugin_name": d.Plugin, "connection_url": d.URL, "username": d.User, "password": d.Password, "allowed_roles": "*",
	})
	write("database/static-roles/app", map[string]any{"db_name": "db", "username": user, "rotation_period": "1h"})
	password := func() string {
		t.Helper()
		sec, err := cl.Logical().ReadWithContext(t.Context(), "database/static-creds/app")
		if err != nil {
			t.Fatal(err)
		}
		return sec.Data["password"].(string)
	}
	first := password()
	a, err := check(t, cl, first)
	if err != nil {
		t.Fatal(err)
	}
	want := &answer{Checked: 1, Matches: []match{{Index: 0, Readable: true, Mount: "database/", Path: "static-creds/app", Key: "password", Version: ptr(0), Current: ptr(true), Kind: "database-static-role"}}}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("check of the static role's password (-want +got):\n%s", d)
	}
	write("database/rotate-role/app", nil)
	second := password()
	if second == first {
		t.Fatal("the rotation kept the password")
	}
	if a, err = check(t, cl, first, second); err != nil {
		t.Fatal(err)
	}
	if len(a.Matches) != 1 || a.Matches[0].Index != 1 || !*a.Matches[0].Current {
		t.Errorf("after rotation: matches %+v, want only the new password (index 1), current", a.Matches)
	}
}

// BenchmarkCheckHTTP sends calls of 1,000 candidates (ten of them live
// secrets, against 10,000 stored) through the real server and the
// official client: HTTP, token, ACL, the index and the answer (no audit
// device). Each token may make ten such calls before its candidate
// budget runs out, so the calls rotate over enough tokens, made before
// the clock starts. All callers together get a burst of 100 such calls
// (the global ceiling, 1,000,000 candidates a minute): run it with
// -benchtime 90x.
func BenchmarkCheckHTTP(b *testing.B) {
	s := testserver.Start(b)
	kv := s.Client.KVv2("secret")
	const stored = 10_000
	for i := range stored {
		if _, err := kv.Put(b.Context(), fmt.Sprintf("app/s%05d", i), map[string]any{"password": fmt.Sprintf("live-secret-%08d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	hs := make([]string, sysleaks.MaxCandidates)
	for i := range hs {
		v := fmt.Sprint("candidate-", i)
		if i%100 == 0 {
			v = fmt.Sprintf("live-secret-%08d", i*7)
		}
		hs[i] = hashOf(v)
	}
	body := map[string]any{"candidates": hs}
	if _, err := s.Client.Logical().Write("sys/leaks/check", body); err != nil { // builds the index
		b.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("checker", checkerPolicy); err != nil {
		b.Fatal(err)
	}
	const callsPerToken = 8 // under the candidate burst of ten calls
	clients := make([]*api.Client, b.N/callsPerToken+1)
	for i := range clients {
		clients[i] = tokenWith(b, s, "checker")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sec, err := clients[i/callsPerToken].Logical().Write("sys/leaks/check", body)
		if err != nil {
			b.Fatal(err)
		}
		if ms, _ := sec.Data["matches"].([]any); len(ms) != 10 {
			b.Fatalf("%d matches, want 10", len(ms))
		}
	}
	b.ReportMetric(float64(b.N*sysleaks.MaxCandidates)/b.Elapsed().Seconds(), "candidates/s")
}

// TestCheckAfterKVRotation: a KV rotation (secret/rotate/PATH, as the
// scheduler does it) makes the old value old and the new one current;
// soft-deleting the current version keeps it a live secret (its data is
// kept and can be undeleted).
func TestCheckAfterKVRotation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	ctx := t.Context()
	kv := s.Client.KVv2("secret")
	old := randomSecret(t)
	if _, err := kv.Put(ctx, "svc/api", map[string]any{"api_key": old}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().WriteWithContext(ctx, "secret/rotation/svc/api", map[string]any{
		"period": "720h", "keys": map[string]any{"api_key": map[string]any{"generator": "random"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := check(t, s.Client, old); err != nil { // the index is built before the rotation
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().WriteWithContext(ctx, "secret/rotate/svc/api", nil); err != nil {
		t.Fatal(err)
	}
	cur, err := kv.Get(ctx, "svc/api")
	if err != nil {
		t.Fatal(err)
	}
	newValue, _ := cur.Data["api_key"].(string)
	a, err := check(t, s.Client, old, newValue)
	if err != nil {
		t.Fatal(err)
	}
	want := &answer{Checked: 2, Matches: []match{
		{Index: 0, Readable: true, Mount: "secret/", Path: "svc/api", Key: "api_key", Version: ptr(1), Current: ptr(false), Kind: "kv"},
		{Index: 1, Readable: true, Mount: "secret/", Path: "svc/api", Key: "api_key", Version: ptr(2), Current: ptr(true), Kind: "kv"},
	}}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("after rotation (-want +got):\n%s", d)
	}
	if err := kv.Delete(ctx, "svc/api"); err != nil {
		t.Fatal(err)
	}
	if a, err = check(t, s.Client, newValue); err != nil {
		t.Fatal(err)
	}
	if len(a.Matches) != 1 || !*a.Matches[0].Current {
		t.Errorf("after a soft delete: %+v, want the value still found, current", a.Matches)
	}
}

// TestCheckLockdownNotReadable: a match under an incident lockdown (deny)
// is not readable, although the caller's ACL allows reading it: the
// lockdown would refuse that read.
func TestCheckLockdownNotReadable(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if err := s.Client.Sys().PutPolicy("checker", checkerPolicy); err != nil {
		t.Fatal(err)
	}
	open, locked := randomSecret(t), randomSecret(t)
	kv := s.Client.KVv2("secret")
	for _, w := range []struct{ path, v string }{{"team/open", open}, {"team/locked", locked}} {
		if _, err := kv.Put(t.Context(), w.path, map[string]any{"password": w.v}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Client.Logical().Write("sys/incident/lockdown", map[string]any{"prefix": "secret/data/team/locked", "mode": "deny"}); err != nil {
		t.Fatal(err)
	}
	got, err := check(t, tokenWith(t, s, "checker"), open, locked)
	if err != nil {
		t.Fatal(err)
	}
	want := &answer{Checked: 2, Matches: []match{
		{Index: 0, Readable: true, Mount: "secret/", Path: "team/open", Key: "password", Version: ptr(1), Current: ptr(true), Kind: "kv"},
		{Index: 1},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answer under a lockdown (-want +got):\n%s", d)
	}
}

// TestCheckTrashedSecret: a KV secret deleted with a recovery window is
// still found, as not current and trashed, and is current again once
// recovered.
func TestCheckTrashedSecret(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	v := randomSecret(t)
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "team/db", map[string]any{"password": v}); err != nil {
		t.Fatal(err)
	}
	if _, err := check(t, s.Client, v); err != nil { // builds the index
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().DeleteWithDataWithContext(t.Context(), "secret/metadata/team/db", map[string][]string{"recovery_window_days": {"7"}}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want match
	}{
		{"trashed", nil, match{Index: 0, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(1), Current: ptr(false), Kind: "kv", Trashed: true}},
		{"recovered", func() error {
			_, err := s.Client.Logical().WriteWithContext(t.Context(), "secret/recover/team/db", nil)
			return err
		}, match{Index: 0, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(1), Current: ptr(true), Kind: "kv"}},
	}
	for _, st := range steps {
		if st.do != nil {
			if err := st.do(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
		got, err := check(t, s.Client, v)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(&answer{Checked: 1, Matches: []match{st.want}}, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", st.name, d)
		}
	}
}
