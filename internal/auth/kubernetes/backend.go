package kubernetes

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys; see the package comment.
const (
	configKey  = "config"
	rolePrefix = "role/"
)

// defaultLocalDir is where a pod finds its service account's CA
// certificate ("ca.crt") and token ("token").
const defaultLocalDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// reviewTimeout bounds one TokenReview call.
const reviewTimeout = 15 * time.Second

// backend is one Kubernetes auth mount.
type backend struct {
	framework.Backend
	storage logical.Storage
	logger  *slog.Logger
	// localDir is where the local CA certificate and token are read from
	// when disable_local_ca_jwt is false; tests point it elsewhere.
	localDir string

	rolesMu sync.Mutex // serialises role read-modify-writes
	roles   framework.Collection[role]

	clientMu  sync.Mutex
	client    *http.Client      // guarded by clientMu: trusts the CA whose digest is clientFor
	clientFor [sha256.Size]byte // guarded by clientMu
}

// Factory builds a Kubernetes auth backend for one mount. It does no I/O.
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("kubernetes: no storage")
	}
	env = env.WithDefaults()
	b := &backend{storage: env.Storage, logger: env.Logger, localDir: defaultLocalDir}
	b.roles = framework.Collection[role]{Storage: env.Storage, Prefix: rolePrefix, Lock: b.roleLock}
	b.Paths = slices.Concat([]*framework.Path{
		{
			Pattern: `config`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readConfig,
				logical.UpdateOperation: framework.Typed(b.writeConfig),
			},
			Synopsis: "Configure how to reach the cluster's TokenReview API.",
		},
	}, b.roles.Paths(framework.CollectionPaths[role]{
		Base: "role", Capture: "name", Name: roleName, Data: (*role).response,
		Write: framework.Typed(b.writeRole), Noun: "role",
	}), []*framework.Path{
		{
			Pattern: `login`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with a Kubernetes service account token.",
		},
	})
	return b, b.Compile()
}

// LoginPaths implements [logical.LoginPaths]: logging in needs no token.
func (b *backend) LoginPaths() []string {
	return []string{"login"}
}

// Cleanup implements [logical.Cleaner]: it closes idle connections to the
// cluster.
func (b *backend) Cleanup(context.Context) {
	b.clientMu.Lock()
	defer b.clientMu.Unlock()
	if b.client != nil {
		b.client.CloseIdleConnections()
	}
	b.client = nil
}

// httpClient returns a client trusting caPEM (the system roots when it is
// empty), reusing the last one made for the same CA.
func (b *backend) httpClient(caPEM string) (*http.Client, error) {
	sum := sha256.Sum256([]byte(caPEM))
	b.clientMu.Lock()
	defer b.clientMu.Unlock()
	if b.client != nil && b.clientFor == sum {
		return b.client, nil
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("the CA certificate holds no PEM certificate")
		}
		tlsConf.RootCAs = pool
	}
	if b.client != nil {
		b.client.CloseIdleConnections()
	}
	b.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			TLSClientConfig:       tlsConf,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		},
		Timeout: reviewTimeout,
		// The TokenReview API never redirects; following one would send
		// the bearer token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	b.clientFor = sum
	return b.client, nil
}

// roleLock returns the mutex of every role: role writes are rare.
func (b *backend) roleLock(string) sync.Locker { return &b.rolesMu }

// roleName returns the lowercased, validated role name captured from the
// path: letters, digits, "_", "-" and ".", not "." or "..".
func roleName(m *framework.Match) (string, error) {
	return framework.Name("role", m.Get("name"))
}

// anyGlob reports whether s matches one of patterns.
func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if framework.GlobMatch(p, s) {
			return true
		}
	}
	return false
}

// trimmed returns list with each entry trimmed and empty entries dropped.
func trimmed(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
