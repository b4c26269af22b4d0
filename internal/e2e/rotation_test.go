package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

const rotHMACKey = "e2e-rotation-hmac-key"

// rotHook is an HTTPS webhook rotator endpoint. Each delivery is checked
// against its signature and recorded; answer decides the status.
type rotHook struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []rotDelivery
	answer     func(n int, r *http.Request) int // n counts deliveries from 1
}

type rotDelivery struct {
	Path    string            `json:"path"`
	Version int               `json:"version"`
	Values  map[string]string `json:"values"`
}

func newRotHook(t *testing.T, answer func(n int, r *http.Request) int) *rotHook {
	t.Helper()
	h := &rotHook{answer: answer}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(rotHMACKey))
		m.Write(body)
		if r.Header.Get("X-Coffer-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("delivery with a bad signature: %s", body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var d rotDelivery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("delivery %s: %v", body, err)
		}
		h.mu.Lock()
		h.deliveries = append(h.deliveries, d)
		n := len(h.deliveries)
		h.mu.Unlock()
		w.WriteHeader(h.answer(n, r))
	}))
	h.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.StartTLS()
	t.Cleanup(h.Close)
	return h
}

func (h *rotHook) got() []rotDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]rotDelivery(nil), h.deliveries...)
}

func (h *rotHook) policy(period string) map[string]any {
	return map[string]any{
		"period": period,
		"keys":   map[string]any{"api_key": map[string]any{"generator": "random", "length": 24}},
		"rotator": map[string]any{
			"type": "webhook", "url": h.URL + "/rotate", "hmac_key": rotHMACKey, "send_values": true, "max_attempts": 1,
			"ca_cert": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Certificate().Raw})),
		},
	}
}

// kvCurrent reads secret/data/p: its data and version.
func kvCurrent(t *testing.T, cl *api.Client, p string) (map[string]any, int) {
	t.Helper()
	s, err := cl.KVv2("secret").Get(t.Context(), p)
	if err != nil {
		t.Fatalf("read secret %s: %v", p, err)
	}
	return s.Data, s.VersionMetadata.Version
}

