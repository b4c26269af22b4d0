package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/config"
	"github.com/coffer-secrets/coffer/internal/server"
	"github.com/coffer-secrets/coffer/internal/storage/postgres"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// TestClusterPartition cuts the active node's network to PostgreSQL: the
// proxy between them stops forwarding (a silent network) and, 3 s later,
// closes the connections, standing in for PostgreSQL's keepalive ending
// the sessions (about 10 s in production). The active node must stop
// acting as active before another node takes over; the order is taken
// from the nodes' own transition times.
func TestClusterPartition(t *testing.T) {
	t.Parallel()
	px := newProxy(t, "127.0.0.1:5432")
	c := newCluster(t, 3, func(i int, o *testserver.Options) {
		if i == 0 {
			o.Postgres.URL = strings.Replace(o.Postgres.URL, "127.0.0.1:5432", px.addr(), 1)
		}
	})
	root := c.nodes[0].RootToken
	if _, err := c.client(t, 0, root).KVv2("secret").Put(t.Context(), "before", map[string]any{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	px.silence()
	var lost time.Time
	eventually(t, 5*time.Second, "the partitioned node steps down", func() error {
		tr, ok := c.tr.first("node0", false, cut)
		if !ok {
			return errors.New("no transition yet")
		}
		lost = tr.At
		return nil
	})
	if code, _, _ := rawGet(t, c.nodes[0].Addr+"/v1/sys/health", ""); code != http.StatusTooManyRequests {
		t.Errorf("partitioned node's health = %d, want 429", code)
	}
	// Nothing is served as active by the partitioned node.
	code, _, _ := rawDo(t, http.MethodPut, c.nodes[0].Addr+"/v1/secret/data/during", root, `{"data":{"v":"x"}}`)
	if code < 500 {
		t.Errorf("write through the partitioned node = %d, want a 5xx (no active node it can reach)", code)
	}
	time.Sleep(time.Until(cut.Add(3 * time.Second))) // the stand-in for PostgreSQL's keepalive timeout
	px.closeAll()
	next := c.waitActive(t, 0, 15*time.Second)
	won, ok := c.tr.first(c.nodes[next].NodeID, true, cut)
	if !ok {
		t.Fatalf("node %d is active but reported no transition", next)
	}
	if !lost.Before(won.At) {
		t.Errorf("node0 stopped being active at %s, after %s took over at %s", lost.Format(time.StampMicro), won.NodeID, won.At.Format(time.StampMicro))
	}
	s, err := c.client(t, next, root).KVv2("secret").Get(t.Context(), "before")
	if err != nil || s.Data["v"] != "1" {
		t.Errorf("read on the new active node = %v, %v", s, err)
	}
	if _, err := c.client(t, next, root).KVv2("secret").Get(t.Context(), "during"); err == nil {
		t.Errorf("a write sent to the partitioned node was stored")
	}
	px.heal()
}

// TestLeaseExpiresAfterFailover issues a database credential with a short
// lease, stops the active node, and checks that the new active node
// revokes the credential on time.
func TestLeaseExpiresAfterFailover(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	d := testdb.New(t, testdb.Postgres)
	root := c.nodes[0].RootToken
	admin := c.client(t, 0, root)
	if err := admin.Sys().Mount("database", &api.MountInput{Type: "database"}); err != nil {
		t.Fatal(err)
	}
	// In order: a role names an existing connection.
	for _, w := range []struct {
		path string
		body map[string]any
	}{
		{"database/config/db", map[string]any{"plugin_name": d.Plugin, "connection_url": d.URL, "username": d.User, "password": d.Password, "allowed_roles": "*"}},
		{"database/roles/app", map[string]any{"db_name": "db", "creation_statements": d.Creation(), "default_ttl": "6s", "max_ttl": "1h"}},
	} {
		if _, err := admin.Logical().Write(w.path, w.body); err != nil {
			t.Fatalf("write %s: %v", w.path, err)
		}
	}
	creds, err := admin.Logical().Read("database/creds/app")
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now()
	user, _ := creds.Data["username"].(string)
	if user == "" || !d.UserExists(t, user) {
		t.Fatalf("credential %q was not created", user)
	}
	if err := c.nodes[0].Close(); err != nil {
		t.Fatalf("stop the active node: %v", err)
	}
	c.waitActive(t, 0, 15*time.Second)
	for d.UserExists(t, user) {
		if time.Since(issued) > 20*time.Second {
			t.Fatalf("user %s still exists %s after a 6s lease", user, time.Since(issued))
		}
		time.Sleep(100 * time.Millisecond) // polling an outside system
	}
	if gone := time.Since(issued); gone < 5*time.Second {
		t.Errorf("user %s revoked after %s, before its 6s lease ended", user, gone)
	}
}

// TestPostgresUnreachableRetries starts a server whose PostgreSQL does not
// answer: New keeps retrying with backoff, logs each failure without the
// password, and gives up with a clear error when its context ends.
func TestPostgresUnreachableRetries(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t) // nothing listens there
	const password = "s3cret-pw-do-not-log"
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
storage "postgresql" {
  connection_url = "postgres://coffer:%s@%s/coffer?sslmode=disable&connect_timeout=2"
  ha_enabled = true
}
listener "tcp" {
  address = "127.0.0.1:0"
  tls_disable = true
}`, password, addr)), "test.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer cancel()
	_, err = server.New(ctx, server.Options{Config: cfg, Logger: logger})
	if err == nil {
		t.Fatal("New succeeded without a database")
	}
	out := logs.String()
	if strings.Contains(err.Error(), password) || strings.Contains(out, password) {
		t.Errorf("the password leaked:\nerr: %v\nlogs:\n%s", err, out)
	}
	if n := strings.Count(out, "PostgreSQL storage is unreachable; retrying"); n < 2 {
		t.Errorf("logged %d retries in 2.5 s, want at least 2:\n%s", n, out)
	}
	for _, want := range []string{"give up connecting to PostgreSQL", "host=127.0.0.1", "user=coffer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestPostgresSchemaTooNew refuses to start on a schema written by a newer
// Coffer, at once and without changing it.
func TestPostgresSchemaTooNew(t *testing.T) {
	t.Parallel()
	d := testdb.New(t, testdb.Postgres)
	st, err := postgres.Open(t.Context(), postgres.Options{ConnURL: pgURL(d.Name), Table: config.DefaultPostgresTable})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := d.Admin.ExecContext(t.Context(), "UPDATE "+config.DefaultPostgresTable+"_schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
storage "postgresql" {
  connection_url = %q
}
listener "tcp" {
  address = "127.0.0.1:0"
  tls_disable = true
}`, pgURL(d.Name))), "test.hcl", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = server.New(t.Context(), server.Options{Config: cfg})
	if !errors.Is(err, postgres.ErrSchemaTooNew) || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("New = %v, want a refusal matching ErrSchemaTooNew", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("refusal took %s: it must not retry", took)
	}
	var v int
	if err := d.Admin.QueryRowContext(t.Context(), "SELECT version FROM "+config.DefaultPostgresTable+"_schema_version").Scan(&v); err != nil || v != 99 {
		t.Errorf("schema version after the refusal = %d, %v; want 99 untouched", v, err)
	}
}
