package cert

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// loginInput is the body of login: an optional entry name to try alone.
type loginInput struct {
	Name string `json:"name"`
}

// errNoCertificate answers a login without a client certificate.
func errNoCertificate() error {
	return logical.InvalidRequest("client certificate must be supplied")
}

// Vault's answers to a refused certificate: one no entry trusts, and one
// whose chain an entry trusts but whose constraints fail.
const (
	msgUntrusted = "invalid certificate or no client certificate supplied"
	msgUnmet     = "no chain matching all constraints could be found for this login certificate"
)

// errUnmet marks the cause of a refusal by an entry that trusts the
// client's chain: a revoked certificate, a constraint the certificate does
// not meet, or a client address outside token_bound_cidrs.
var errUnmet = errors.New("trusted chain")

// refused is the answer to a refused login, [logical.ErrInvalidCredentials]
// (HTTP 400, as in Vault) with one of Vault's two messages; cause is for
// the server log only.
func refused(cause error) error {
	msg := msgUntrusted
	if errors.Is(cause, errUnmet) {
		msg = msgUnmet
	}
	return logical.InvalidCredentials(msg, cause)
}

// login authenticates the client certificate of the connection: see the
// package comment for the rules.
func (b *backend) login(ctx context.Context, req *logical.Request, _ *framework.Match, in *loginInput) (*logical.Response, error) {
	conn := req.Connection
	if conn == nil || conn.TLS == nil || len(conn.TLS.PeerCertificates) == 0 || conn.TLS.PeerCertificates[0] == nil {
		return nil, errNoCertificate()
	}
	var only string
	if in.Name != "" {
		var err error
		if only, err = checkName(in.Name); err != nil {
			return nil, err
		}
	}
	cfg, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	crls, err := b.loadCRLs(ctx)
	if err != nil {
		return nil, err
	}
	entries, err := b.loadEntries(ctx, only)
	if err != nil {
		return nil, err
	}

	peers := conn.TLS.PeerCertificates
	leaf := peers[0]
	if !hasClientEKU(leaf) {
		return nil, refused(errors.New("client certificate has no client authentication extended key usage"))
	}
	inter := x509.NewCertPool()
	for _, c := range peers[1:] {
		if c != nil {
			inter.AddCert(c)
		}
	}
	v := verifier{leaf: leaf, inter: inter, names: chainNames(peers), crls: crls, now: b.clock.Now(), ip: conn.RemoteIP()}
	if len(entries) == 0 {
		return nil, refused(errors.New("no certificate entry to try"))
	}
	causes := make([]error, 0, len(entries))
	for _, t := range entries {
		if err := v.check(t); err != nil {
			causes = append(causes, fmt.Errorf("entry %q: %w", t.name, err))
			continue
		}
		return &logical.Response{Auth: authFor(t, leaf, cfg)}, nil
	}
	return nil, refused(errors.Join(causes...))
}

// authFor builds the login result of leaf accepted by t.
func authFor(t *trustEntry, leaf *x509.Certificate, cfg config) *logical.Auth {
	md := map[string]string{
		"cert_name":        t.name,
		"common_name":      leaf.Subject.CommonName,
		"serial_number":    leaf.SerialNumber.String(),
		"subject_key_id":   hexColons(leaf.SubjectKeyId),
		"authority_key_id": hexColons(leaf.AuthorityKeyId),
	}
	alias := &logical.Alias{Name: leaf.Subject.CommonName}
	if alias.Name == "" {
		alias.Name = leaf.SerialNumber.String()
	}
	if cfg.EnableIdentityAliasMetadata {
		alias.Metadata = maps.Clone(md)
	}
	a := &logical.Auth{DisplayName: t.DisplayName, Metadata: md, Alias: alias}
	t.Token.PopulateAuth(a)
	return a
}

// verifier checks one client certificate against trust entries.
type verifier struct {
	leaf  *x509.Certificate
	inter *x509.CertPool  // the other certificates the client presented
	names map[string]bool // see chainNames
	crls  []serialSet
	now   time.Time
	ip    net.IP
}

// check reports why t does not accept the client certificate, or nil when
// it does. Once t trusts the chain, the reason is marked with errUnmet.
func (v *verifier) check(t *trustEntry) error {
	chains, err := v.chains(t)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(chains, v.unrevoked) {
		return fmt.Errorf("%w: every chain holds a revoked certificate", errUnmet)
	}
	if err := meetsConstraints(&t.certEntry, v.leaf); err != nil {
		return fmt.Errorf("%w: %w", errUnmet, err)
	}
	if !framework.CIDRsAllow(t.Token.BoundCIDRs, v.ip) {
		return fmt.Errorf("%w: client address outside token_bound_cidrs", errUnmet)
	}
	return nil
}

