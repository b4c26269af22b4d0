package live

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// fakeEndpoint is an httptest stand-in for sys/leaks/check (the real
// server is exercised by internal/cli's end-to-end tests). It knows the
// values in live, answers the first tooMany calls with 429, and records
// batch sizes.
type fakeEndpoint struct {
	mu      sync.Mutex
	live    map[string]Match // base64 digest -> match
	tooMany int
	// building is how many calls are answered 503 (the index still
	// building) before the 429s and answers.
	building int
	batches  []int
}

func (f *fakeEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/v1/sys/leaks/check" || r.Method != http.MethodPut && r.Method != http.MethodPost {
		http.Error(w, `{"errors":["unsupported path"]}`, http.StatusNotFound)
		return
	}
	if f.building > 0 {
		f.building--
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"errors":["the leak index is still building; try again later"]}`)
		return
	}
	if f.tooMany > 0 {
		f.tooMany--
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"errors":["rate limit exceeded"]}`)
		return
	}
	var body struct {
		Candidates []string `json:"candidates"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Candidates) == 0 || len(body.Candidates) > MaxBatch {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"errors":["bad candidates"]}`)
		return
	}
	f.batches = append(f.batches, len(body.Candidates))
	matches := []Match{}
	for i, c := range body.Candidates {
		if m, ok := f.live[c]; ok {
			m.Index = i
			matches = append(matches, m)
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"matches": matches, "checked": len(body.Candidates)}})
}

func digestB64(v string) string {
	d := sha256.Sum256([]byte(v))
	return base64.StdEncoding.EncodeToString(d[:])
}

func newClient(t *testing.T, f *fakeEndpoint) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	cfg.MaxRetries = 0
	cl, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken("test")
	var slept []time.Duration
	return &Client{API: cl, Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }}
}

func TestBatcher(t *testing.T) {
	t.Parallel()
	f := &fakeEndpoint{
		live: map[string]Match{
			digestB64("live-value-0042"): {Readable: true, Kind: "kv", Mount: "secret/", Path: "a", Key: "k", Version: 2, Current: true},
			digestB64("hidden-value-77"): {},
		},
		tooMany:  2,
		building: 2,
	}
	c := newClient(t, f)
	type place struct{ n int }
	var found []string
	b := NewBatcher(c, func(p place, m Match) { found = append(found, fmt.Sprintf("%d:%s:%v", p.n, m.Path, m.Readable)) })
	ctx := t.Context()
	for i := range 2500 {
		if err := b.Add(ctx, fmt.Appendf(nil, "value-%d", i), place{i}); err != nil {
			t.Fatal(err)
		}
		if i == 10 || i == 1500 {
			b.Add(ctx, []byte("live-value-0042"), place{i})
		}
		if i == 20 {
			b.Add(ctx, []byte("hidden-value-77"), place{i})
		}
	}
	// A repeat of a known live value is answered without a call.
	b.Add(ctx, []byte("live-value-0042"), place{9999})
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"10:a:true", "20::false", "1500:a:true", "9999:a:true"}
	if fmt.Sprint(found) != fmt.Sprint(want) {
		t.Errorf("found %v, want %v", found, want)
	}
	total := 0
	for _, n := range f.batches {
		if n > MaxBatch {
			t.Errorf("batch of %d", n)
		}
		total += n
	}
	if total != 2502 || b.Sent() != 2502 {
		t.Errorf("sent %d (Sent %d), want 2502 distinct digests once each; batches %v", total, b.Sent(), f.batches)
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	f := &fakeEndpoint{tooMany: 1000}
	c := newClient(t, f)
	c.MaxWait = 5 * time.Second
	if _, err := c.Check(t.Context(), []Digest{{1}}); err == nil {
		t.Error("Check kept answering 429: no error")
	}
	if _, err := c.Check(t.Context(), make([]Digest, MaxBatch+1)); err == nil {
		t.Error("Check of an oversized batch: no error")
	}
}
