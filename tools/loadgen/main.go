// Command loadgen is Coffer's load generator: it sends KV version 2 reads
// or writes to a running server from many keep-alive connections and
// reports throughput and latency percentiles. Given the server's process
// ID (-pid, Linux only) it also reports the server's own CPU time per
// request and its resident memory, read from /proc, so that the figures
// hold for the server alone. Given several addresses (-addr, comma
// separated) it spreads reads and writes over them round robin, as over
// the nodes of a cluster, and with as many process IDs reports each
// node's CPU time per request.
//
// Operations (-op):
//
//	setup    initialize (one key share), unseal and mount KV v2 at -mount;
//	         prints the root token and the time each step took
//	startup  start -server (a command line), time it until the first answer
//	         from sys/health, then run setup, then stop the server
//	fill     write each of -keys secrets once
//	write    write new versions of -keys secrets for -d
//	read     read -keys secrets for -d (filling them first unless -fill=false)
//	login    AppRole logins (auth/approle/login) for -d; each creates a token
//	token-create   auth/token/create (policy default, TTL 1h) for -d
//	token-revoke   create -keys tokens first, then revoke them with
//	               auth/token/revoke-accessor, timing only the revocations
//	lookup-self    auth/token/lookup-self with a non-root token for -d
//	transit  transit/encrypt of 64 bytes with an aes256-gcm96 key for -d
//	audit-on, audit-off   enable or disable a file audit device at -audit-path
//
// login, lookup-self and transit set up what they need (the approle mount
// and a role, a token, the transit mount and key) with -token first.
//
// It talks plain HTTP with net/http only, as any client would, and keeps
// no state between runs.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// config is what the flags say.
type config struct {
	addr      string   // the first of addrs: setup and startup use it
	addrs     []string // every address requests are spread over
	token     string
	c         int
	d         time.Duration
	op        string
	keys      int
	valueSize int
	mount     string
	pids      []int
	fill      bool
	idle      time.Duration
	server    string
	auditPath string
}

