package httpapi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// The benchmarks below drive a real server (bolt storage, fsync on) over
// loopback with a plain net/http client, as a service would. Client and
// server share this process, so the process CPU time per request
// ("proc-µs/op") includes the client's work. Each benchmark also measures
// the client alone ("client-µs/op"): the same requests over the same
// number of keep-alive connections to a trivial server in a child process.
//
// They do not report a server CPU figure: the difference of the two was
// once reported as one, but it subtracts a measurement taken at another
// moment (on a shared machine, under another load) and client and server
// share one Go runtime here (GC, scheduler), so it was not what a server
// process spends. The server's own CPU per request comes from
// BenchmarkServer in tools/loadgen, which runs the built binary as a
// process of its own and reads its CPU time from /proc.

// benchSecret is a typical small secret: a database credential.
const benchSecret = `{"data":{"username":"service-account","password":"correct horse battery staple","host":"db.internal:5432","options":{"sslmode":"verify-full","pool":20}}}`

// Concurrent clients, as in the performance targets.
const (
	readClients  = 16
	writeClients = 64
)

// benchKeys is how many distinct secrets the benchmarks spread over.
const benchKeys = 1000

// newBenchClient returns a keep-alive client that holds one idle
// connection per concurrent caller.
func newBenchClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns * 2
	tr.MaxIdleConnsPerHost = conns * 2
	tr.DisableCompression = true
	return &http.Client{Transport: tr}
}

// doRequest sends one request and drains the response, reporting the
// status. Draining lets the connection be reused.
func doRequest(cl *http.Client, method, url, token string, body []byte) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

// cpuTime returns the CPU time (user plus system) used by this process.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// latencies collects per-request latencies from parallel goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// quantile returns the q-quantile (0..1) of the collected latencies.
func (l *latencies) quantile(q float64) time.Duration {
	if len(l.all) == 0 {
		return 0
	}
	slices.Sort(l.all)
	return l.all[min(len(l.all)-1, int(q*float64(len(l.all))))]
}

// runParallel runs op b.N times from about clients goroutines and returns
// the process CPU time used and the latencies.
func runParallel(b *testing.B, clients int, op func(i int64) error) (time.Duration, *latencies) {
	b.Helper()
	var n atomic.Int64
	lat := &latencies{}
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	runtime.GC()
	b.ResetTimer()
	start := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := op(n.Add(1)); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		lat.add(mine)
	})
	cpu := cpuTime(b) - start
	b.StopTimer()
	return cpu, lat
}

// echoEnv makes the test binary a trivial HTTP server (see TestMain): its
// value is the size of the body it answers.
const echoEnv = "COFFER_BENCH_ECHO"

// TestMain runs the tests, or, in a child started by clientBaseline, the
// trivial server.
func TestMain(m *testing.M) {
	if v := os.Getenv(echoEnv); v != "" {
		os.Exit(serveEcho(v))
	}
	os.Exit(m.Run())
}

// serveEcho serves on 127.0.0.1:0 a handler that reads the request body
// and answers size bytes, prints its address and stops when stdin closes.
func serveEcho(size string) int {
	n, err := strconv.Atoi(size)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	resp := bytes.Repeat([]byte("x"), n)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(resp)
	}))
	fmt.Println("http://" + ln.Addr().String())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// clientBaseline measures the CPU time per request of the client alone:
// it sends n requests from clients goroutines to a trivial server in a
// child process that answers respSize bytes.
func clientBaseline(b *testing.B, clients, n int, method string, body []byte, respSize int) time.Duration {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoEnv+"="+strconv.Itoa(respSize))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("start the baseline server: %v", err)
	}
	url := strings.TrimSpace(addr) + "/v1/secret/data/x"
	cl := newBenchClient(clients)
	defer cl.CloseIdleConnections()
	run := func(n int) {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					if _, err := doRequest(cl, method, url, "token", body); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	run(clients * 4) // open the connections first
	start := cpuTime(b)
	run(n)
	return (cpuTime(b) - start) / time.Duration(n)
}

// report adds the CPU, throughput and latency metrics.
func report(b *testing.B, cpu, client time.Duration, lat *latencies) {
	perOp := cpu / time.Duration(b.N)
	b.ReportMetric(float64(perOp.Nanoseconds())/1e3, "proc-µs/op")
	b.ReportMetric(float64(client.Nanoseconds())/1e3, "client-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(lat.quantile(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat.quantile(0.99).Microseconds()), "p99-µs")
}

// baselineOps is how many requests the client baseline sends.
const baselineOps = 5000

// measureResponse returns the size of the response body to a request, so
// that the baseline answers as much.
func measureResponse(b *testing.B, cl *http.Client, method, url, token string, body []byte) int {
	b.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := cl.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s %s = %d %s, %v", method, url, resp.StatusCode, got, err)
	}
	return len(got)
}

