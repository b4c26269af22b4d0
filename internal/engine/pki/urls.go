package pki

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/url"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys of the URL settings; see the package comment.
const (
	configURLsKey    = "config/urls"
	configClusterKey = "config/cluster"
)

// aiaURLs are the URLs put into certificates and CRLs: the Authority
// Information Access (issuing certificates, OCSP servers) and CRL
// distribution points extensions. Mount-wide at config/urls; an issuer
// may have its own, which then replace the mount's.
type aiaURLs struct {
	IssuingCertificates   []string `json:"issuing_certificates"`
	CRLDistributionPoints []string `json:"crl_distribution_points"`
	OCSPServers           []string `json:"ocsp_servers"`
	// EnableTemplating says the URLs may hold {{issuer_id}},
	// {{cluster_path}} and {{cluster_aia_path}}.
	EnableTemplating bool `json:"enable_templating"`
}

// empty reports whether no URL is set.
func (u *aiaURLs) empty() bool {
	return len(u.IssuingCertificates) == 0 && len(u.CRLDistributionPoints) == 0 && len(u.OCSPServers) == 0
}

// clusterConfig is the entry at config/cluster: this mount's address as
// seen by clients, which templated URLs use.
type clusterConfig struct {
	Path    string `json:"path"`
	AIAPath string `json:"aia_path"`
}

// urlsInput is the body of a config/urls write; absent fields keep their
// value.
type urlsInput struct {
	IssuingCertificates   *framework.CommaStrings `json:"issuing_certificates"`
	CRLDistributionPoints *framework.CommaStrings `json:"crl_distribution_points"`
	OCSPServers           *framework.CommaStrings `json:"ocsp_servers"`
	EnableTemplating      *framework.Bool         `json:"enable_templating"`
}

// apply copies the present fields of in onto u and validates the result.
func (in *urlsInput) apply(u aiaURLs) (aiaURLs, error) {
	set := func(dst *[]string, v *framework.CommaStrings) {
		if v != nil {
			*dst = nonNilStrings(*v)
		}
	}
	set(&u.IssuingCertificates, in.IssuingCertificates)
	set(&u.CRLDistributionPoints, in.CRLDistributionPoints)
	set(&u.OCSPServers, in.OCSPServers)
	setBool(&u.EnableTemplating, in.EnableTemplating)
	return u, u.validate()
}

// urlFields names the URL lists of u with their API field names.
func (u *aiaURLs) urlFields() []struct {
	name string
	urls []string
} {
	return []struct {
		name string
		urls []string
	}{
		{"issuing_certificates", u.IssuingCertificates},
		{"crl_distribution_points", u.CRLDistributionPoints},
		{"ocsp_servers", u.OCSPServers},
	}
}

// validate checks that every URL is an absolute URL with a host; with
// templating, after the placeholders are filled with sample values.
func (u *aiaURLs) validate() error {
	sample := clusterConfig{Path: "https://vault.example/v1/pki", AIAPath: "http://vault.example/v1/pki"}
	for _, f := range u.urlFields() {
		for _, raw := range f.urls {
			s := raw
			if u.EnableTemplating {
				s = fillTemplate(raw, "00000000-0000-4000-8000-000000000000", &sample)
			} else if strings.Contains(raw, "{{") {
				return logical.InvalidRequest("%s: %s is a template, but enable_templating is false", f.name, show(raw))
			}
			if strings.Contains(s, "{{") {
				return logical.InvalidRequest("%s: %s uses an unknown placeholder: use {{issuer_id}}, {{cluster_path}} or {{cluster_aia_path}}", f.name, show(raw))
			}
			p, err := url.Parse(s)
			if err != nil || p.Scheme == "" || p.Host == "" {
				return logical.InvalidRequest("invalid URL found in Authority Information Access (AIA) parameter %s: %s", f.name, show(raw))
			}
		}
	}
	return nil
}

// fillTemplate replaces the placeholders of a templated URL.
func fillTemplate(s, issuerID string, c *clusterConfig) string {
	return strings.NewReplacer(
		"{{issuer_id}}", issuerID,
		"{{cluster_path}}", c.Path,
		"{{cluster_aia_path}}", c.AIAPath,
	).Replace(s)
}