func main() {
	var cfg config
	addrs := flag.String("addr", "http://127.0.0.1:8200", "server address; several, comma-separated, spread requests over the nodes of a cluster")
	flag.StringVar(&cfg.token, "token", os.Getenv("VAULT_TOKEN"), "client token (default $VAULT_TOKEN)")
	flag.IntVar(&cfg.c, "c", 16, "concurrent clients, each with its own connection")
	flag.DurationVar(&cfg.d, "d", 10*time.Second, "duration of a read or write run")
	flag.StringVar(&cfg.op, "op", "read", "read, write, fill, setup or startup")
	flag.IntVar(&cfg.keys, "keys", 1000, "number of distinct secrets")
	flag.IntVar(&cfg.valueSize, "value-size", 64, "bytes of random data in each secret (base64-encoded in the JSON)")
	flag.StringVar(&cfg.mount, "mount", "secret", "KV v2 mount path")
	pids := flag.String("pid", "", "server process ID, to report its CPU time and memory from /proc; several, comma-separated, for the nodes of a cluster")
	flag.BoolVar(&cfg.fill, "fill", true, "for -op read: write every key once first")
	flag.DurationVar(&cfg.idle, "idle", 0, "with -pid: first measure each server's CPU use for this long without load, and report CPU per request net of it")
	flag.StringVar(&cfg.server, "server", "", "for -op startup: the server command line (split on spaces)")
	flag.StringVar(&cfg.auditPath, "audit-path", "/tmp/loadgen-audit.log", "for -op audit-on: the audit log file")
	flag.Parse()
	for _, a := range strings.Split(*addrs, ",") {
		cfg.addrs = append(cfg.addrs, strings.TrimSuffix(strings.TrimSpace(a), "/"))
	}
	cfg.addr = cfg.addrs[0]
	if *pids != "" {
		for _, p := range strings.Split(*pids, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || pid <= 0 {
				fmt.Fprintf(os.Stderr, "loadgen: -pid %q: want process IDs\n", *pids)
				os.Exit(2)
			}
			cfg.pids = append(cfg.pids, pid)
		}
	}
	if err := run(context.Background(), &cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config, out io.Writer) error {
	if cfg.c < 1 || cfg.keys < 1 || cfg.valueSize < 0 {
		return errors.New("-c and -keys must be positive, -value-size not negative")
	}
	cl := newClient(cfg.c)
	switch cfg.op {
	case "setup":
		token, err := setup(ctx, cl, cfg, out)
		if err == nil {
			fmt.Fprintf(out, "root_token %s\n", token)
		}
		return err
	case "startup":
		return startup(ctx, cl, cfg, out)
	case "fill":
		return measure(cfg, out, "fill", func() (*result, error) { return fill(ctx, cl, cfg) })
	case "write":
		return measure(cfg, out, "write", func() (*result, error) { return load(ctx, cl, cfg, writeOp(cl, cfg)) })
	case "read":
		if cfg.fill {
			if _, err := fill(ctx, cl, cfg); err != nil {
				return err
			}
		}
		return measure(cfg, out, "read", func() (*result, error) { return load(ctx, cl, cfg, readOp(cl, cfg)) })
	case "login", "token-create", "lookup-self", "transit":
		op, err := prepare(ctx, cl, cfg)
		if err != nil {
			return err
		}
		return measure(cfg, out, cfg.op, func() (*result, error) { return load(ctx, cl, cfg, op) })
	case "token-revoke":
		accessors, err := createTokens(ctx, cl, cfg)
		if err != nil {
			return err
		}
		return measure(cfg, out, cfg.op, func() (*result, error) {
			return work(ctx, cfg, revokeOp(cl, cfg, accessors), func(i int) bool { return i < len(accessors) })
		})
	case "audit-on":
		body, _ := json.Marshal(map[string]any{"type": "file", "options": map[string]string{"file_path": cfg.auditPath}})
		_, err := expect(ctx, cl, http.StatusNoContent, http.MethodPut, cfg.addr+"/v1/sys/audit/loadgen", cfg.token, body)
		return err
	case "audit-off":
		_, err := expect(ctx, cl, http.StatusNoContent, http.MethodDelete, cfg.addr+"/v1/sys/audit/loadgen", cfg.token, nil)
		return err
	}
	return fmt.Errorf("unknown -op %q", cfg.op)
}

// newClient returns a client keeping one idle connection per worker.
func newClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conns * 2
	tr.MaxIdleConnsPerHost = conns * 2
	tr.DisableCompression = true
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// call sends one request and returns the status and body.
func call(ctx context.Context, cl *http.Client, method, url, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// expect sends a request and fails unless the status is want.
func expect(ctx context.Context, cl *http.Client, want int, method, url, token string, body []byte) ([]byte, error) {
	code, b, err := call(ctx, cl, method, url, token, body)
	if err != nil {
		return nil, err
	}
	if code != want {
		return nil, fmt.Errorf("%s %s = %d %s, want %d", method, url, code, bytes.TrimSpace(b), want)
	}
	return b, nil
}

// setup initializes, unseals and mounts KV v2, timing each step.
func setup(ctx context.Context, cl *http.Client, cfg *config, out io.Writer) (string, error) {
	t0 := time.Now()
	b, err := expect(ctx, cl, http.StatusOK, http.MethodPut, cfg.addr+"/v1/sys/init", "", []byte(`{"secret_shares":1,"secret_threshold":1}`))
	if err != nil {
		return "", err
	}
	initTime := time.Since(t0)
	var in struct {
		Keys      []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	if err := json.Unmarshal(b, &in); err != nil || len(in.Keys) != 1 {
		return "", fmt.Errorf("decode sys/init answer: %v", err)
	}
	t0 = time.Now()
	key, _ := json.Marshal(map[string]string{"key": in.Keys[0]})
	if _, err := expect(ctx, cl, http.StatusOK, http.MethodPut, cfg.addr+"/v1/sys/unseal", "", key); err != nil {
		return "", err
	}
	unsealTime := time.Since(t0)
	t0 = time.Now()
	mount := []byte(`{"type":"kv","options":{"version":"2"}}`)
	if _, err := expect(ctx, cl, http.StatusNoContent, http.MethodPost, cfg.addr+"/v1/sys/mounts/"+cfg.mount, in.RootToken, mount); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "sys/init %s\nsys/unseal %s\nsys/mounts %s\n", ms(initTime), ms(unsealTime), ms(time.Since(t0)))
	return in.RootToken, nil
}

// startup starts the server, waits for its first health answer (any
// status: an uninitialized server answers 501), then sets it up and stops
// it.
func startup(ctx context.Context, cl *http.Client, cfg *config, out io.Writer) error {
	args := strings.Fields(cfg.server)
	if len(args) == 0 {
		return errors.New("-op startup needs -server")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	poll := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("server exited before answering: %v", err)
		default:
		}
		if time.Since(t0) > 10*time.Second {
			return errors.New("no health answer within 10s")
		}
		resp, err := poll.Get(cfg.addr + "/v1/sys/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			fmt.Fprintf(out, "startup-to-health %s (status %d)\n", ms(time.Since(t0)), resp.StatusCode)
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	fmt.Fprintf(out, "server rss %s\n", mib(rss(cmd.Process.Pid)))
	if _, err := setup(ctx, cl, cfg, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "server rss after setup %s\n", mib(rss(cmd.Process.Pid)))
	return nil
}

// secretBody returns the JSON body of a write: one field of n random
// bytes, base64-encoded.
func secretBody(n int) []byte {
	v := make([]byte, n)
	rand.Read(v)
	b, _ := json.Marshal(map[string]map[string]string{"data": {"value": base64.StdEncoding.EncodeToString(v)}})
	return b
}

// keyURL returns the URL of the i-th call: key i%keys, on the addresses in
// turn, shifted by one each round of keys so that every address sees every
// key.
func (cfg *config) keyURL(i int) string {
	addr := cfg.addr // a config made in code may set only addr
	if len(cfg.addrs) > 0 {
		addr = cfg.addrs[(i+i/cfg.keys)%len(cfg.addrs)]
	}
	return addr + "/v1/" + cfg.mount + "/data/loadgen/" + strconv.Itoa(i%cfg.keys)
}

// writeOp writes a new version of key i.
func writeOp(cl *http.Client, cfg *config) func(ctx context.Context, i int) error {
	body := secretBody(cfg.valueSize)
	return func(ctx context.Context, i int) error {
		_, err := expect(ctx, cl, http.StatusOK, http.MethodPost, cfg.keyURL(i), cfg.token, body)
		return err
	}
}

// readOp reads key i.
func readOp(cl *http.Client, cfg *config) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		_, err := expect(ctx, cl, http.StatusOK, http.MethodGet, cfg.keyURL(i), cfg.token, nil)
		return err
	}
}

// result is one run's outcome.
type result struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration // sorted
}

