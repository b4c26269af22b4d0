package cert

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// maxPEMBytes bounds a certificate or CRL upload.
const maxPEMBytes = 1 << 20

// maxPatterns bounds each allowed_* list, and maxPatternBytes each
// pattern, so that matching stays cheap.
const (
	maxPatterns     = 256
	maxPatternBytes = 1024
)

// certEntry is one stored trusted certificate entry.
type certEntry struct {
	// Certificate is the PEM as uploaded (one or more CERTIFICATE blocks).
	Certificate        string                `json:"certificate"`
	DisplayName        string                `json:"display_name"`
	AllowedNames       []string              `json:"allowed_names,omitempty"`
	AllowedCommonNames []string              `json:"allowed_common_names,omitempty"`
	AllowedDNSSANs     []string              `json:"allowed_dns_sans,omitempty"`
	AllowedEmailSANs   []string              `json:"allowed_email_sans,omitempty"`
	AllowedURISANs     []string              `json:"allowed_uri_sans,omitempty"`
	AllowedOUs         []string              `json:"allowed_organizational_units,omitempty"`
	Token              framework.TokenParams `json:"token"`
}

// certInput is the body of certs/:name. A new entry needs a certificate;
// for an existing one only the fields present change.
type certInput struct {
	Certificate                *string                 `json:"certificate"`
	DisplayName                *string                 `json:"display_name"`
	AllowedNames               *framework.CommaStrings `json:"allowed_names"`
	AllowedCommonNames         *framework.CommaStrings `json:"allowed_common_names"`
	AllowedDNSSANs             *framework.CommaStrings `json:"allowed_dns_sans"`
	AllowedEmailSANs           *framework.CommaStrings `json:"allowed_email_sans"`
	AllowedURISANs             *framework.CommaStrings `json:"allowed_uri_sans"`
	AllowedOrganizationalUnits *framework.CommaStrings `json:"allowed_organizational_units"`
	RequiredExtensions         *framework.CommaStrings `json:"required_extensions"`
	framework.TokenParamsUpdate
	// Vault's deprecated names, used only when the token_* field is absent.
	TTL        *framework.Duration     `json:"ttl"`
	MaxTTL     *framework.Duration     `json:"max_ttl"`
	Period     *framework.Duration     `json:"period"`
	BoundCIDRs *framework.CommaStrings `json:"bound_cidrs"`
	// OCSPEnabled asks for an OCSP revocation check at login, which Coffer
	// does not do; ignoring it would let a revoked certificate log in.
	OCSPEnabled framework.Unsupported `json:"ocsp_enabled"`
}

// tokenUpdate returns the token_* update of in, with the deprecated names
// filling in absent token_* fields.
func (in *certInput) tokenUpdate() *framework.TokenParamsUpdate {
	u := in.TokenParamsUpdate
	u.TokenTTL = cmp.Or(u.TokenTTL, in.TTL)
	u.TokenMaxTTL = cmp.Or(u.TokenMaxTTL, in.MaxTTL)
	u.TokenPeriod = cmp.Or(u.TokenPeriod, in.Period)
	u.TokenBoundCIDRs = cmp.Or(u.TokenBoundCIDRs, in.BoundCIDRs)
	return &u
}

// certResponse is the data of a certs/:name read. Lists are never null.
type certResponse struct {
	Certificate                string   `json:"certificate"`
	DisplayName                string   `json:"display_name"`
	AllowedNames               []string `json:"allowed_names"`
	AllowedCommonNames         []string `json:"allowed_common_names"`
	AllowedDNSSANs             []string `json:"allowed_dns_sans"`
	AllowedEmailSANs           []string `json:"allowed_email_sans"`
	AllowedURISANs             []string `json:"allowed_uri_sans"`
	AllowedOrganizationalUnits []string `json:"allowed_organizational_units"`
	RequiredExtensions         []string `json:"required_extensions"`
	framework.TokenParamsResponse
}

// response is the data of a read of e.
func (e *certEntry) response() any {
	return &certResponse{
		Certificate:                e.Certificate,
		DisplayName:                e.DisplayName,
		AllowedNames:               nonNil(e.AllowedNames),
		AllowedCommonNames:         nonNil(e.AllowedCommonNames),
		AllowedDNSSANs:             nonNil(e.AllowedDNSSANs),
		AllowedEmailSANs:           nonNil(e.AllowedEmailSANs),
		AllowedURISANs:             nonNil(e.AllowedURISANs),
		AllowedOrganizationalUnits: nonNil(e.AllowedOUs),
		RequiredExtensions:         []string{},
		TokenParamsResponse:        e.Token.Response(),
	}
}