// resolve returns the URLs for certificates and CRLs signed by the issuer
// issuerID, with templates filled in. A template that needs a
// config/cluster value that is not set is an ErrInvalidRequest error.
func (u *aiaURLs) resolve(issuerID string, c *clusterConfig) (*aiaURLs, error) {
	if !u.EnableTemplating {
		return u, nil
	}
	out := &aiaURLs{}
	dst := []*[]string{&out.IssuingCertificates, &out.CRLDistributionPoints, &out.OCSPServers}
	for i, f := range u.urlFields() {
		for _, raw := range f.urls {
			switch {
			case strings.Contains(raw, "{{cluster_path}}") && c.Path == "":
				return nil, logical.InvalidRequest("%s uses {{cluster_path}}, but config/cluster has no path", f.name)
			case strings.Contains(raw, "{{cluster_aia_path}}") && c.AIAPath == "":
				return nil, logical.InvalidRequest("%s uses {{cluster_aia_path}}, but config/cluster has no aia_path", f.name)
			}
			*dst[i] = append(*dst[i], fillTemplate(raw, issuerID, c))
		}
	}
	return out, nil
}

// urlsFor returns the resolved URLs for what the issuer issuerID signs:
// the issuer's own when it has any, else the mount's.
func (s *caState) urlsFor(issuerID string, own *aiaURLs) (*aiaURLs, error) {
	u := &s.urls
	if own != nil && !own.empty() {
		u = own
	}
	return u.resolve(issuerID, &s.cluster)
}

// applyURLs puts u into a certificate template.
func applyURLs(tmpl *x509.Certificate, u *aiaURLs) {
	tmpl.IssuingCertificateURL = u.IssuingCertificates
	tmpl.CRLDistributionPoints = u.CRLDistributionPoints
	tmpl.OCSPServer = u.OCSPServers
}

// Object identifiers of the Authority Information Access extension
// (RFC 5280, 4.2.2.1 and 5.2.7).
var (
	oidAuthorityInfoAccess = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	oidCAIssuers           = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 2}
)

// accessDescription is one entry of an Authority Information Access
// extension.
type accessDescription struct {
	Method   asn1.ObjectIdentifier
	Location asn1.RawValue
}

// crlAIA returns the Authority Information Access extension of a CRL
// listing the issuing certificate URLs, or none when there are none.
func crlAIA(u *aiaURLs) ([]pkix.Extension, error) {
	if len(u.IssuingCertificates) == 0 {
		return nil, nil
	}
	var ads []accessDescription
	for _, s := range u.IssuingCertificates {
		// GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String.
		ads = append(ads, accessDescription{Method: oidCAIssuers, Location: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(s)}})
	}
	val, err := asn1.Marshal(ads)
	if err != nil {
		return nil, fmt.Errorf("encode crl authority information access: %w", err)
	}
	return []pkix.Extension{{Id: oidAuthorityInfoAccess, Value: val}}, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (b *Backend) readURLs(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: urlsData(st.urls)}, nil
}

// urlsData is u as the API shows it: lists, never null.
func urlsData(u aiaURLs) *aiaURLs {
	u.IssuingCertificates = nonNilStrings(u.IssuingCertificates)
	u.CRLDistributionPoints = nonNilStrings(u.CRLDistributionPoints)
	u.OCSPServers = nonNilStrings(u.OCSPServers)
	return &u
}

func (b *Backend) writeURLs(ctx context.Context, _ *logical.Request, _ *framework.Match, in *urlsInput) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	u, err := in.apply(st.urls)
	if err != nil {
		return nil, err
	}
	defer b.invalidate()
	if err := framework.PutJSON(ctx, b.storage, configURLsKey, &u); err != nil {
		return nil, err
	}
	return &logical.Response{Data: urlsData(u)}, nil
}

// clusterInput is the body of a config/cluster write.
type clusterInput struct {
	Path    *string `json:"path"`
	AIAPath *string `json:"aia_path"`
}

func (b *Backend) writeCluster(ctx context.Context, _ *logical.Request, _ *framework.Match, in *clusterInput) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	c := st.cluster
	for _, f := range []struct {
		name string
		dst  *string
		v    *string
	}{{"path", &c.Path, in.Path}, {"aia_path", &c.AIAPath, in.AIAPath}} {
		if f.v == nil {
			continue
		}
		if *f.v != "" {
			p, err := url.Parse(*f.v)
			if err != nil || p.Scheme == "" || p.Host == "" {
				return nil, logical.InvalidRequest("%s: %s is not an absolute URL", f.name, show(*f.v))
			}
		}
		*f.dst = strings.TrimSuffix(*f.v, "/")
	}
	defer b.invalidate()
	if err := framework.PutJSON(ctx, b.storage, configClusterKey, &c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: &c}, nil
}
