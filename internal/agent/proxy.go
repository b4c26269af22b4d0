package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// proxy forwards API requests to the server, adding the agent's token to
// requests without one when useToken is set, and caches GET responses
// that carry a lease until the lease ends, so that many local clients
// asking for the same dynamic secret share one lease.
type proxy struct {
	rp       *httputil.ReverseProxy
	state    *tokenState
	useToken bool
	logger   *slog.Logger

	mu    sync.Mutex
	cache map[[32]byte]cached // guarded by mu; keyed by method, URI and token hash
}

// cached is one cached response.
type cached struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// maxCachedBody bounds the size of a cached response.
const maxCachedBody = 1 << 20

func newProxy(target *url.URL, transport http.RoundTripper, state *tokenState, useToken bool, logger *slog.Logger) *proxy {
	p := &proxy{state: state, useToken: useToken, logger: logger, cache: make(map[[32]byte]cached)}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport:      transport,
		ModifyResponse: p.store,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Warn("proxy: server unreachable", "path", r.URL.Path, "error", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"errors":["agent: the server is unreachable"]}`)
		},
	}
	return p
}

// cacheKey is derived from the token's hash so the cache holds no token.
func cacheKey(r *http.Request) [32]byte {
	return sha256.Sum256([]byte(r.Method + "\x00" + r.URL.RequestURI() + "\x00" + r.Header.Get("X-Vault-Token")))
}

// ServeHTTP implements http.Handler.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.useToken && r.Header.Get("X-Vault-Token") == "" && r.Header.Get("Authorization") == "" {
		if tok := p.state.get(); tok != "" {
			r.Header.Set("X-Vault-Token", tok)
		}
	}
	if r.Method == http.MethodGet {
		key := cacheKey(r)
		p.mu.Lock()
		c, ok := p.cache[key]
		if ok && time.Now().After(c.expires) {
			delete(p.cache, key)
			ok = false
		}
		p.mu.Unlock()
		if ok {
			for k, v := range c.header {
				w.Header()[k] = v
			}
			w.Header().Set("X-Cache", "HIT")
			w.WriteHeader(c.status)
			w.Write(c.body)
			return
		}
	}
	p.rp.ServeHTTP(w, r)
}

// store caches a successful GET response that carries a lease.
func (p *proxy) store(resp *http.Response) error {
	if resp.Request.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return nil
	}
	if n, err := strconv.Atoi(resp.Header.Get("Content-Length")); err == nil && n > maxCachedBody {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if len(body) > maxCachedBody {
		return nil
	}
	var env struct {
		LeaseID       string `json:"lease_id"`
		LeaseDuration int    `json:"lease_duration"`
	}
	if json.Unmarshal(body, &env) != nil || env.LeaseID == "" || env.LeaseDuration <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for k, c := range p.cache {
		if now.After(c.expires) {
			delete(p.cache, k)
		}
	}
	p.cache[cacheKey(resp.Request)] = cached{
		status: resp.StatusCode, header: resp.Header.Clone(), body: body,
		expires: now.Add(time.Duration(env.LeaseDuration) * time.Second),
	}
	return nil
}
