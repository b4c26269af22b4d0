package server_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/testdb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// pgURL returns a connection URL for database name on the local server.
func pgURL(name string) string {
	return "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}

// transitions records every node's role changes, in order.
type transitions struct {
	mu  sync.Mutex
	all []ha.Transition // guarded by mu
}

func (tr *transitions) add(t ha.Transition) {
	tr.mu.Lock()
	tr.all = append(tr.all, t)
	tr.mu.Unlock()
}

// first returns the first transition of node to active (or to standby)
// after since, and whether there is one.
func (tr *transitions) first(node string, active bool, since time.Time) (ha.Transition, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, t := range tr.all {
		if t.NodeID == node && t.Active == active && !t.At.Before(since) {
			return t, true
		}
	}
	return ha.Transition{}, false
}

// cluster is n in-process nodes on one PostgreSQL database.
type cluster struct {
	db    *testdb.DB
	nodes []*testserver.Server
	tr    *transitions
}

// nodeOpts adjusts the options of node i (0 is the first, which
// initializes the cluster).
type nodeOpts func(i int, o *testserver.Options)

// newCluster starts n nodes; node 0 is active when it returns, the others
// are unsealed standbys.
func newCluster(t *testing.T, n int, adjust nodeOpts) *cluster {
	t.Helper()
	c := &cluster{db: testdb.New(t, testdb.Postgres), tr: &transitions{}}
	for i := range n {
		o := testserver.Options{
			Postgres:     &testserver.Postgres{URL: pgURL(c.db.Name), HA: true},
			NodeID:       fmt.Sprintf("node%d", i),
			StepDownWait: 2 * time.Second,
			OnTransition: c.tr.add,
			Logger:       testLogger(t, fmt.Sprintf("node%d", i)),
		}
		if i > 0 {
			o.UnsealKeys = c.nodes[0].UnsealKeys
			o.RootToken = c.nodes[0].RootToken
		}
		if adjust != nil {
			adjust(i, &o)
		}
		c.nodes = append(c.nodes, testserver.StartWith(t, o))
	}
	return c
}

// active returns the index of the node that is active now, or -1.
func (c *cluster) active() int {
	for i, n := range c.nodes {
		if n != nil && n.Core().HAStatus().Active {
			return i
		}
	}
	return -1
}

// waitActive polls until some node other than not is active and returns
// it.
func (c *cluster) waitActive(t *testing.T, not int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if i := c.active(); i >= 0 && i != not {
			return i
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no node other than %d became active within %s", not, within)
	return -1
}

// eventually polls check every 20 ms until it returns nil or within ends.
func eventually(t *testing.T, within time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
}

// rawGet does a GET with token and returns the status and body; redirects
// are not followed.
func rawGet(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	return rawDo(t, http.MethodGet, url, token, "")
}

func rawDo(t *testing.T, method, url, token, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, stringsReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// client returns an official client for node i with token.
func (c *cluster) client(t *testing.T, i int, token string) *api.Client {
	t.Helper()
	cl, err := api.NewClient(&api.Config{Address: c.nodes[i].Addr, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(token)
	return cl
}

// proxy is a TCP proxy between a node and PostgreSQL that a test can cut:
// first it stops forwarding bytes (a silent network), later it closes the
// connections (as PostgreSQL's keepalive would end the sessions).
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool       // guarded by mu
	conns []net.Conn // guarded by mu
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			// A cut network: the connection is accepted and hangs.
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

// pipe copies from src to dst until the proxy is cut.
func (p *proxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			return // drop the bytes, keep the connections open
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// silence stops forwarding in both directions.
func (p *proxy) silence() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
}

// closeAll closes every connection.
func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func stringsReader(s string) io.Reader {
	if s == "" {
		return nil
	}
	return strings.NewReader(s)
}

// testLogger logs through t.Log when the test runs with -v, so a failing
// cluster test shows what each node did.
func testLogger(t *testing.T, node string) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", node)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// heal forwards new connections again.
func (p *proxy) heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// syncWriter serializes writes to w (loggers write from several
// goroutines).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
