package e2e

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

func statusCode(err error) int {
	if re, ok := errors.AsType[*api.ResponseError](err); ok {
		return re.StatusCode
	}
	return 0
}

func mustWrite(t *testing.T, cl *api.Client, path string, data map[string]any) *api.Secret {
	t.Helper()
	sec, err := cl.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return sec
}

// setUpDatabase mounts the database engine at database/ with a connection
// to d (through url when not empty) and a role "app" with ttl.
func setUpDatabase(t *testing.T, cl *api.Client, d *testdb.DB, url, ttl string) {
	t.Helper()
	if err := cl.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	if url == "" {
		url = d.URL
	}
	mustWrite(t, cl, "database/config/db", map[string]any{
		"plugin_name": d.Plugin, "connection_url": url, "username": d.User, "password": d.Password, "allowed_roles": "*",
	})
	mustWrite(t, cl, "database/roles/app", map[string]any{
		"db_name": "db", "creation_statements": d.Creation(), "default_ttl": ttl, "max_ttl": "2h",
	})
}

// waitGone polls the real database until user is gone; the sweeper runs
// every second, so this ends within a few seconds when revocation works.
func waitGone(t *testing.T, d *testdb.DB, user string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if !d.UserExists(t, user) {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling an outside system
	}
	t.Fatalf("user %s still exists in the database", user)
}

