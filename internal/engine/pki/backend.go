package pki

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys and prefixes; see the package comment.
const (
	configIssuersKey = "config/issuers"
	keyPrefix        = "key/"
	issuerPrefix     = "issuer/"
	rolePrefix       = "role/"
	certPrefix       = "certs/"
	revokedPrefix    = "revoked/"
	crlPrefix        = "crl/"
)

// Patterns for path captures. They keep odd characters out of storage keys.
const (
	namePattern   = `[A-Za-z0-9_][A-Za-z0-9_.-]*`
	refPattern    = `[A-Za-z0-9_-]+`
	serialPattern = `[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2})*`
)

// Defaults that Vault uses too.
const (
	// defaultNotBefore is how far back a certificate's NotBefore is set, to
	// allow for clock skew between the CA and the relying parties.
	defaultNotBefore = 30 * time.Second
	// crlLifetime is the distance from a CRL's ThisUpdate to NextUpdate.
	crlLifetime = 72 * time.Hour
	// defaultSafetyBuffer is how long tidy keeps a certificate past its
	// expiry.
	defaultSafetyBuffer = 72 * time.Hour
)

var _ logical.Invalidator = (*Backend)(nil)

// Backend is one PKI mount. It implements [logical.Backend],
// [logical.ExistenceChecker], [logical.Invalidator] and [logical.Periodic].
type Backend struct {
	framework.Backend
	storage logical.Storage
	roles   framework.Collection[role]
	clock   logical.Clock
	system  ttlView
	logger  *slog.Logger

	// mu serialises changes to keys, issuers, the issuer configuration,
	// revocations and CRLs.
	mu sync.Mutex

	cacheMu sync.Mutex              // guards gen together with stores to cache
	gen     uint64                  // guarded by cacheMu; bumped by every invalidation
	cache   atomic.Pointer[caState] // nil until loaded and after a change
}

// Factory builds a PKI backend for one mount. env.Storage is required; a
// nil Clock is the wall clock and a nil System means Vault's default TTLs
// (32 days).
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	return New(env)
}

// New is [Factory] returning the concrete type.
func New(env logical.Env) (*Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("pki: no storage")
	}
	env = env.WithDefaults()
	var system ttlView = fixedTTLs{}
	if env.System != nil {
		system = env.System
	}
	b := &Backend{storage: env.Storage, clock: env.Clock, system: system, logger: env.Logger}
	b.roles = framework.Collection[role]{Storage: env.Storage, Prefix: rolePrefix}
	b.Paths = b.paths()
	return b, b.Compile()
}

