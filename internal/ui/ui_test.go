package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func newTest(t *testing.T) *Handler {
	t.Helper()
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestServe(t *testing.T) {
	t.Parallel()
	h := newTest(t)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Next", "api")
		w.WriteHeader(http.StatusTeapot)
	})
	srv := h.Wrap(api)
	tests := []struct {
		name, method, path string
		status             int
		ctype, location    string
		next               bool
	}{
		{name: "index", method: "GET", path: "/ui/", status: 200, ctype: "text/html; charset=utf-8"},
		{name: "head", method: "HEAD", path: "/ui/", status: 200, ctype: "text/html; charset=utf-8"},
		{name: "script", method: "GET", path: "/ui/app.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{name: "page", method: "GET", path: "/ui/pages/registry.js", status: 200, ctype: "text/javascript; charset=utf-8"},
		{name: "css", method: "GET", path: "/ui/style.css", status: 200, ctype: "text/css; charset=utf-8"},
		{name: "svg", method: "GET", path: "/ui/icons/logo.svg", status: 200, ctype: "image/svg+xml"},
		{name: "missing", method: "GET", path: "/ui/nope.js", status: 404},
		{name: "dir", method: "GET", path: "/ui/pages", status: 404},
		{name: "dotdot", method: "GET", path: "/ui/../ui.go", status: 404},
		{name: "no slash", method: "GET", path: "/ui", status: 301, location: "/ui/"},
		{name: "post", method: "POST", path: "/ui/", status: 405},
		{name: "put", method: "PUT", path: "/ui/app.js", status: 405},
		{name: "root get", method: "GET", path: "/", status: 307, location: "/ui/"},
		{name: "root head", method: "HEAD", path: "/", status: 307, location: "/ui/"},
		{name: "root post is the API", method: "POST", path: "/", status: http.StatusTeapot, next: true},
		{name: "api", method: "GET", path: "/v1/sys/health", status: http.StatusTeapot, next: true},
		{name: "uix is the API", method: "GET", path: "/uix", status: http.StatusTeapot, next: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.URL.Path = tt.path // keep ".." as a client could send it
			srv.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			}
			if got := rec.Header().Get("X-Next") == "api"; got != tt.next {
				t.Fatalf("%s %s reached the API: %t, want %t", tt.method, tt.path, got, tt.next)
			}
			if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", rec.Header().Get("Content-Type"), tt.ctype)
			}
			if tt.location != "" && rec.Header().Get("Location") != tt.location {
				t.Errorf("Location = %q, want %q", rec.Header().Get("Location"), tt.location)
			}
			if tt.next || tt.path == "/" {
				return
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": ContentSecurityPolicy,
				"Referrer-Policy":         "no-referrer",
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD body has %d bytes, want none", rec.Body.Len())
			}
		})
	}
}

func TestCSPIsStrict(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("CSP allows %q", bad)
		}
	}
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "default-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("CSP lacks %q", want)
		}
	}
}

func TestConditionalAndGzip(t *testing.T) {
	t.Parallel()
	h := newTest(t)
	get := func(hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/ui/app.js", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	plain := get(nil)
	etag := plain.Header().Get("ETag")
	if etag == "" || plain.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q; want an ETag and no-cache", etag, plain.Header().Get("Cache-Control"))
	}
	if rec := get(map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d with %d bytes, want 304 and none", rec.Code, rec.Body.Len())
	}
	if rec := get(map[string]string{"If-None-Match": `"other"`}); rec.Code != http.StatusOK {
		t.Errorf("If-None-Match other = %d, want 200", rec.Code)
	}
	gz := get(map[string]string{"Accept-Encoding": "br, gzip"})
	if gz.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", gz.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(body, plain.Body.Bytes()) {
		t.Errorf("gunzipped body differs from the plain one (err %v)", err)
	}
	if rec := get(map[string]string{"Accept-Encoding": "gzip;q=0"}); rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 answered with Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"", false}, {"gzip", true}, {"GZIP", true}, {"deflate, gzip;q=1.0", true},
		{"gzip;q=0", false}, {"gzip; q=0", false}, {"br", false}, {"x-gzip", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.in); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %t, want %t", tt.in, got, tt.want)
		}
	}
}

func TestNewNeedsIndex(t *testing.T) {
	t.Parallel()
	if _, err := newHandler(fstest.MapFS{"app.js": {Data: []byte("x")}}); err == nil {
		t.Error("newHandler without index.html = nil error, want one")
	}
}

// staticImport matches `import ... from "./x.js"` and `import "./x.js"` at
// the start of a line: what a module loads before it runs. import() calls
// (lazy pages) do not match.
var staticImport = regexp.MustCompile(`(?m)^\s*import\s+(?:[^"'()]*?\sfrom\s+)?["']([^"']+)["']`)

// linked matches the files index.html names (scripts, styles, icons).
var linked = regexp.MustCompile(`(?:src|href)="([^"#:]+)"`)

// TestFirstLoadSize bounds what a browser fetches before the first page
// draws: index.html, what it links, and app.js with its static imports,
// each gzipped as served. Pages load later, one at a time.
func TestFirstLoadSize(t *testing.T) {
	t.Parallel()
	const limit = 150 << 10
	h := newTest(t)
	seen := map[string]bool{}
	var queue []string
	for _, m := range linked.FindAllStringSubmatch(string(h.files["index.html"].body), -1) {
		queue = append(queue, m[1])
	}
	total := 0
	add := func(p string) {
		f := h.files[p]
		if f == nil {
			t.Errorf("first load names %q, which is not an asset", p)
			return
		}
		n := len(f.body)
		if f.gz != nil {
			n = len(f.gz)
		}
		total += n
		t.Logf("%-28s %6d bytes compressed", p, n)
	}
	add("index.html")
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		p = strings.TrimPrefix(p, "./")
		if seen[p] {
			continue
		}
		seen[p] = true
		add(p)
		if strings.HasSuffix(p, ".js") && h.files[p] != nil {
			dir := p[:strings.LastIndex(p, "/")+1]
			for _, m := range staticImport.FindAllStringSubmatch(string(h.files[p].body), -1) {
				queue = append(queue, cleanJoin(dir, m[1]))
			}
		}
	}
	if !seen["app.js"] || !seen["api.js"] || !seen["pages/registry.js"] {
		t.Errorf("first load %v misses app.js, api.js or pages/registry.js: the import scan is broken", seen)
	}
	t.Logf("first load: %d bytes compressed in %d files", total, len(seen)+1)
	if total > limit {
		t.Errorf("first load is %d bytes compressed, more than %d", total, limit)
	}
}

// cleanJoin resolves a relative module specifier against dir.
func cleanJoin(dir, spec string) string {
	parts := strings.Split(dir+spec, "/")
	var out []string
	for _, p := range parts {
		switch p {
		case ".", "":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}