func eachServer(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{testdb.Postgres, testdb.MySQL} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

func TestDynamicCredentialsLifecycle(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, kind string) {
		d := testdb.New(t, kind)
		clock := logicaltest.NewClock(time.Now())
		s := testserver.StartWith(t, testserver.Options{Clock: clock})
		setUpDatabase(t, s.Client, d, "", "1h")

		sec, err := s.Client.Logical().Read("database/creds/app")
		if err != nil {
			t.Fatal(err)
		}
		user, pass := sec.Data["username"].(string), sec.Data["password"].(string)
		if !strings.HasPrefix(sec.LeaseID, "database/creds/app/") || sec.LeaseDuration != 3600 || !sec.Renewable {
			t.Fatalf("lease = %q %d %v", sec.LeaseID, sec.LeaseDuration, sec.Renewable)
		}
		if err := d.Query(t, user, pass); err != nil {
			t.Fatalf("the new credentials do not work: %v", err)
		}
		lk, err := s.Client.Logical().Write("sys/leases/lookup", map[string]any{"lease_id": sec.LeaseID})
		if err != nil || lk.Data["id"] != sec.LeaseID {
			t.Fatalf("lease lookup = %v, %v", lk, err)
		}
		rn, err := s.Client.Sys().Renew(sec.LeaseID, 1800)
		if err != nil || rn.LeaseDuration != 1800 || rn.LeaseID != sec.LeaseID {
			t.Fatalf("renew = %+v, %v", rn, err)
		}
		list, err := s.Client.Logical().List("sys/leases/lookup/database/creds/app/")
		if err != nil || list == nil || len(list.Data["keys"].([]any)) != 1 {
			t.Errorf("lease list = %v, %v", list, err)
		}
		if err := s.Client.Sys().Revoke(sec.LeaseID); err != nil {
			t.Fatal(err)
		}
		if d.UserExists(t, user) {
			t.Error("the user survived revocation of its lease")
		}
		if kind == testdb.MySQL {
			if err := d.Query(t, user, pass); err == nil {
				t.Error("the revoked credentials still log in")
			}
		}
		if _, err := s.Client.Sys().Renew(sec.LeaseID, 60); statusCode(err) != 400 {
			t.Errorf("renew of a revoked lease error = %v, want 400", err)
		}

		// A tree of three tokens under root: revoking the middle one takes
		// the credentials of its child with it, and leaves the top alone.
		tokenAt := func(parent *api.Client) (*api.Client, string) {
			sec, err := parent.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := api.NewClient(&api.Config{Address: s.Addr})
			c.SetToken(sec.Auth.ClientToken)
			return c, sec.Auth.ClientToken
		}
		top, _ := tokenAt(s.Client)
		middle, middleTok := tokenAt(top)
		bottom, _ := tokenAt(middle)
		topCreds, err := top.Logical().Read("database/creds/app")
		if err != nil {
			t.Fatal(err)
		}
		bottomCreds, err := bottom.Logical().Read("database/creds/app")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Client.Auth().Token().RevokeTree(middleTok); err != nil {
			t.Fatal(err)
		}
		if d.UserExists(t, bottomCreds.Data["username"].(string)) {
			t.Error("credentials of a token under the revoked one survived")
		}
		if !d.UserExists(t, topCreds.Data["username"].(string)) {
			t.Error("credentials of the token above the revoked one were revoked")
		}

		// revoke-prefix (sudo) takes everything under the role.
		for range 3 {
			if _, err := s.Client.Logical().Read("database/creds/app"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Client.Sys().RevokePrefix("database/creds/app"); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.Client.Logical().List("sys/leases/lookup/database/creds/app/"); l != nil {
			t.Errorf("leases left after revoke-prefix: %v", l.Data)
		}
	})
}

func TestCredentialsExpireOnTimeAcrossRestart(t *testing.T) {
	t.Parallel()
	eachServer(t, func(t *testing.T, kind string) {
		d := testdb.New(t, kind)
		clock := logicaltest.NewClock(time.Now())
		path := filepath.Join(t.TempDir(), "coffer.db")
		s, err := testserver.New(testserver.Options{BoltPath: path, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		setUpDatabase(t, s.Client, d, "", "3s")
		short, err := s.Client.Logical().Read("database/creds/app")
		if err != nil {
			t.Fatal(err)
		}
		if short.LeaseDuration != 3 {
			t.Fatalf("lease duration %d, want 3", short.LeaseDuration)
		}
		// A second credential outlives the restart before expiring.
		mustWrite(t, s.Client, "database/roles/long", map[string]any{"db_name": "db", "creation_statements": d.Creation(), "default_ttl": "30s"})
		long, err := s.Client.Logical().Read("database/creds/long")
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(4 * time.Second)
		waitGone(t, d, short.Data["username"].(string))
		keys := s.UnsealKeys
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !d.UserExists(t, long.Data["username"].(string)) {
			t.Fatal("the long credential went before its time")
		}
		testserver.StartWith(t, testserver.Options{BoltPath: path, UnsealKeys: keys, Clock: clock})
		clock.Advance(30 * time.Second)
		waitGone(t, d, long.Data["username"].(string))
	})
}

// proxy forwards TCP connections to target until it is taken down, which
// cuts every open connection and refuses new ones.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

func (p *proxy) setDown(down bool) {
	p.down.Store(down)
	if down {
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
		p.mu.Unlock()
	}
}

func TestRevocationRetriedWhileDatabaseIsDown(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.MySQL)
	p := newProxy(t, "127.0.0.1:3306")
	clock := logicaltest.NewClock(time.Now())
	s := testserver.StartWith(t, testserver.Options{Clock: clock})
	setUpDatabase(t, s.Client, d, "{{username}}:{{password}}@tcp("+p.ln.Addr().String()+")/"+d.Name+"?timeout=2s", "2s")
	sec, err := s.Client.Logical().Read("database/creds/app")
	if err != nil {
		t.Fatal(err)
	}
	user := sec.Data["username"].(string)
	p.setDown(true)
	clock.Advance(3 * time.Second)
	// The sweeper tries, fails and keeps the lease with the failure noted.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ls, err := s.Client.Logical().Read("sys/leases")
		if err != nil {
			t.Fatal(err)
		}
		if failing, _ := ls.Data["failing_revocations"].([]any); len(failing) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed revocation reported: %v", ls.Data)
		}
		time.Sleep(100 * time.Millisecond) // waiting for the sweeper's attempt
	}
	if !d.UserExists(t, user) {
		t.Fatal("the user is gone although the database was unreachable")
	}
	// The database comes back: the next attempt revokes it.
	p.setDown(false)
	clock.Advance(10 * time.Minute)
	waitGone(t, d, user)
	// The user is dropped before the lease record is deleted: wait for
	// the record too.
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err := s.Client.Logical().Write("sys/leases/lookup", map[string]any{"lease_id": sec.LeaseID})
		if statusCode(err) == 400 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease still present after its revocation succeeded: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