// BenchmarkKVv2ReadHTTP reads secrets from KV v2 at secret/ through the
// whole stack: HTTP, token lookup, permission check, routing, two barrier
// decryptions (metadata and version) and the JSON envelope, from 16
// concurrent keep-alive clients.
func BenchmarkKVv2ReadHTTP(b *testing.B) {
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	cl := newBenchClient(readClients)
	defer cl.CloseIdleConnections()
	body := []byte(benchSecret)
	for i := range benchKeys {
		if code, err := doRequest(cl, http.MethodPost, fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i), s.RootToken, body); err != nil || code != http.StatusOK {
			b.Fatalf("write app/%d = %d, %v", i, code, err)
		}
	}
	respSize := measureResponse(b, cl, http.MethodGet, s.Addr+"/v1/secret/data/app/0", s.RootToken, nil)
	client := clientBaseline(b, readClients, baselineOps, http.MethodGet, nil, respSize)
	urls := make([]string, benchKeys)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i)
	}
	b.ReportAllocs()
	cpu, lat := runParallel(b, readClients, func(i int64) error {
		code, err := doRequest(cl, http.MethodGet, urls[i%benchKeys], s.RootToken, nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("read = %d", code)
		}
		return err
	})
	report(b, cpu, client, lat)
}

// BenchmarkKVv2WriteHTTP writes new versions of KV v2 secrets from 64
// concurrent keep-alive clients to a server on bolt storage: every
// acknowledged write has been fsynced, and concurrent writers share
// commits.
func BenchmarkKVv2WriteHTTP(b *testing.B) {
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	cl := newBenchClient(writeClients)
	defer cl.CloseIdleConnections()
	body := []byte(benchSecret)
	urls := make([]string, benchKeys)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i)
	}
	respSize := measureResponse(b, cl, http.MethodPost, urls[0], s.RootToken, body)
	client := clientBaseline(b, writeClients, baselineOps, http.MethodPost, body, respSize)
	b.ReportAllocs()
	cpu, lat := runParallel(b, writeClients, func(i int64) error {
		code, err := doRequest(cl, http.MethodPost, urls[i%benchKeys], s.RootToken, body)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("write = %d", code)
		}
		return err
	})
	report(b, cpu, client, lat)
}

// benchToken makes a non-root token holding the default policy and one
// that reads secret/.
func benchToken(b *testing.B, s *testserver.Server) string {
	b.Helper()
	if err := s.Client.Sys().PutPolicy("bench-reader", `path "secret/data/*" { capabilities = ["read"] }`); err != nil {
		b.Fatal(err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"bench-reader"}, TTL: "1h"})
	if err != nil {
		b.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// BenchmarkTokenLookupSelfHTTP runs auth/token/lookup-self with a
// non-root token from 16 concurrent clients: token lookup, a policy
// check and the lookup response.
func BenchmarkTokenLookupSelfHTTP(b *testing.B) {
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	tok := benchToken(b, s)
	cl := newBenchClient(readClients)
	defer cl.CloseIdleConnections()
	url := s.Addr + "/v1/auth/token/lookup-self"
	respSize := measureResponse(b, cl, http.MethodGet, url, tok, nil)
	client := clientBaseline(b, readClients, baselineOps, http.MethodGet, nil, respSize)
	b.ReportAllocs()
	cpu, lat := runParallel(b, readClients, func(i int64) error {
		code, err := doRequest(cl, http.MethodGet, url, tok, nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("lookup-self = %d", code)
		}
		return err
	})
	report(b, cpu, client, lat)
}

// BenchmarkKVv2ReadHTTPPolicy is BenchmarkKVv2ReadHTTP with a non-root
// token, so the ACL check does real work.
func BenchmarkKVv2ReadHTTPPolicy(b *testing.B) {
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	tok := benchToken(b, s)
	cl := newBenchClient(readClients)
	defer cl.CloseIdleConnections()
	body := []byte(benchSecret)
	for i := range benchKeys {
		if code, err := doRequest(cl, http.MethodPost, fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i), s.RootToken, body); err != nil || code != http.StatusOK {
			b.Fatalf("write app/%d = %d, %v", i, code, err)
		}
	}
	respSize := measureResponse(b, cl, http.MethodGet, s.Addr+"/v1/secret/data/app/0", tok, nil)
	client := clientBaseline(b, readClients, baselineOps, http.MethodGet, nil, respSize)
	urls := make([]string, benchKeys)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i)
	}
	b.ReportAllocs()
	cpu, lat := runParallel(b, readClients, func(i int64) error {
		code, err := doRequest(cl, http.MethodGet, urls[i%benchKeys], tok, nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("read = %d", code)
		}
		return err
	})
	report(b, cpu, client, lat)
}

