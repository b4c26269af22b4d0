package e2e

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testdb"
)

// readRendered reads the agent's file ("" while it does not exist).
func readRendered(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// TestAgentTemplateUpdatedByEvent runs a dev server and an agent as
// processes. The agent polls only every five minutes, yet each KV write
// reaches its rendered file at once: the agent follows the write's event.
func TestAgentTemplateUpdatedByEvent(t *testing.T) {
	t.Parallel()
	_, addr, cl := startDevServer(t)
	ctx := t.Context()
	kv := cl.KVv2("secret")
	if _, err := kv.Put(ctx, "web/api", map[string]any{"key": "key-0"}); err != nil {
		t.Fatal(err)
	}
	tok := tokenWithPolicy(t, cl, "web", `
path "secret/data/web/api" { capabilities = ["read"] }
path "sys/events/subscribe/kv-v2/*" { capabilities = ["read"] }`)
	dir := t.TempDir()
	dest := filepath.Join(dir, "api.txt")
	agent := startAgentProc(t, dir, agentConfig(addr, "secret/data/web/api", "key", dest, "5m"), tok, true)
	// The agent may log that it follows events before its first render
	// has reached the file.
	waitUntil(t, 30*time.Second, "the first render", func() error {
		if got := readRendered(t, dest); got != "key-0" {
			return fmt.Errorf("file holds %q", got)
		}
		return nil
	})
	var slowest time.Duration
	for i := 1; i <= 3; i++ {
		want := "key-" + strconv.Itoa(i)
		start := time.Now()
		if _, err := kv.Put(ctx, "web/api", map[string]any{"key": want}); err != nil {
			t.Fatal(err)
		}
		// Far less than the five-minute interval: only the event
		// explains a render within this.
		waitUntil(t, 30*time.Second, "the render of "+want, func() error {
			if got := readRendered(t, dest); got != want {
				return fmt.Errorf("file holds %q", got)
			}
			return nil
		})
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("slowest render after a write: %v (poll interval 5m)", slowest.Round(time.Millisecond))
	if strings.Contains(agent.output(), "key-") {
		t.Errorf("the agent logged a secret value:\n%s", agent.output())
	}
}

// scramMatches reports whether password matches a PostgreSQL
// scram-sha-256 verifier ("SCRAM-SHA-256$iter:salt$StoredKey:ServerKey",
// RFC 5802/7677) or md5 hash ("md5" + md5(password + user)), checking it
// as PostgreSQL's password authentication does. (This machine's
// PostgreSQL trusts 127.0.0.1, so a connection alone proves nothing
// about the password.)
func scramMatches(verifier, user, password string) (bool, error) {
	if h, ok := strings.CutPrefix(verifier, "md5"); ok {
		sum := md5.Sum([]byte(password + user))
		return hmac.Equal([]byte(h), []byte(hex.EncodeToString(sum[:]))), nil
	}
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false, fmt.Errorf("unknown verifier kind %.14q", verifier)
	}
	params, keys, ok1 := strings.Cut(rest, "$")
	iterS, saltB64, ok2 := strings.Cut(params, ":")
	storedB64, _, ok3 := strings.Cut(keys, ":")
	iter, err := strconv.Atoi(iterS)
	salt, err2 := base64.StdEncoding.DecodeString(saltB64)
	stored, err3 := base64.StdEncoding.DecodeString(storedB64)
	if !ok1 || !ok2 || !ok3 || err != nil || err2 != nil || err3 != nil {
		return false, errors.New("malformed scram verifier")
	}
	// The generated passwords are ASCII: SASLprep leaves them as they are.
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return false, err
	}
	m := hmac.New(sha256.New, salted)
	m.Write([]byte("Client Key"))
	storedKey := sha256.Sum256(m.Sum(nil))
	return hmac.Equal(storedKey[:], stored), nil
}