// work runs op from cfg.c workers, numbering calls from 0, while more
// allows; it records each call's latency.
func work(ctx context.Context, cfg *config, op func(context.Context, int) error, more func(i int) bool) (*result, error) {
	var (
		counter atomic.Int64
		mu      sync.Mutex
		all     []time.Duration
		errs    []error
		wg      sync.WaitGroup
	)
	t0 := time.Now()
	for range cfg.c {
		wg.Go(func() {
			var mine []time.Duration
			var err error
			for {
				i := int(counter.Add(1) - 1)
				if !more(i) {
					break
				}
				s := time.Now()
				if err = op(ctx, i); err != nil {
					break
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			all = append(all, mine...)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	r := &result{n: len(all), elapsed: time.Since(t0), lat: all}
	slices.Sort(r.lat)
	if len(errs) > 0 {
		return r, fmt.Errorf("%d workers failed; first: %w", len(errs), errs[0])
	}
	return r, nil
}

// fill writes every key once.
func fill(ctx context.Context, cl *http.Client, cfg *config) (*result, error) {
	return work(ctx, cfg, writeOp(cl, cfg), func(i int) bool { return i < cfg.keys })
}

// load runs op for cfg.d.
func load(ctx context.Context, cl *http.Client, cfg *config, op func(context.Context, int) error) (*result, error) {
	deadline := time.Now().Add(cfg.d)
	return work(ctx, cfg, op, func(int) bool { return time.Now().Before(deadline) })
}

// measure runs f and prints its throughput and latencies, and with -pid
// each server's CPU time per request and memory.
func measure(cfg *config, out io.Writer, name string, f func() (*result, error)) error {
	idle, err := idleCPU(cfg)
	if err != nil {
		return err
	}
	before := make([]procStat, len(cfg.pids))
	for i, pid := range cfg.pids {
		if before[i], err = readProc(pid); err != nil {
			return err
		}
	}
	r, err := f()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d requests in %s from %d clients: %.0f req/s\n", name, r.n, r.elapsed.Round(time.Millisecond), cfg.c, float64(r.n)/r.elapsed.Seconds())
	fmt.Fprintf(out, "latency p50 %s p90 %s p99 %s max %s\n", us(r.q(0.5)), us(r.q(0.9)), us(r.q(0.99)), us(r.q(1)))
	var total, totalNet time.Duration
	for i, pid := range cfg.pids {
		after, err := readProc(pid)
		if err != nil {
			return err
		}
		cpu := after.cpu - before[i].cpu
		total += cpu
		who := "server"
		if len(cfg.pids) > 1 {
			who = fmt.Sprintf("server %d (pid %d)", i, pid)
		}
		fmt.Fprintf(out, "%s cpu %s total, %.1f µs/request, %.2f cores busy\n", who, cpu.Round(time.Millisecond), float64(cpu.Nanoseconds())/1e3/float64(r.n), cpu.Seconds()/r.elapsed.Seconds())
		if cfg.idle > 0 {
			net := cpu - time.Duration(idle[i]*float64(r.elapsed))
			totalNet += net
			fmt.Fprintf(out, "%s idle %.3f cores busy; net of idle %.1f µs/request\n", who, idle[i], float64(net.Nanoseconds())/1e3/float64(r.n))
		}
		fmt.Fprintf(out, "%s rss %s (peak %s)\n", who, mib(after.rss), mib(after.hwm))
	}
	if len(cfg.pids) > 1 {
		fmt.Fprintf(out, "servers cpu %s total, %.1f µs/request, %.2f cores busy\n", total.Round(time.Millisecond), float64(total.Nanoseconds())/1e3/float64(r.n), total.Seconds()/r.elapsed.Seconds())
		if cfg.idle > 0 {
			fmt.Fprintf(out, "servers net of idle %.1f µs/request\n", float64(totalNet.Nanoseconds())/1e3/float64(r.n))
		}
	}
	return nil
}

// idleCPU returns each server's CPU use, in cores, over cfg.idle without
// load; nil when cfg.idle is zero.
func idleCPU(cfg *config) ([]float64, error) {
	if cfg.idle <= 0 || len(cfg.pids) == 0 {
		return nil, nil
	}
	before := make([]procStat, len(cfg.pids))
	for i, pid := range cfg.pids {
		var err error
		if before[i], err = readProc(pid); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	time.Sleep(cfg.idle)
	elapsed := time.Since(t0)
	idle := make([]float64, len(cfg.pids))
	for i, pid := range cfg.pids {
		after, err := readProc(pid)
		if err != nil {
			return nil, err
		}
		idle[i] = (after.cpu - before[i].cpu).Seconds() / elapsed.Seconds()
	}
	return idle, nil
}

// q returns the q-quantile of the latencies.
func (r *result) q(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(q*float64(len(r.lat))))]
}

// procStat is a process's CPU time and memory.
type procStat struct {
	cpu      time.Duration
	rss, hwm int64 // bytes
}

// clockTick is the unit of utime and stime in /proc/PID/stat on Linux
// (USER_HZ, 100 on every mainstream architecture).
const clockTick = 10 * time.Millisecond

// readProc reads utime+stime from /proc/PID/stat and VmRSS and VmHWM from
// /proc/PID/status.
func readProc(pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// The command name, in parentheses, may hold spaces; fields follow it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return st, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return st, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	st.cpu = time.Duration(utime+stime) * clockTick
	st.rss, st.hwm = rss(pid), statusKB(pid, "VmHWM:")
	return st, nil
}

// rss returns the resident set size of pid in bytes, or 0.
func rss(pid int) int64 { return statusKB(pid, "VmRSS:") }

// statusKB returns the field of /proc/PID/status in bytes, or 0.
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1e3) }
func us(d time.Duration) string { return fmt.Sprintf("%dµs", d.Microseconds()) }
func mib(n int64) string        { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// prepare sets up what cfg.op needs, with the root token, and returns the
// operation to repeat. It may run again against the same server.
func prepare(ctx context.Context, cl *http.Client, cfg *config) (func(context.Context, int) error, error) {
	root := cfg.token
	v1 := cfg.addr + "/v1/"
	switch cfg.op {
	case "login":
		if code, b, err := call(ctx, cl, http.MethodPost, v1+"sys/auth/approle", root, []byte(`{"type":"approle"}`)); err != nil || (code != http.StatusNoContent && code != http.StatusBadRequest) {
			return nil, fmt.Errorf("enable approle: %d %s %v", code, b, err)
		}
		if _, err := expect(ctx, cl, http.StatusNoContent, http.MethodPost, v1+"auth/approle/role/loadgen", root, []byte(`{"token_policies":"default","token_ttl":"1h"}`)); err != nil {
			return nil, err
		}
		b, err := expect(ctx, cl, http.StatusOK, http.MethodGet, v1+"auth/approle/role/loadgen/role-id", root, nil)
		if err != nil {
			return nil, err
		}
		var rid struct {
			Data struct {
				RoleID string `json:"role_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &rid); err != nil {
			return nil, err
		}
		b, err = expect(ctx, cl, http.StatusOK, http.MethodPost, v1+"auth/approle/role/loadgen/secret-id", root, []byte(`{}`))
		if err != nil {
			return nil, err
		}
		var sid struct {
			Data struct {
				SecretID string `json:"secret_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &sid); err != nil {
			return nil, err
		}
		body, _ := json.Marshal(map[string]string{"role_id": rid.Data.RoleID, "secret_id": sid.Data.SecretID})
		return func(ctx context.Context, _ int) error {
			_, err := expect(ctx, cl, http.StatusOK, http.MethodPost, v1+"auth/approle/login", "", body)
			return err
		}, nil
	case "token-create":
		return func(ctx context.Context, _ int) error {
			_, err := expect(ctx, cl, http.StatusOK, http.MethodPost, v1+"auth/token/create", root, []byte(tokenBody))
			return err
		}, nil
	case "lookup-self":
		tok, _, err := createToken(ctx, cl, cfg)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, _ int) error {
			_, err := expect(ctx, cl, http.StatusOK, http.MethodGet, v1+"auth/token/lookup-self", tok, nil)
			return err
		}, nil
	case "transit":
		if code, b, err := call(ctx, cl, http.MethodPost, v1+"sys/mounts/transit", root, []byte(`{"type":"transit"}`)); err != nil || (code != http.StatusNoContent && code != http.StatusBadRequest) {
			return nil, fmt.Errorf("mount transit: %d %s %v", code, b, err)
		}
		if code, b, err := call(ctx, cl, http.MethodPost, v1+"transit/keys/loadgen", root, []byte(`{"type":"aes256-gcm96"}`)); err != nil || code/100 != 2 {
			return nil, fmt.Errorf("create transit key: %d %s %v", code, b, err)
		}
		pt := make([]byte, 64)
		rand.Read(pt)
		body, _ := json.Marshal(map[string]string{"plaintext": base64.StdEncoding.EncodeToString(pt)})
		return func(ctx context.Context, _ int) error {
			_, err := expect(ctx, cl, http.StatusOK, http.MethodPost, v1+"transit/encrypt/loadgen", root, body)
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown -op %q", cfg.op)
}

// tokenBody is the body of a token creation.
const tokenBody = `{"policies":["default"],"ttl":"1h"}`

// createToken creates a token with the default policy and returns it and
// its accessor.
func createToken(ctx context.Context, cl *http.Client, cfg *config) (string, string, error) {
	b, err := expect(ctx, cl, http.StatusOK, http.MethodPost, cfg.addr+"/v1/auth/token/create", cfg.token, []byte(tokenBody))
	if err != nil {
		return "", "", err
	}
	var r struct {
		Auth struct {
			ClientToken string `json:"client_token"`
			Accessor    string `json:"accessor"`
		} `json:"auth"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", "", err
	}
	return r.Auth.ClientToken, r.Auth.Accessor, nil
}

// createTokens creates cfg.keys tokens from cfg.c workers and returns
// their accessors.
func createTokens(ctx context.Context, cl *http.Client, cfg *config) ([]string, error) {
	accessors := make([]string, cfg.keys)
	_, err := work(ctx, cfg, func(ctx context.Context, i int) error {
		_, a, err := createToken(ctx, cl, cfg)
		accessors[i] = a
		return err
	}, func(i int) bool { return i < cfg.keys })
	return accessors, err
}

// revokeOp revokes the token of accessor i.
func revokeOp(cl *http.Client, cfg *config, accessors []string) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		body, _ := json.Marshal(map[string]string{"accessor": accessors[i]})
		_, err := expect(ctx, cl, http.StatusNoContent, http.MethodPost, cfg.addr+"/v1/auth/token/revoke-accessor", cfg.token, body)
		return err
	}
}
