package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/testbin"

	"github.com/hashicorp/vault/api"
)

// cofferBin is the coffer binary TestMain builds once for every test.
var cofferBin string

func TestMain(m *testing.M) { testbin.Main(m, &cofferBin) }

// rootToken is the root token of every dev server the tests start.
const rootToken = "conformance-root"

// server is a running `coffer server` process.
type server struct {
	// Addr is the base URL, such as "http://127.0.0.1:41234".
	Addr string
	// Client is an official Vault client for Addr with the root token
	// (dev servers) or no token.
	Client *api.Client
	// Stdout and Stderr collect what the process printed so far.
	Stdout, Stderr *syncBuffer

	cmd  *exec.Cmd
	done chan struct{}
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startDev starts `coffer server --dev` on a free port with the root token
// rootToken, plus extra arguments, and waits until it answers.
func startDev(t testing.TB, extra ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"server", "--dev", "--dev-root-token=" + rootToken, "--listen=" + addr}, extra...)
	s := startProcess(t, args, nil, "http://"+addr)
	s.Client.SetToken(rootToken)
	return s
}

// startProcess runs the coffer binary with args and extra environment
// variables, and waits until baseURL answers sys/health (any status) or
// the process exits. The process is killed when the test ends.
func startProcess(t testing.TB, args, env []string, baseURL string) *server {
	t.Helper()
	s := &server{Addr: baseURL, Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(cofferBin, args...)
	s.cmd.Dir = t.TempDir()
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout = s.Stdout
	s.cmd.Stderr = s.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.stop)
	if err := s.waitUp(20 * time.Second); err != nil {
		t.Fatalf("coffer %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, s.Stdout, s.Stderr)
	}
	cfg := api.DefaultConfig()
	cfg.Address = baseURL
	if strings.HasPrefix(baseURL, "https:") {
		if err := cfg.ConfigureTLS(&api.TLSConfig{Insecure: true}); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.ClearToken()
	s.Client = cl
	return s
}

func (s *server) waitUp(limit time.Duration) error {
	hc := insecureHTTPClient()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("the server exited")
		default:
		}
		resp, err := hc.Get(s.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("no answer in time")
}

// stop ends the process with SIGTERM, then SIGKILL if it lingers.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// runCoffer runs the coffer binary to completion with args and extra
// environment and returns its exit code, stdout and stderr.
func runCoffer(t testing.TB, stdin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cofferBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatalf("coffer %s: %v", strings.Join(args, " "), err)
		return -1, "", ""
	}
}

func insecureHTTPClient() *http.Client {
	cfg := api.DefaultConfig()
	if err := cfg.ConfigureTLS(&api.TLSConfig{Insecure: true}); err != nil {
		panic(err)
	}
	return cfg.HttpClient
}

// rawResponse is an HTTP answer read whole.
type rawResponse struct {
	Status int
	Header http.Header
	Body   string
}

// raw sends one HTTP request to s with token (none when empty) and body
// (none when empty) and reads the whole answer.
func (s *server) raw(t testing.TB, method, path, token, body string, header ...string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.Addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := insecureHTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// statusCode is the HTTP status of an error the Vault client returned, or
// 0 when err is not a response error.
func statusCode(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// wantError checks that err is a response error with status and that one
// of its messages contains words.
func wantError(t testing.TB, what string, err error, status int, words string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %d %q", what, status, words)
	}
	if got := statusCode(err); got != status {
		t.Fatalf("%s: status %d, want %d (%v)", what, got, status, err)
	}
	if !strings.Contains(err.Error(), words) {
		t.Fatalf("%s: error %q does not contain %q", what, err, words)
	}
}

// devUnsealKey returns the unseal key a dev server printed. The server
// may answer sys/health before its banner has been copied from the pipe
// into Stdout, so it waits for the line (up to a minute: only a server
// that never prints it fails the test).
func (s *server) devUnsealKey(t testing.TB) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*Unseal Key:\s+(\S+)`)
	deadline := time.Now().Add(time.Minute)
	for {
		if m := re.FindStringSubmatch(s.Stdout.String() + "\n" + s.Stderr.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dev server printed no unseal key:\nstdout:\n%s\nstderr:\n%s", s.Stdout, s.Stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