func (b *Backend) paths() []*framework.Path {
	update := logical.UpdateOperation
	read := logical.ReadOperation
	list := logical.ListOperation
	return slices.Concat([]*framework.Path{
		{
			Pattern:    `(?:root/generate|root/rotate|issuers/generate/root)/(?P<type>internal|exported)`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.generateRoot)},
			Synopsis:   "Generate a self-signed root CA and make it an issuer.",
		},
		{
			Pattern:    `root/sign-intermediate|issuer/(?P<ref>` + refPattern + `)/sign-intermediate`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.signIntermediate)},
			Synopsis:   "Sign an intermediate CA's CSR with an issuer.",
		},
		{
			Pattern:    `(?:intermediate/generate|issuers/generate/intermediate)/(?P<type>internal|exported)`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.generateIntermediate)},
			Synopsis:   "Generate a key and a CSR for an intermediate CA.",
		},
		{
			Pattern:    `intermediate/set-signed`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.setSigned)},
			Synopsis:   "Import the signed certificate of an intermediate CA.",
		},
		{
			Pattern:    `issuers/?`,
			Operations: map[logical.Operation]framework.Handler{list: b.listIssuers},
			Synopsis:   "List issuers.",
		},
		{
			Pattern: `issuer/(?P<ref>` + refPattern + `)`,
			Operations: map[logical.Operation]framework.Handler{
				read:   b.readIssuer,
				update: framework.Typed(b.writeIssuer),
			},
			Synopsis: "Read an issuer or rename it.",
		},
		{
			Pattern:    `issuer/(?P<ref>` + refPattern + `)/(?P<format>json|pem|der)`,
			Operations: map[logical.Operation]framework.Handler{read: b.readIssuerCert},
			Synopsis:   "Read an issuer's certificate.",
		},
		{
			Pattern: `config/issuers`,
			Operations: map[logical.Operation]framework.Handler{
				read:   readState(b, func(st *caState) issuersConfig { return st.config }),
				update: framework.Typed(b.writeIssuersConfig),
			},
			Synopsis: "Read or set the default issuer.",
		},
		{
			Pattern:    `root/replace`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.replaceRoot)},
			Synopsis:   "Make another issuer the default.",
		},
		{
			Pattern: `config/urls`,
			Operations: map[logical.Operation]framework.Handler{
				read:   b.readURLs,
				update: framework.Typed(b.writeURLs),
			},
			Synopsis: "Read or set the URLs put into issued certificates and CRLs.",
		},
		{
			Pattern: `config/cluster`,
			Operations: map[logical.Operation]framework.Handler{
				read:   readState(b, func(st *caState) clusterConfig { return st.cluster }),
				update: framework.Typed(b.writeCluster),
			},
			Synopsis: "Read or set this mount's address, for templated URLs.",
		},
		{
			Pattern: `config/crl`,
			Operations: map[logical.Operation]framework.Handler{
				read:   readSetting(b.loadCRLConfig),
				update: framework.Typed(b.writeCRLConfig),
			},
			Synopsis: "Read or set how CRLs are built.",
		},
		{
			Pattern: `config/auto-tidy`,
			Operations: map[logical.Operation]framework.Handler{
				read:   readSetting(b.loadAutoTidy),
				update: framework.Typed(b.writeAutoTidy),
			},
			Synopsis: "Read or set automatic tidying.",
		},
		{
			Pattern:    `ca(?P<pem>/pem)?`,
			Operations: map[logical.Operation]framework.Handler{read: b.readCA},
			Synopsis:   "The default issuer's certificate, DER or PEM.",
		},
		{
			Pattern:    `ca_chain`,
			Operations: map[logical.Operation]framework.Handler{read: b.readCAChain},
			Synopsis:   "The default issuer's chain, PEM.",
		},
		{
			Pattern:    `cert/(?P<serial>` + serialPattern + `|ca|ca_chain|crl)`,
			Operations: map[logical.Operation]framework.Handler{read: b.readCert},
			Synopsis:   "Read a certificate by serial number.",
		},
		{
			Pattern:    `certs/?`,
			Operations: map[logical.Operation]framework.Handler{list: b.listCerts},
			Synopsis:   "List the serial numbers of stored certificates.",
		},
		{
			Pattern:    `certs/revoked/?`,
			Operations: map[logical.Operation]framework.Handler{list: b.listRevoked},
			Synopsis:   "List the serial numbers of revoked certificates.",
		},
	}, b.roles.Paths(framework.CollectionPaths[role]{
		Base: "roles", Capture: "name", NamePattern: namePattern, Data: func(r *role) any { return r.data() },
		Write: framework.Typed(b.writeRole), Noun: "role",
		Operations: map[logical.Operation]framework.Handler{logical.PatchOperation: framework.Typed(b.patchRole)},
	}), []*framework.Path{
		{
			Pattern:    `issue/(?P<role>` + namePattern + `)`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.issue)},
			Synopsis:   "Generate a key and issue a certificate for it under a role.",
		},
		{
			Pattern:    `sign/(?P<role>` + namePattern + `)`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.sign)},
			Synopsis:   "Sign a CSR under a role.",
		},
		{
			Pattern:    `revoke`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.revoke)},
			Synopsis:   "Revoke a certificate by serial number.",
		},
		{
			Pattern:    `crl(?P<pem>/pem)?`,
			Operations: map[logical.Operation]framework.Handler{read: b.readCRL},
			Synopsis:   "The default issuer's CRL, DER or PEM.",
		},
		{
			Pattern:    `crl/rotate`,
			Operations: map[logical.Operation]framework.Handler{read: framework.Typed(b.rotateCRL), update: framework.Typed(b.rotateCRL)},
			Synopsis:   "Rebuild every issuer's CRL.",
		},
		{
			Pattern:    `tidy`,
			Operations: map[logical.Operation]framework.Handler{update: framework.Typed(b.tidy)},
			Synopsis:   "Remove expired certificates from storage and the CRLs.",
		},
	})
}

// Invalidate drops the cached issuers when key, a storage key of this
// mount, changed behind the backend's back (for example on another node).
// Changes made through the backend invalidate the cache themselves.
func (b *Backend) Invalidate(_ context.Context, key string) {
	if key == configIssuersKey || key == configURLsKey || key == configClusterKey || strings.HasPrefix(key, keyPrefix) || strings.HasPrefix(key, issuerPrefix) {
		b.invalidate()
	}
}

// Periodic implements [logical.Periodic]: it runs auto-tidy when
// config/auto-tidy says it is due, and rebuilds every CRL that is past
// half of its lifetime, so that relying parties never hold an expired one.
func (b *Backend) Periodic(ctx context.Context) error {
	if err := b.autoTidy(ctx); err != nil {
		return err
	}
	st, err := b.state(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	for _, iss := range st.sortedIssuers() {
		if iss.signer == nil {
			continue
		}
		c, err := b.loadCRL(ctx, iss.entry.ID)
		if err != nil {
			return err
		}
		if c == nil || now.Before(c.ThisUpdate.Add(c.NextUpdate.Sub(c.ThisUpdate)/2)) {
			continue
		}
		if _, err := b.rebuildCRLLocked(ctx, iss, nil); err != nil {
			return fmt.Errorf("rebuild crl of issuer %s: %w", iss.entry.ID, err)
		}
	}
	return nil
}

// ttlView is the part of [logical.SystemView] the engine uses.
type ttlView interface {
	DefaultLeaseTTL() time.Duration
	MaxLeaseTTL() time.Duration
}

// fixedTTLs is the TTL view used when the environment has no system view.
type fixedTTLs struct{}

func (fixedTTLs) DefaultLeaseTTL() time.Duration { return 768 * time.Hour }
func (fixedTTLs) MaxLeaseTTL() time.Duration     { return 768 * time.Hour }

// LoginPaths lists the public read-only paths that need no token, as
// Vault's PKI serves them: the CA certificate, its chain, the CRL and
// issued certificates (none of them secret).
func (b *Backend) LoginPaths() []string {
	return []string{"ca", "ca/pem", "ca_chain", "crl", "crl/pem", "cert/*"}
}