// chains verifies the client certificate against t: as exactly one of its
// pinned certificates, or else as issued under one of its CA
// certificates.
func (v *verifier) chains(t *trustEntry) ([][]*x509.Certificate, error) {
	opts := x509.VerifyOptions{
		Intermediates: v.inter,
		CurrentTime:   v.now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	switch {
	case t.pinnedPool != nil && slices.ContainsFunc(t.pinned, v.leaf.Equal):
		// The pool holds the leaf itself, so Verify checks only its
		// validity period and key usage, and never builds a chain through
		// another pinned certificate.
		opts.Roots = t.pinnedPool
	case t.roots != nil && v.mayChainTo(t):
		opts.Roots = t.roots
	default:
		return nil, errors.New("unknown authority: not issued by a CA of the entry and not one of its pinned certificates")
	}
	chains, err := v.leaf.Verify(opts)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	return chains, nil
}

// chainNames returns the raw issuer names of the presented certificates
// and the raw subject of the first. A chain can end at a trust anchor only
// if the anchor's subject is one of these: crypto/x509 looks for a parent
// by its subject equalling the child's issuer, and every child in a chain
// is a presented certificate (or the anchor is the client certificate
// itself).
func chainNames(peers []*x509.Certificate) map[string]bool {
	names := map[string]bool{string(peers[0].RawSubject): true}
	for _, c := range peers {
		if c != nil {
			names[string(c.RawIssuer)] = true
		}
	}
	return names
}

// mayChainTo reports whether some CA of t could anchor a chain of the
// presented certificates, so that entries that cannot are skipped without
// paying for signature checks.
func (v *verifier) mayChainTo(t *trustEntry) bool {
	for name := range v.names {
		if t.caSubjects[name] {
			return true
		}
	}
	return false
}

// unrevoked reports whether no certificate of chain is in a CRL.
func (v *verifier) unrevoked(chain []*x509.Certificate) bool {
	for _, c := range chain {
		if revokedIn(v.crls, c.SerialNumber) {
			return false
		}
	}
	return true
}

// hasClientEKU reports whether c names client authentication, or any
// usage, in its extended key usage extension.
func hasClientEKU(c *x509.Certificate) bool {
	return slices.ContainsFunc(c.ExtKeyUsage, func(u x509.ExtKeyUsage) bool {
		return u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny
	})
}

// meetsConstraints checks leaf against the allowed_* lists of e; an empty
// list allows everything.
func meetsConstraints(e *certEntry, leaf *x509.Certificate) error {
	uris := make([]string, 0, len(leaf.URIs))
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	checks := []struct {
		field    string
		patterns []string
		ok       func() bool
	}{
		{"allowed_names", e.AllowedNames, func() bool {
			return anyMatch(e.AllowedNames, []string{leaf.Subject.CommonName}, false) ||
				anyMatch(e.AllowedNames, leaf.DNSNames, true) ||
				anyMatch(e.AllowedNames, leaf.EmailAddresses, false)
		}},
		{"allowed_common_names", e.AllowedCommonNames, func() bool {
			return anyMatch(e.AllowedCommonNames, []string{leaf.Subject.CommonName}, false)
		}},
		{"allowed_dns_sans", e.AllowedDNSSANs, func() bool { return anyMatch(e.AllowedDNSSANs, leaf.DNSNames, true) }},
		{"allowed_email_sans", e.AllowedEmailSANs, func() bool { return anyMatch(e.AllowedEmailSANs, leaf.EmailAddresses, false) }},
		{"allowed_uri_sans", e.AllowedURISANs, func() bool { return anyMatch(e.AllowedURISANs, uris, false) }},
		{"allowed_organizational_units", e.AllowedOUs, func() bool {
			return anyMatch(e.AllowedOUs, leaf.Subject.OrganizationalUnit, false)
		}},
	}
	for _, c := range checks {
		if len(c.patterns) > 0 && !c.ok() {
			return fmt.Errorf("no name matches %s", c.field)
		}
	}
	return nil
}

// hexColons formats b as lowercase hex bytes separated by colons.
func hexColons(b []byte) string {
	parts := make([]string, len(b))
	for i := range b {
		parts[i] = hex.EncodeToString(b[i : i+1])
	}
	return strings.Join(parts, ":")
}

// loadCRLs returns the CRLs in storage as serial sets.
func (b *backend) loadCRLs(ctx context.Context) ([]serialSet, error) {
	names, err := b.storage.List(ctx, crlPrefix)
	if err != nil {
		return nil, fmt.Errorf("list crls: %w", err)
	}
	keep := make(map[string]bool, len(names))
	out := make([]serialSet, 0, len(names))
	for _, n := range names {
		key := crlPrefix + n
		e, err := b.storage.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		if e == nil {
			continue // deleted since the list
		}
		set, err := b.crls.load(key, e.Value, parseStoredCRL)
		if err != nil {
			// A CRL that cannot be read must not let revoked
			// certificates in: fail the login.
			return nil, fmt.Errorf("load %s: %w", key, err)
		}
		keep[key] = true
		out = append(out, set)
	}
	b.crls.retain(keep)
	return out, nil
}

// loadEntries returns the entry named only or, when only is "", every
// entry in name order. An entry that does not parse is logged and skipped.
func (b *backend) loadEntries(ctx context.Context, only string) ([]*trustEntry, error) {
	names := []string{only}
	if only == "" {
		var err error
		if names, err = b.storage.List(ctx, certPrefix); err != nil {
			return nil, fmt.Errorf("list certificate entries: %w", err)
		}
	}
	keep := make(map[string]bool, len(names))
	out := make([]*trustEntry, 0, len(names))
	for _, n := range names {
		key := certPrefix + n
		e, err := b.storage.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		if e == nil {
			continue
		}
		t, err := b.certs.load(key, e.Value, func(raw []byte) (*trustEntry, error) { return parseTrustEntry(n, raw) })
		if err != nil {
			b.logger.Error("skipping unreadable certificate entry", "entry", n, "error", err)
			continue
		}
		keep[key] = true
		out = append(out, t)
	}
	if only == "" {
		b.certs.retain(keep)
	}
	return out, nil
}