// TestKVRotationWebhookFailsTwice: a webhook rotator that fails twice and
// then succeeds; the current version does not change until it succeeds,
// and the hook gets the value that then becomes current.
func TestKVRotationWebhookFailsTwice(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	var hookErr error
	var mu sync.Mutex
	hook := newRotHook(t, func(n int, _ *http.Request) int {
		// While the hook is being called, readers still get the old value.
		sec, err := cl.KVv2("secret").Get(t.Context(), "pay/api")
		if err != nil || sec.Data["api_key"] != "old" || sec.VersionMetadata.Version != 1 {
			mu.Lock()
			hookErr = err
			if err == nil {
				hookErr = fmt.Errorf("during delivery %d: current = v%d %v", n, sec.VersionMetadata.Version, sec.Data)
			}
			mu.Unlock()
		}
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	if _, err := cl.KVv2("secret").Put(t.Context(), "pay/api", map[string]any{"api_key": "old", "account": "acme"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "secret/rotation/pay/api", hook.policy("24h"))
	for i := 1; i <= 2; i++ {
		if _, err := cl.Logical().Write("secret/rotate/pay/api", nil); statusCode(err) != http.StatusBadGateway {
			t.Fatalf("rotation %d with the hook failing: %v, want 502", i, err)
		}
		if data, v := kvCurrent(t, cl, "pay/api"); v != 1 || data["api_key"] != "old" {
			t.Fatalf("after failure %d: v%d %v", i, v, data)
		}
		rot, err := cl.Logical().Read("secret/rotation/pay/api")
		if err != nil || rot.Data["failures"] != json.Number(itoa(i)) || rot.Data["pending_version"] != json.Number("2") {
			t.Fatalf("rotation state after failure %d: %v, %v", i, rot, err)
		}
		if strings.Contains(rot.Data["rotator"].(map[string]any)["url"].(string), rotHMACKey) || rot.Data["rotator"].(map[string]any)["hmac_key"] != nil {
			t.Fatal("the rotation read shows the HMAC key")
		}
	}
	// Each failure counted in the metrics.
	mresp, err := cl.Logical().ReadRawWithDataWithContext(t.Context(), "sys/metrics", map[string][]string{"format": {"prometheus"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(body), `coffer_kv_rotation_failures_total{mount="secret/"} 2`) {
		t.Errorf("metrics do not count the two failed rotations:\n%s", grepLines(string(body), "rotation"))
	}
	sec := mustWrite(t, cl, "secret/rotate/pay/api", nil)
	if sec.Data["version"] != json.Number("2") {
		t.Fatalf("rotate = %v", sec.Data)
	}
	data, v := kvCurrent(t, cl, "pay/api")
	if v != 2 || data["account"] != "acme" || data["api_key"] == "old" {
		t.Fatalf("after success: v%d %v", v, data)
	}
	got := hook.got()
	if len(got) != 3 {
		t.Fatalf("deliveries = %d, want 3", len(got))
	}
	for i, d := range got {
		if d.Path != "pay/api" || d.Version != 2 || d.Values["api_key"] != data["api_key"] {
			t.Errorf("delivery %d = %+v, want version 2 with the value that became current", i+1, d)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if hookErr != nil {
		t.Error(hookErr)
	}
	// The old version stays readable (no grace period set: it is kept).
	old, err := cl.KVv2("secret").GetVersion(t.Context(), "pay/api", 1)
	if err != nil || old.Data["api_key"] != "old" {
		t.Errorf("previous version = %v, %v", old, err)
	}
}

// TestKVScheduledRotation: a 2 s period rotates on its own, never sooner
// than due.
func TestKVScheduledRotation(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	if _, err := cl.KVv2("secret").Put(t.Context(), "sched", map[string]any{"k": "v0"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "secret/rotation/sched", map[string]any{"period": "2s", "grace_period": "1s", "keys": map[string]any{"k": map[string]any{"generator": "random"}}})
	deadline := time.Now().Add(20 * time.Second)
	var meta *api.KVMetadata
	for time.Now().Before(deadline) {
		var err error
		if meta, err = cl.KVv2("secret").GetMetadata(t.Context(), "sched"); err != nil {
			t.Fatal(err)
		}
		if meta.CurrentVersion >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond) // waiting for the scheduler's wall clock
	}
	if meta.CurrentVersion < 3 {
		t.Fatalf("current version %d after 20 s with a 2 s period", meta.CurrentVersion)
	}
	for v := 2; v <= meta.CurrentVersion; v++ {
		prev, cur := meta.Versions[itoa(v-1)].CreatedTime, meta.Versions[itoa(v)].CreatedTime
		if gap := cur.Sub(prev); gap < 2*time.Second {
			t.Errorf("versions %d and %d are %v apart; the period is 2s", v-1, v, gap)
		}
	}
	// The version before the previous one was soft-deleted after its
	// grace period.
	if old := meta.Versions["1"]; old.DeletionTime.IsZero() {
		t.Errorf("version 1 has no deletion time after rotations with a 1 s grace period: %+v", old)
	}
}

// TestKVRotationRestartMidRotation: the server stops while the rotator is
// being called; the next start completes that same rotation (same
// version, same value) instead of rotating twice or skipping it.
func TestKVRotationRestartMidRotation(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "coffer.db")
	s, err := testserver.New(testserver.Options{BoltPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	started := make(chan struct{})
	var once sync.Once
	hook := newRotHook(t, func(n int, r *http.Request) int {
		if n == 1 {
			once.Do(func() { close(started) })
			<-r.Context().Done() // hang until the server gives up
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cl := s.Client
	if _, err := cl.KVv2("secret").Put(t.Context(), "r", map[string]any{"api_key": "old"}); err != nil {
		t.Fatal(err)
	}
	pol := hook.policy("2s")
	pol["rotator"].(map[string]any)["timeout"] = "60s"
	mustWrite(t, cl, "secret/rotation/r", pol)
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the scheduled rotation did not call the hook")
	}
	root, keys := s.RootToken, s.UnsealKeys
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := testserver.StartWith(t, testserver.Options{BoltPath: path, UnsealKeys: keys})
	s2.Client.SetToken(root)
	deadline := time.Now().Add(20 * time.Second)
	for len(hook.got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // waiting for the restarted scheduler
	}
	got := hook.got()
	if len(got) < 2 {
		t.Fatalf("deliveries after restart = %d", len(got))
	}
	if got[0].Version != 2 || got[1].Version != 2 || got[0].Values["api_key"] != got[1].Values["api_key"] {
		t.Fatalf("deliveries %+v, %+v: want the same pending version 2 and value again", got[0], got[1])
	}
	var sec *api.KVSecret
	for time.Now().Before(deadline) {
		if sec, err = s2.Client.KVv2("secret").GetVersion(t.Context(), "r", 2); err == nil {
			if m, _ := s2.Client.KVv2("secret").GetMetadata(t.Context(), "r"); m != nil && m.CurrentVersion >= 2 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || sec.Data["api_key"] != got[0].Values["api_key"] {
		t.Fatalf("version 2 = %v, %v; want the value delivered before the restart", sec, err)
	}
}

// TestKVRotationDatabase: a KV secret holding a database user's password,
// rotated through the database engine's connection on the real server.
func TestKVRotationDatabase(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, kind string) {
		d := testdb.New(t, kind)
		s := testserver.Start(t)
		cl := s.Client
		setUpDatabase(t, cl, d, "", "1h")
		user := "kvrot_" + d.Suffix
		if kind == testdb.Postgres {
			execAdmin(t, d.Admin, `CREATE ROLE "`+user+`" WITH LOGIN PASSWORD 'initial-pw'`)
			execAdmin(t, d.Admin, `GRANT SELECT ON things TO "`+user+`"`)
		} else {
			execAdmin(t, d.Admin, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'initial-pw'")
			execAdmin(t, d.Admin, "GRANT SELECT ON `"+d.Name+"`.* TO '"+user+"'@'%'")
		}
		hashBefore := passwordHash(t, d, user)
		if _, err := cl.KVv2("secret").Put(t.Context(), "db/app", map[string]any{"username": user, "password": "initial-pw"}); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, cl, "secret/rotation/db/app", map[string]any{
			"period": "24h", "grace_period": "1m",
			"keys":    map[string]any{"password": map[string]any{"generator": "random", "length": 18}},
			"rotator": map[string]any{"type": "database", "mount": "database", "connection": "db", "username": user, "password_key": "password"},
		})
		// Rotating the connection's own user is refused.
		mustWrite(t, cl, "secret/rotation/db/root", map[string]any{
			"period": "24h", "keys": map[string]any{"password": map[string]any{"generator": "random"}},
			"rotator": map[string]any{"type": "database", "mount": "database", "connection": "db", "username": d.User},
		})
		if _, err := cl.Logical().Write("secret/rotate/db/root", nil); statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "own user") {
			t.Errorf("rotating the connection's own user: %v", err)
		}

		mustWrite(t, cl, "secret/rotate/db/app", nil)
		data, v := kvCurrent(t, cl, "db/app")
		pw := data["password"].(string)
		if v != 2 || pw == "initial-pw" || data["username"] != user {
			t.Fatalf("after rotation: v%d %v", v, data)
		}
		if err := d.Query(t, user, pw); err != nil {
			t.Errorf("login with the rotated password: %v", err)
		}
		if passwordHash(t, d, user) == hashBefore {
			t.Error("the database user's password hash did not change")
		}
		if kind == testdb.MySQL {
			// MariaDB checks passwords: the old one is refused. (The
			// database keeps one password, so the grace period keeps the
			// old KV version readable but cannot keep it valid there.)
			if err := d.Query(t, user, "initial-pw"); err == nil {
				t.Error("the old password still logs in")
			}
		}
		// A user that does not exist is a clear failure, and the current
		// version stays.
		mustWrite(t, cl, "secret/rotation/db/ghost", map[string]any{
			"period": "24h", "keys": map[string]any{"password": map[string]any{"generator": "random"}},
			"rotator": map[string]any{"type": "database", "mount": "database", "connection": "db", "username": "ghost_" + d.Suffix},
		})
		if _, err := cl.Logical().Write("secret/rotate/db/ghost", nil); statusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("rotating a missing user: %v", err)
		}
	})
}

// TestKVRotationDatabaseUnderLoad: a MariaDB user's password rotated every
// 2 s while a client keeps logging in with the current value it reads
// from KV; a login that fails in the instant between the database change
// and the new version becoming current succeeds when the client reads
// again, as docs/rotation.md tells clients to do.
func TestKVRotationDatabaseUnderLoad(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.MySQL)
	s := testserver.Start(t)
	cl := s.Client
	setUpDatabase(t, cl, d, "", "1h")
	user := "kvload_" + d.Suffix
	execAdmin(t, d.Admin, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'initial-pw'")
	execAdmin(t, d.Admin, "GRANT SELECT ON `"+d.Name+"`.* TO '"+user+"'@'%'")
	if _, err := cl.KVv2("secret").Put(t.Context(), "load", map[string]any{"password": "initial-pw"}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "secret/rotation/load", map[string]any{
		"period": "2s", "keys": map[string]any{"password": map[string]any{"generator": "random"}},
		"rotator": map[string]any{"type": "database", "mount": "database", "connection": "db", "username": user},
	})
	login := func() error {
		data, _ := kvCurrent(t, cl, "load")
		return d.Query(t, user, data["password"].(string))
	}
	end := time.Now().Add(7 * time.Second)
	logins, retried := 0, 0
	for time.Now().Before(end) {
		if err := login(); err != nil {
			// The commit follows the database change at once; a busy
			// machine may stretch that instant, so read again a few times.
			retried++
			for try := 1; ; try++ {
				time.Sleep(100 * time.Millisecond)
				if err = login(); err == nil {
					break
				}
				if try == 20 {
					t.Fatalf("login with the current value failed for 2 s: %v", err)
				}
			}
		}
		logins++
	}
	meta, err := cl.KVv2("secret").GetMetadata(t.Context(), "load")
	if err != nil || meta.CurrentVersion < 3 {
		t.Fatalf("metadata %v, %v: want at least two rotations in 7 s", meta, err)
	}
	t.Logf("%d logins over %d rotations, %d retried once", logins, meta.CurrentVersion-1, retried)
}

func execAdmin(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// passwordHash reads the stored password hash of user.
func passwordHash(t *testing.T, d *testdb.DB, user string) string {
	t.Helper()
	var h sql.NullString
	var err error
	if d.Kind == testdb.Postgres {
		err = d.Admin.QueryRowContext(t.Context(), `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, user).Scan(&h)
	} else {
		err = d.Admin.QueryRowContext(t.Context(), `SELECT authentication_string FROM mysql.user WHERE User = ?`, user).Scan(&h)
	}
	if err != nil {
		t.Fatalf("read the password hash of %s: %v", user, err)
	}
	return h.String
}

func itoa(i int) string { return strconv.Itoa(i) }

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestKVRotationReviewFixes, through the real server and client:
//   - a metadata read shows the rotation setup only to a token that may
//     also read secret/rotation/<path>;
//   - a webhook that cannot be reached fails with a generic reason, never
//     the address or the network error (a policy writer would probe
//     internal hosts with it), in the 502, last_error and the state;
//   - a write while a rotation is pending is refused with a clear 400.
func TestKVRotationReviewFixes(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	cl := s.Client
	if _, err := cl.KVv2("secret").Put(t.Context(), "acl/app", map[string]any{"api_key": "old"}); err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	mustWrite(t, cl, "secret/rotation/acl/app", map[string]any{
		"period": "24h", "keys": map[string]any{"api_key": map[string]any{"generator": "random"}},
		"rotator": map[string]any{"type": "webhook", "url": "https://" + addr + "/hook", "hmac_key": rotHMACKey, "max_attempts": 1},
	})

	_, err = cl.Logical().Write("secret/rotate/acl/app", nil)
	if statusCode(err) != http.StatusBadGateway || !strings.Contains(err.Error(), "could not connect") {
		t.Fatalf("rotation with an unreachable hook: %v, want 502 could not connect", err)
	}
	rot, rerr := cl.Logical().Read("secret/rotation/acl/app")
	if rerr != nil {
		t.Fatal(rerr)
	}
	port := addr[strings.LastIndex(addr, ":")+1:]
	for _, shown := range []string{err.Error(), rot.Data["last_error"].(string)} {
		for _, private := range []string{"127.0.0.1:" + port, "refused", "dial tcp"} {
			if strings.Contains(shown, private) {
				t.Errorf("%q shows %q", shown, private)
			}
		}
	}
	if !strings.Contains(rot.Data["last_error"].(string), "could not connect") {
		t.Errorf("last_error = %q", rot.Data["last_error"])
	}

	// Version 2 is pending: writes are refused until it completes.
	if _, err := cl.KVv2("secret").Put(t.Context(), "acl/app", map[string]any{"api_key": "manual"}); statusCode(err) != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "rotation of this secret is in progress") {
		t.Errorf("write during a pending rotation: %v, want 400 saying a rotation is in progress", err)
	}

	if err := cl.Sys().PutPolicy("acl-meta", `path "secret/metadata/acl/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().PutPolicy("acl-rot", `path "secret/rotation/acl/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		policies []string
		want     bool
	}{{[]string{"acl-meta"}, false}, {[]string{"acl-meta", "acl-rot"}, true}} {
		tok, err := cl.Auth().Token().Create(&api.TokenCreateRequest{Policies: tt.policies})
		if err != nil {
			t.Fatal(err)
		}
		sec, err := clientWith(t, s, tok.Auth.ClientToken).Logical().Read("secret/metadata/acl/app")
		if err != nil {
			t.Fatalf("metadata read with %v: %v", tt.policies, err)
		}
		r, shown := sec.Data["rotation"].(map[string]any)
		if shown != tt.want {
			t.Errorf("metadata read with %v shows the rotation %v, want %v", tt.policies, shown, tt.want)
		}
		if shown && r["pending_version"] != json.Number("2") {
			t.Errorf("rotation in metadata = %v", r)
		}
	}
}
