package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// bodyServer serves readBody of a handler with opts on a real HTTP server:
// it answers the body's length, or the error as the API would. A request
// with an X-Hold header, once its body is read (and its share of the budget
// taken), is sent on held and then waits for hold to close.
func bodyServer(t *testing.T, opts Options, hold <-chan struct{}, held chan<- struct{}) *httptest.Server {
	t.Helper()
	h := New(opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, release, err := h.readBody(w, r)
		defer release()
		if err != nil {
			h.writeError(w, r, "req", err)
			return
		}
		if hold != nil && r.Header.Get("X-Hold") != "" {
			held <- struct{}{}
			<-hold
		}
		fmt.Fprintf(w, "%d", len(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBodyBudget(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	held := make(chan struct{}, 1)
	srv := bodyServer(t, Options{Budget: NewBudget(100)}, hold, held)
	body := `{"v":"` + strings.Repeat("a", 60) + `"}`
	first := make(chan *http.Response, 1)
	firstErr := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		req.Header.Set("X-Hold", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			firstErr <- err
			return
		}
		resp.Body.Close()
		first <- resp
	}()
	// Wait until the first body holds its share of the budget: nothing
	// else is sent before, so nothing can take that share first.
	select {
	case <-held:
	case err := <-firstErr:
		t.Fatal(err)
	case resp := <-first:
		t.Fatalf("the held request was answered %d before it held its body", resp.StatusCode)
	}
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"over the budget while another body is held", body, http.StatusServiceUnavailable},
		{"small enough for what is left", `{"v":"b"}`, http.StatusOK},
	}
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(tests[0].body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a second body over the budget = %d, want 503", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got == "" {
		t.Errorf("503 without Retry-After")
	}
	for _, tt := range tests[1:] {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	close(hold)
	select {
	case err := <-firstErr:
		t.Fatal(err)
	case resp := <-first:
		if resp.StatusCode != http.StatusOK {
			t.Errorf("held request: status = %d, want 200", resp.StatusCode)
		}
	}
	// Released: the same body fits again.
	resp, err = http.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after release: status = %d, want 200", resp.StatusCode)
	}
}

func TestSlowBodyCut(t *testing.T) {
	t.Parallel()
	srv := bodyServer(t, Options{BodyGrace: 200 * time.Millisecond, BodyMinRate: 1000}, nil, nil)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body: status %d, want 408", resp.StatusCode)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stalled body cut after %s, want about the grace period", d)
	}
}

// TestReadBodyWhole reads JSON bodies of known and unknown length, small
// and larger than one read, and checks they arrive whole.
func TestReadBodyWhole(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	for _, tc := range []struct {
		name    string
		size    int
		chunked bool
	}{
		{"empty-chunked", 0, true},
		{"small", 200, false},
		{"small-chunked", 200, true},
		{"large", 300 << 10, false},
		{"large-chunked", 300 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := ""
			if tc.size > 0 {
				want = `{"v":"` + strings.Repeat("0123456789abcdef", tc.size/16+1)[:tc.size-8] + `"}`
			}
			var rd io.Reader = strings.NewReader(want)
			if tc.chunked {
				rd = io.MultiReader(rd) // hides the length
			}
			r := httptest.NewRequest("POST", "/v1/x", rd)
			if tc.chunked {
				r.ContentLength = -1
			}
			body, release, err := h.readBody(httptest.NewRecorder(), r)
			defer release()
			if err != nil || string(body) != want {
				t.Fatalf("readBody = %d bytes, %v; want %d bytes", len(body), err, len(want))
			}
		})
	}
}

// BenchmarkReadBody reads a 200-byte request body, as a KV write or a
// login sends, with and without a Content-Length.
func BenchmarkReadBody(b *testing.B) {
	h := New(Options{})
	payload := `{"v":"` + strings.Repeat("x", 192) + `"}`
	for _, chunked := range []bool{false, true} {
		b.Run(fmt.Sprintf("chunked=%v", chunked), func(b *testing.B) {
			b.ReportAllocs()
			w := httptest.NewRecorder()
			for b.Loop() {
				r := httptest.NewRequest("POST", "/v1/x", strings.NewReader(payload))
				if chunked {
					r.ContentLength = -1
				}
				body, release, err := h.readBody(w, r)
				if err != nil || len(body) != len(payload) {
					b.Fatalf("readBody = %d bytes, %v", len(body), err)
				}
				release()
			}
		})
	}
}