// TestAgentDatabaseRotationLogins: a KV secret holding a database user's
// password is rotated every 2 s by the database rotator while a client
// keeps logging in with the value the agent renders to a file (the agent
// polls every 5 minutes: it follows the rotation's events). The database
// keeps one password per user, so between the rotator's change in the
// database and the agent's render a login with the file's value can fail:
// at most one run of failures per rotation, each ended (the client reads
// the file again) within the grace period. On MariaDB the server checks
// the password; on PostgreSQL (trust authentication on this machine) the
// client connects as the user and checks the password against the user's
// stored scram-sha-256 verifier in pg_authid, as password authentication
// would.
func TestAgentDatabaseRotationLogins(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, kind string) {
		d := testdb.New(t, kind)
		_, addr, cl := startDevServer(t)
		setUpDatabase(t, cl, d, "", "1h")
		user := "agrot_" + d.Suffix
		if kind == testdb.Postgres {
			execAdmin(t, d.Admin, `CREATE ROLE "`+user+`" WITH LOGIN PASSWORD 'initial-pw'`)
			execAdmin(t, d.Admin, `GRANT SELECT ON things TO "`+user+`"`)
		} else {
			execAdmin(t, d.Admin, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'initial-pw'")
			execAdmin(t, d.Admin, "GRANT SELECT ON `"+d.Name+"`.* TO '"+user+"'@'%'")
		}
		if kind == testdb.Postgres {
			// The check tells the right password from a wrong one.
			for pw, want := range map[string]bool{"initial-pw": true, "initial-pW": false, "": false} {
				if ok, err := scramMatches(passwordHash(t, d, user), user, pw); ok != want || err != nil {
					t.Fatalf("scramMatches(%q) = %v, %v; want %v", pw, ok, err, want)
				}
			}
		}
		if _, err := cl.KVv2("secret").Put(t.Context(), "db/app", map[string]any{"username": user, "password": "initial-pw"}); err != nil {
			t.Fatal(err)
		}
		const grace = 2 * time.Second
		tok := tokenWithPolicy(t, cl, "app", `
path "secret/data/db/app" { capabilities = ["read"] }
path "sys/events/subscribe/kv-v2/*" { capabilities = ["read"] }`)
		dir := t.TempDir()
		dest := filepath.Join(dir, "password")
		agent := startAgentProc(t, dir, agentConfig(addr, "secret/data/db/app", "password", dest, "5m"), tok, true)
		// The client starts once the agent rendered the first password: a
		// login before that is no failure of rotation (on a busy machine
		// the first render can take a while).
		waitUntil(t, 30*time.Second, "the agent renders the first password", func() error {
			if readRendered(t, dest) == "" {
				return errors.New("the file is empty")
			}
			return nil
		})
		mustWrite(t, cl, "secret/rotation/db/app", map[string]any{
			"period": "2s", "grace_period": grace.String(),
			"keys":    map[string]any{"password": map[string]any{"generator": "random", "length": 20}},
			"rotator": map[string]any{"type": "database", "mount": "database", "connection": "db", "username": user, "password_key": "password"},
		})

		login := func() error {
			pw := readRendered(t, dest)
			if kind == testdb.Postgres {
				ok, err := scramMatches(passwordHash(t, d, user), user, pw)
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("password authentication failed")
				}
			}
			return d.Query(t, user, pw)
		}
		end := time.Now().Add(10 * time.Second)
		logins, failures, runs := 0, 0, 0
		var longest time.Duration
		var runErrs []string
		for time.Now().Before(end) {
			// A client that logs in now and then, not in a tight loop.
			time.Sleep(10 * time.Millisecond)
			err := login()
			if err == nil {
				logins++
				continue
			}
			// The database has the new password, the file not yet.
			runs++
			runErrs = append(runErrs, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			start := time.Now()
			for {
				failures++
				time.Sleep(50 * time.Millisecond) // the agent renders in the background
				if login() == nil {
					break
				}
				if time.Since(start) > grace {
					t.Fatalf("logins with the agent's file failed for longer than the grace period (%v)\nagent:\n%s", grace, agent.output())
				}
			}
			logins++
			longest = max(longest, time.Since(start))
		}
		meta, err := cl.KVv2("secret").GetMetadata(t.Context(), "db/app")
		if err != nil {
			t.Fatal(err)
		}
		rotations := meta.CurrentVersion - 1
		if rotations < 3 {
			t.Fatalf("%d rotations in 10 s with a 2 s period", rotations)
		}
		// The last render matches the current version.
		cur, _ := kvCurrent(t, cl, "db/app")
		waitUntil(t, 10*time.Second, "the file holds the current password", func() error {
			if readRendered(t, dest) != cur["password"] {
				return errors.New("it does not")
			}
			return nil
		})
		if runs > rotations {
			vs := make([]string, 0, len(meta.Versions))
			for n, v := range meta.Versions {
				vs = append(vs, n+"@"+v.CreatedTime.Format("15:04:05.000"))
			}
			t.Errorf("%d runs of failed logins over %d rotations; at most one per rotation\nruns:\n%s\nversions: %s", runs, rotations, strings.Join(runErrs, "\n"), strings.Join(vs, " "))
		}
		t.Logf("%s: %d successful logins, %d rotations, %d failed attempts in %d runs (longest run %v)", kind, logins, rotations, failures, runs, longest.Round(time.Millisecond))
	})
}