// writeCert creates an entry or changes the given fields of an existing
// one. Everything is validated before storage is touched.
func (b *backend) writeCert(ctx context.Context, _ *logical.Request, m *framework.Match, in *certInput) (*logical.Response, error) {
	name, err := entryName(m)
	if err != nil {
		return nil, err
	}
	if in.RequiredExtensions != nil && len(trimmed(*in.RequiredExtensions)) > 0 {
		return nil, logical.InvalidRequest("invalid value for \"required_extensions\": requiring certificate extensions is not supported; leave it empty")
	}
	if in.Certificate != nil {
		if _, err := parseCertificates(*in.Certificate); err != nil {
			return nil, err
		}
	}
	lists := []struct {
		field string
		in    *framework.CommaStrings
		dst   func(*certEntry) *[]string
	}{
		{"allowed_names", in.AllowedNames, func(e *certEntry) *[]string { return &e.AllowedNames }},
		{"allowed_common_names", in.AllowedCommonNames, func(e *certEntry) *[]string { return &e.AllowedCommonNames }},
		{"allowed_dns_sans", in.AllowedDNSSANs, func(e *certEntry) *[]string { return &e.AllowedDNSSANs }},
		{"allowed_email_sans", in.AllowedEmailSANs, func(e *certEntry) *[]string { return &e.AllowedEmailSANs }},
		{"allowed_uri_sans", in.AllowedURISANs, func(e *certEntry) *[]string { return &e.AllowedURISANs }},
		{"allowed_organizational_units", in.AllowedOrganizationalUnits, func(e *certEntry) *[]string { return &e.AllowedOUs }},
	}
	for _, l := range lists {
		if l.in == nil {
			continue
		}
		if err := checkPatterns(l.field, trimmed(*l.in)); err != nil {
			return nil, err
		}
	}

	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	old, err := b.entries.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var e certEntry
	if old != nil {
		e = *old
	} else {
		if in.Certificate == nil {
			return nil, logical.InvalidRequest("missing \"certificate\": a new entry needs a PEM-encoded certificate")
		}
		e.DisplayName = name
	}
	if e.Token, err = in.tokenUpdate().Apply(e.Token); err != nil {
		return nil, err
	}
	if in.Certificate != nil {
		e.Certificate = *in.Certificate
	}
	if in.DisplayName != nil {
		e.DisplayName = strings.TrimSpace(*in.DisplayName)
		if e.DisplayName == "" {
			e.DisplayName = name
		}
	}
	for _, l := range lists {
		if l.in != nil {
			*l.dst(&e) = trimmed(*l.in)
		}
	}
	return nil, b.entries.Put(ctx, name, &e)
}

// parseCertificates decodes pemText, which must hold one or more PEM
// CERTIFICATE blocks and nothing else but white space. Errors are
// [logical.ErrInvalidRequest] errors saying what is wrong, without quoting
// the input.
func parseCertificates(pemText string) ([]*x509.Certificate, error) {
	if len(pemText) > maxPEMBytes {
		return nil, logical.InvalidRequest("invalid value for \"certificate\": longer than %d bytes", maxPEMBytes)
	}
	rest := []byte(pemText)
	var out []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, logical.InvalidRequest("invalid value for \"certificate\": PEM block %d is a %q block, want CERTIFICATE", n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &logical.Error{
				Kind: logical.ErrInvalidRequest,
				Msg:  fmt.Sprintf("invalid value for \"certificate\": PEM block %d is not a valid X.509 certificate", n),
				Err:  err,
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, logical.InvalidRequest("invalid value for \"certificate\": no PEM-encoded certificate found")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, logical.InvalidRequest("invalid value for \"certificate\": unexpected data after the last PEM block")
	}
	return out, nil
}

// checkPatterns bounds a list of glob patterns.
func checkPatterns(field string, list []string) error {
	if len(list) > maxPatterns {
		return logical.InvalidRequest("invalid value for %q: at most %d patterns", field, maxPatterns)
	}
	for _, p := range list {
		if len(p) > maxPatternBytes {
			return logical.InvalidRequest("invalid value for %q: a pattern is longer than %d bytes", field, maxPatternBytes)
		}
	}
	return nil
}

// trimmed returns the entries of in trimmed of spaces, without empty ones
// and duplicates. It never returns nil.
func trimmed(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// nonNil returns a copy of s that marshals as [] when empty.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// trustEntry is a stored entry with its certificates parsed, as login
// uses it. It is read-only once built.
type trustEntry struct {
	certEntry
	name string
	// roots holds the entry's CA certificates; nil when it has none.
	roots *x509.CertPool
	// caSubjects are the raw subjects of the CA certificates in roots.
	caSubjects map[string]bool
	// pinned are the entry's non-CA certificates, matched exactly, and
	// pinnedPool holds them; nil when there are none.
	pinned     []*x509.Certificate
	pinnedPool *x509.CertPool
}

// parseTrustEntry decodes a stored entry named name.
func parseTrustEntry(name string, raw []byte) (*trustEntry, error) {
	var t trustEntry
	if err := json.Unmarshal(raw, &t.certEntry); err != nil {
		return nil, fmt.Errorf("decode certificate entry %q: %w", name, err)
	}
	certs, err := parseCertificates(t.Certificate)
	if err != nil {
		return nil, fmt.Errorf("parse stored certificate entry %q: %w", name, err)
	}
	t.name = name
	for _, c := range certs {
		if c.BasicConstraintsValid && c.IsCA {
			if t.roots == nil {
				t.roots = x509.NewCertPool()
			}
			t.roots.AddCert(c)
			if t.caSubjects == nil {
				t.caSubjects = make(map[string]bool)
			}
			t.caSubjects[string(c.RawSubject)] = true
			continue
		}
		if t.pinnedPool == nil {
			t.pinnedPool = x509.NewCertPool()
		}
		t.pinnedPool.AddCert(c)
		t.pinned = append(t.pinned, c)
	}
	return &t, nil
}
