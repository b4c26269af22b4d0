package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// pager is a fake server that answers a KV v2 mount lookup and pages of
// a recursive list or a search by their after parameter, recording the
// afters asked.
type pager struct {
	mu     sync.Mutex
	afters []string
	pages  map[string]string // after -> data JSON
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/") {
		io.WriteString(w, `{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}`)
		return
	}
	after := r.URL.Query().Get("after")
	p.mu.Lock()
	p.afters = append(p.afters, after)
	p.mu.Unlock()
	page, ok := p.pages[after]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[]}`)
		return
	}
	io.WriteString(w, `{"data":`+page+`,"warnings":["examined the most keys for one page"]}`)
}

// TestPagingFollowsNextAfter: kv list -r and kv search follow next_after
// through pages the server cut short (even empty ones) until an answer
// has none.
func TestPagingFollowsNextAfter(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		pages      map[string]string
		wantAfters []string
		wantOut    []string
	}{
		{
			name: "kv list -r",
			args: []string{"kv", "list", "-r", "secret/"},
			pages: map[string]string{
				"":       `{"keys":[],"next_after":"k/0999"}`,
				"k/0999": `{"keys":["k/1500"],"next_after":"k/1999"}`,
				"k/1999": `{"keys":["k/2500"]}`,
			},
			wantAfters: []string{"", "k/0999", "k/1999"},
			wantOut:    []string{"k/1500", "k/2500"},
		},
		{
			name: "kv list -r ending on an empty page",
			args: []string{"kv", "list", "-r", "secret/"},
			pages: map[string]string{
				"": `{"keys":["a"],"next_after":"a"}`,
			},
			wantAfters: []string{"", "a"},
			wantOut:    []string{"a"},
		},
		{
			name: "kv search",
			args: []string{"kv", "search"},
			pages: map[string]string{
				"":              `{"secrets":[],"next_after":"secret/k/0999"}`,
				"secret/k/0999": `{"secrets":[{"mount":"secret/","path":"k/1500"}],"next_after":"secret/k/1999"}`,
				"secret/k/1999": `{"secrets":[{"mount":"secret/","path":"k/2500","current_version":3}]}`,
			},
			wantAfters: []string{"", "secret/k/0999", "secret/k/1999"},
			wantOut:    []string{"secret/k/1500    -", "secret/k/2500    3"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &pager{pages: tc.pages}
			srv := httptest.NewServer(p)
			defer srv.Close()
			code, stdout, stderr := runCLI(t, map[string]string{"COFFER_ADDR": srv.URL, "COFFER_TOKEN": "t"}, "", tc.args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			if strings.Join(p.afters, ",") != strings.Join(tc.wantAfters, ",") {
				t.Errorf("afters asked = %q, want %q", p.afters, tc.wantAfters)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}