// startHANode runs `coffer server` on the PostgreSQL database db with HA
// storage.
func startHANode(t *testing.T, db, node string) (*proc, string) {
	t.Helper()
	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "coffer.hcl", fmt.Sprintf(`storage "postgresql" {
  connection_url = "postgres://postgres@127.0.0.1:5432/%s?sslmode=disable"
  ha_enabled     = true
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr = "http://%s"
`, db, addr, addr))
	p := startProc(t, []string{"server", "-config", cfg}, []string{"COFFER_NODE_ID=" + node, "COFFER_CLUSTER_ADDR=", "VAULT_CLUSTER_ADDR="})
	url := "http://" + addr
	waitUntil(t, 30*time.Second, "node "+node+" answers", func() error {
		if healthCode(url) == 0 {
			return fmt.Errorf("no answer; output:\n%s", p.output())
		}
		return nil
	})
	return p, url
}

// TestKVRotationKillActiveMidRotation runs two coffer server processes on
// PostgreSQL HA storage. A rotation's webhook blocks; the active process
// is killed with SIGKILL while the hook holds the request. The standby
// takes over and completes that same rotation exactly once: the hook
// gets the same version and value again, and the secret has one new
// version, not two.
func TestKVRotationKillActiveMidRotation(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	type node struct {
		p    *proc
		addr string
	}
	var nodes []node
	for i := range 2 {
		p, addr := startHANode(t, d.Name, "n"+strconv.Itoa(i))
		nodes = append(nodes, node{p, addr})
	}
	res, err := newClient(t, nodes[0].addr, "").Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if _, err := newClient(t, n.addr, "").Sys().Unseal(res.KeysB64[0]); err != nil {
			t.Fatal(err)
		}
	}
	activeNode := func(skip int) int {
		for i, n := range nodes {
			if i != skip && healthCode(n.addr) == http.StatusOK {
				return i
			}
		}
		return -1
	}
	active := -1
	waitUntil(t, 30*time.Second, "a node becomes active", func() error {
		if active = activeNode(-1); active < 0 {
			return errors.New("no node answers 200")
		}
		return nil
	})
	cl := newClient(t, nodes[active].addr, res.RootToken)
	if err := cl.Sys().Mount("secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}

	started := make(chan struct{})
	var once sync.Once
	hook := newRotHook(t, func(n int, r *http.Request) int {
		if n == 1 {
			once.Do(func() { close(started) })
			<-r.Context().Done() // held until the active process dies
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	if _, err := cl.KVv2("secret").Put(t.Context(), "pay/key", map[string]any{"api_key": "old", "account": "acme"}); err != nil {
		t.Fatal(err)
	}
	pol := hook.policy("24h")
	pol["rotator"].(map[string]any)["timeout"] = "60s"
	mustWrite(t, cl, "secret/rotation/pay/key", pol)
	go cl.Logical().Write("secret/rotate/pay/key", nil) // fails when the node dies
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the rotation did not call the hook")
	}
	if err := nodes[active].p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-nodes[active].p.done
	killed := time.Now()
	other := 1 - active
	waitUntil(t, 60*time.Second, "the standby becomes active", func() error {
		if healthCode(nodes[other].addr) != http.StatusOK {
			return errors.New("not active yet")
		}
		return nil
	})
	t.Logf("standby active %v after the kill", time.Since(killed).Round(time.Millisecond))
	cl2 := newClient(t, nodes[other].addr, res.RootToken)
	var rot *api.Secret
	waitUntil(t, 60*time.Second, "the standby completes the rotation", func() error {
		var err error
		rot, err = cl2.Logical().Read("secret/rotation/pay/key")
		if err != nil {
			return err
		}
		if pv := fmt.Sprint(rot.Data["pending_version"]); pv != "0" {
			return fmt.Errorf("version %s still pending", pv)
		}
		meta, err := cl2.KVv2("secret").GetMetadata(t.Context(), "pay/key")
		if err != nil {
			return err
		}
		if meta.CurrentVersion < 2 {
			return fmt.Errorf("current version %d", meta.CurrentVersion)
		}
		return nil
	})
	got := hook.got()
	if len(got) != 2 {
		t.Fatalf("the hook got %d deliveries, want 2 (the one cut by the kill, one by the new active): %+v", len(got), got)
	}
	if got[0].Version != 2 || got[1].Version != 2 || got[0].Values["api_key"] == "" || got[0].Values["api_key"] != got[1].Values["api_key"] {
		t.Fatalf("deliveries %+v, %+v: want version 2 with the same value twice", got[0], got[1])
	}
	meta, err := cl2.KVv2("secret").GetMetadata(t.Context(), "pay/key")
	if err != nil {
		t.Fatal(err)
	}
	if meta.CurrentVersion != 2 || len(meta.Versions) != 2 {
		t.Fatalf("metadata: current %d, %d versions; want 2 and 2 (one new version)", meta.CurrentVersion, len(meta.Versions))
	}
	data, v := kvCurrent(t, cl2, "pay/key")
	if v != 2 || data["api_key"] != got[0].Values["api_key"] || data["account"] != "acme" {
		t.Fatalf("current = v%d %v; want version 2 holding the delivered value", v, data)
	}
}