// BenchmarkAppRoleLoginHTTP logs in with AppRole from 64 concurrent
// clients against bolt storage: each login stores a new token durably
// (fsynced before the reply), and concurrent logins share commits.
func BenchmarkAppRoleLoginHTTP(b *testing.B) {
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	if err := s.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("auth/approle/role/bench", map[string]any{"token_policies": "default", "token_ttl": "1h"}); err != nil {
		b.Fatal(err)
	}
	rid, err := s.Client.Logical().Read("auth/approle/role/bench/role-id")
	if err != nil {
		b.Fatal(err)
	}
	sid, err := s.Client.Logical().Write("auth/approle/role/bench/secret-id", map[string]any{})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"role_id":%q,"secret_id":%q}`, rid.Data["role_id"], sid.Data["secret_id"]))
	cl := newBenchClient(writeClients)
	defer cl.CloseIdleConnections()
	url := s.Addr + "/v1/auth/approle/login"
	respSize := measureResponse(b, cl, http.MethodPost, url, "", body)
	client := clientBaseline(b, writeClients, baselineOps, http.MethodPost, body, respSize)
	b.ReportAllocs()
	cpu, lat := runParallel(b, writeClients, func(i int64) error {
		code, err := doRequest(cl, http.MethodPost, url, "", body)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("login = %d", code)
		}
		return err
	})
	report(b, cpu, client, lat)
}

// BenchmarkKVv2ReadHTTPAudit is BenchmarkKVv2ReadHTTP with 0, 1 and 2
// file audit devices enabled, to show what auditing costs.
func BenchmarkKVv2ReadHTTPAudit(b *testing.B) {
	for _, devices := range []int{0, 1, 2} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			dir := b.TempDir()
			extra := ""
			for i := range devices {
				extra += fmt.Sprintf("audit \"file\" \"f%d\" {\n file_path = %q\n}\n", i, filepath.Join(dir, fmt.Sprintf("audit%d.log", i)))
			}
			s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(dir, "coffer.db"), ExtraConfig: extra})
			cl := newBenchClient(readClients)
			defer cl.CloseIdleConnections()
			body := []byte(benchSecret)
			for i := range benchKeys {
				if code, err := doRequest(cl, http.MethodPost, fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i), s.RootToken, body); err != nil || code != http.StatusOK {
					b.Fatalf("write app/%d = %d, %v", i, code, err)
				}
			}
			urls := make([]string, benchKeys)
			for i := range urls {
				urls[i] = fmt.Sprintf("%s/v1/secret/data/app/%d", s.Addr, i)
			}
			b.ReportAllocs()
			cpu, lat := runParallel(b, readClients, func(i int64) error {
				code, err := doRequest(cl, http.MethodGet, urls[i%benchKeys], s.RootToken, nil)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("read = %d", code)
				}
				return err
			})
			report(b, cpu, 0, lat)
		})
	}
}

// BenchmarkTransitEncryptHTTP encrypts 64 bytes with an aes256-gcm96 key
// through the whole stack from 16 concurrent clients.
func BenchmarkTransitEncryptHTTP(b *testing.B) {
	s := testserver.StartWith(b, testserver.Options{BoltPath: filepath.Join(b.TempDir(), "coffer.db")})
	if err := s.Client.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("transit/keys/bench", map[string]any{"type": "aes256-gcm96"}); err != nil {
		b.Fatal(err)
	}
	cl := newBenchClient(readClients)
	defer cl.CloseIdleConnections()
	body := []byte(`{"plaintext":"` + strings.Repeat("QUJD", 21) + `QUI="}`) // 64 bytes, base64
	url := s.Addr + "/v1/transit/encrypt/bench"
	respSize := measureResponse(b, cl, http.MethodPost, url, s.RootToken, body)
	client := clientBaseline(b, readClients, baselineOps, http.MethodPost, body, respSize)
	b.ReportAllocs()
	cpu, lat := runParallel(b, readClients, func(i int64) error {
		code, err := doRequest(cl, http.MethodPost, url, s.RootToken, body)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("encrypt = %d", code)
		}
		return err
	})
	report(b, cpu, client, lat)
}
