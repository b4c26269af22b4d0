// Package ui serves Coffer's web UI: static files embedded with go:embed
// (plain ES modules and CSS, no build step) at /ui/. The UI is a client of
// the Vault HTTP API on the same origin like any other; this package holds
// no state and talks to nothing. It imports only the standard library.
//
// Every answer carries a strict Content-Security-Policy (scripts and
// styles from the same origin only, no inline script, no eval, no framing)
// and Referrer-Policy: no-referrer, so a token or secret cannot leak
// through a referrer, a framed page or injected markup. Files are
// compressed once at start and revalidated with an ETag on every load.
//
// A [Handler] is safe for concurrent use.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assets embed.FS

// Prefix is the URL path the UI is served under.
const Prefix = "/ui/"

// ContentSecurityPolicy is the policy sent with every UI answer. Scripts,
// styles, images and fonts come from the UI's own origin, fetch and
// WebSocket only to it; nothing inline, no eval, never framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one embedded asset, ready to serve.
type file struct {
	body  []byte
	gz    []byte // gzip of body; nil when it would not be smaller
	ctype string
	etag  string
}

// Handler serves the embedded UI. Build it with [New].
type Handler struct {
	files map[string]*file // by path below assets/, "index.html" for the root
}

// New returns a handler for the embedded UI, to be mounted so that it
// sees request paths starting with [Prefix] (and "/ui" itself, which it
// redirects). It fails only if the embedded files cannot be read, which
// is a build error.
func New() (*Handler, error) {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("ui assets: %w", err)
	}
	return newHandler(sub)
}

func newHandler(fsys fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]*file{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		f := &file{body: body, ctype: contentType(p)}
		sum := sha256.Sum256(body)
		f.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
		if compressible(f.ctype) {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			if b.Len() < len(body) {
				f.gz = b.Bytes()
			}
		}
		h.files[p] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui assets: %w", err)
	}
	if h.files["index.html"] == nil {
		return nil, fmt.Errorf("ui assets: no index.html")
	}
	return h, nil
}

// contentType is the media type of an asset, by its extension.
func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".webmanifest":
		return "application/json"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || ctype == "image/svg+xml" || ctype == "application/json"
}

// ServeHTTP answers GET and HEAD for the UI's files: "/ui" redirects to
// "/ui/", "/ui/" is index.html, any other path below is the asset of
// that name or 404 (the UI routes with the URL fragment, so no other path
// needs the page). Other methods get 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	f := h.files[name]
	if f == nil || strings.Contains(name, "..") {
		hd.Set("Cache-Control", "no-store")
		http.NotFound(w, r)
		return
	}
	// The files have no hashed names: the browser keeps them and asks
	// again each time, and an unchanged file costs a 304.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	hd.Set("Vary", "Accept-Encoding")
	hd.Set("Content-Type", f.ctype)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = f.gz
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// etagMatch reports whether an If-None-Match header names etag (or is *).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// Wrap wraps next so that a browser's GET or HEAD of "/" is sent to
// the UI, and "/ui" and every path below [Prefix] is served by h; every
// other request (POST / included) goes to next unchanged.
func (h *Handler) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, Prefix, http.StatusTemporaryRedirect)
		case p == "/ui" || strings.HasPrefix(p, Prefix):
			h.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
