package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// keyEntry is a stored private key.
type keyEntry struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Type  string `json:"type"`
	PKCS8 []byte `json:"pkcs8"`
}

// issuerEntry is a stored issuer: a CA certificate and the ID of its key.
type issuerEntry struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	KeyID string `json:"key_id,omitempty"`
	// Cert is the issuer's certificate, DER.
	Cert []byte `json:"cert"`
	// Chain holds the certificates above Cert, nearest first, as imported
	// with it; empty for a root or when the parents were not given.
	Chain [][]byte `json:"chain,omitempty"`
	// URLs, when it holds any URL, replaces the mount's config/urls for
	// what this issuer signs.
	URLs *aiaURLs `json:"urls,omitempty"`
}

// issuersConfig is the entry at config/issuers.
type issuersConfig struct {
	Default              string `json:"default"`
	DefaultFollowsLatest bool   `json:"default_follows_latest_issuer"`
}

// caKey is a loaded key.
type caKey struct {
	entry  keyEntry
	signer crypto.Signer
}

// issuer is a loaded issuer, ready to sign.
type issuer struct {
	entry issuerEntry
	cert  *x509.Certificate
	// signer is nil when the mount does not hold the issuer's key.
	signer crypto.Signer
	// chain is cert followed by its parents as far as they are known.
	chain []*x509.Certificate
	// chainPEM is chain rendered as PEM (without trailing newlines), made
	// once so that issuance does not re-encode the issuer every time.
	chainPEM []string
}

// caState is an immutable snapshot of the mount's keys and issuers.
type caState struct {
	keys    map[string]*caKey
	issuers map[string]*issuer
	names   map[string]string // issuer name -> ID
	config  issuersConfig
	urls    aiaURLs       // config/urls
	cluster clusterConfig // config/cluster
}

// state returns the current snapshot, loading it from storage when the
// cache is empty.
func (b *Backend) state(ctx context.Context) (*caState, error) {
	if s := b.cache.Load(); s != nil {
		return s, nil
	}
	b.cacheMu.Lock()
	gen := b.gen
	b.cacheMu.Unlock()
	s, err := b.loadState(ctx)
	if err != nil {
		return nil, err
	}
	b.cacheMu.Lock()
	if b.gen == gen { // nothing changed while loading
		b.cache.Store(s)
	}
	b.cacheMu.Unlock()
	return s, nil
}

// invalidate empties the cache; writers call it after changing storage.
func (b *Backend) invalidate() {
	b.cacheMu.Lock()
	b.gen++
	b.cache.Store(nil)
	b.cacheMu.Unlock()
}

func (b *Backend) loadState(ctx context.Context) (*caState, error) {
	s := &caState{keys: map[string]*caKey{}, issuers: map[string]*issuer{}, names: map[string]string{}}
	if _, err := framework.GetJSON(ctx, b.storage, configIssuersKey, &s.config); err != nil {
		return nil, err
	}
	if _, err := framework.GetJSON(ctx, b.storage, configURLsKey, &s.urls); err != nil {
		return nil, err
	}
	if _, err := framework.GetJSON(ctx, b.storage, configClusterKey, &s.cluster); err != nil {
		return nil, err
	}
	keyIDs, err := b.storage.List(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	for _, id := range keyIDs {
		var e keyEntry
		if found, err := framework.GetJSON(ctx, b.storage, keyPrefix+id, &e); err != nil || !found {
			if err != nil {
				return nil, err
			}
			continue
		}
		signer, err := parseSigner(e.PKCS8)
		if err != nil {
			return nil, fmt.Errorf("load key %s: %w", id, err)
		}
		s.keys[e.ID] = &caKey{entry: e, signer: signer}
	}
	issuerIDs, err := b.storage.List(ctx, issuerPrefix)
	if err != nil {
		return nil, fmt.Errorf("list issuers: %w", err)
	}
	for _, id := range issuerIDs {
		var e issuerEntry
		if found, err := framework.GetJSON(ctx, b.storage, issuerPrefix+id, &e); err != nil || !found {
			if err != nil {
				return nil, err
			}
			continue
		}
		cert, err := x509.ParseCertificate(e.Cert)
		if err != nil {
			return nil, fmt.Errorf("load issuer %s: %w", id, err)
		}
		iss := &issuer{entry: e, cert: cert, chain: []*x509.Certificate{cert}}
		for _, der := range e.Chain {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("load chain of issuer %s: %w", id, err)
			}
			iss.chain = append(iss.chain, c)
		}
		if k := s.keys[e.KeyID]; k != nil {
			iss.signer = k.signer
		}
		s.issuers[e.ID] = iss
		if e.Name != "" {
			s.names[e.Name] = e.ID
		}
	}
	for _, iss := range s.issuers {
		if len(iss.entry.Chain) == 0 {
			iss.chain = s.findParents(iss.cert)
		}
		for _, c := range iss.chain {
			iss.chainPEM = append(iss.chainPEM, encodeCert(formatPEM, c.Raw))
		}
	}
	return s, nil
}

// findParents returns cert followed by the chain of issuers in the mount
// that signed it, up to a self-signed one or one whose parent is unknown.
func (s *caState) findParents(cert *x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{cert}
	for cur := cert; len(chain) < 10 && !isSelfSigned(cur); {
		var parent *x509.Certificate
		for _, p := range s.sortedIssuers() {
			if bytes.Equal(p.cert.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(p.cert) == nil {
				parent = p.cert
				break
			}
		}
		if parent == nil {
			break
		}
		chain = append(chain, parent)
		cur = parent
	}
	return chain
}

// isSelfSigned reports whether c names itself as issuer and its signature
// checks with its own key.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// sortedIssuers returns the issuers ordered by ID, for stable output.
func (s *caState) sortedIssuers() []*issuer {
	out := make([]*issuer, 0, len(s.issuers))
	for _, iss := range s.issuers {
		out = append(out, iss)
	}
	slices.SortFunc(out, func(a, b *issuer) int { return strings.Compare(a.entry.ID, b.entry.ID) })
	return out
}

// resolve finds an issuer by reference: "default" (or ""), an issuer ID or
// an issuer name. It returns nil when there is none.
func (s *caState) resolve(ref string) *issuer {
	if ref == "" || ref == "default" {
		return s.issuers[s.config.Default]
	}
	if iss := s.issuers[ref]; iss != nil {
		return iss
	}
	return s.issuers[s.names[ref]]
}

// signingIssuer resolves ref to an issuer that can sign, or returns an
// ErrInvalidRequest error saying why there is none.
func (s *caState) signingIssuer(ref string) (*issuer, error) {
	iss := s.resolve(ref)
	switch {
	case iss == nil && (ref == "" || ref == "default"):
		return nil, logical.InvalidRequest("no default issuer: generate a root or import a signed intermediate first")
	case iss == nil:
		return nil, logical.InvalidRequest("unknown issuer %q", ref)
	case iss.signer == nil:
		return nil, logical.InvalidRequest("issuer %s has no private key in this mount", iss.entry.ID)
	}
	return iss, nil
}
