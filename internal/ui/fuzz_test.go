package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHeaders feeds the two request headers the handler parses
// (Accept-Encoding, If-None-Match) and any path: no panic, and the
// answer is always one of the handler's own with its security headers.
func FuzzHeaders(f *testing.F) {
	for _, s := range [][3]string{
		{"gzip", `"x"`, "/ui/"},
		{"gzip;q=0, br", "*", "/ui/app.js"},
		{"", `W/"a", "b"`, "/ui/../x"},
		{"GZIP ; q=0.000", ",,,", "/ui/pages/"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	h, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, enc, match, path string) {
		acceptsGzip(enc)
		etagMatch(match, `"e"`)
		req := httptest.NewRequest("GET", "/ui/", nil)
		req.URL.Path = path
		req.Header.Set("Accept-Encoding", enc)
		req.Header.Set("If-None-Match", match)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNotModified, http.StatusNotFound, http.StatusMovedPermanently:
		default:
			t.Fatalf("GET %q = %d", path, rec.Code)
		}
		if rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
			t.Fatalf("GET %q has no CSP", path)
		}
		if rec.Code == http.StatusOK && !strings.HasPrefix(path, Prefix) {
			t.Fatalf("GET %q outside %s answered 200", path, Prefix)
		}
	})
}

// BenchmarkServe measures serving app.js gzipped (the common case) and
// a 304 revalidation.
func BenchmarkServe(b *testing.B) {
	h, err := New()
	if err != nil {
		b.Fatal(err)
	}
	etag := h.files["app.js"].etag
	for _, bc := range []struct{ name, header, value string }{
		{"gzip", "Accept-Encoding", "gzip, deflate, br"},
		{"not-modified", "If-None-Match", etag},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/ui/app.js", nil)
			req.Header.Set(bc.header, bc.value)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
			}
		})
	}
}
