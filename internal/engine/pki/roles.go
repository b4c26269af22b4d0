package pki

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// role is a stored role: what certificates issue/:name and sign/:name may
// produce. The JSON names are the API's; durations are nanoseconds.
type role struct {
	TTL                 time.Duration          `json:"ttl"`
	MaxTTL              time.Duration          `json:"max_ttl"`
	NotBeforeDuration   time.Duration          `json:"not_before_duration"`
	Names               nameRules              `json:"names"`
	ServerFlag          bool                   `json:"server_flag"`
	ClientFlag          bool                   `json:"client_flag"`
	CodeSigningFlag     bool                   `json:"code_signing_flag"`
	EmailProtectionFlag bool                   `json:"email_protection_flag"`
	KeyType             string                 `json:"key_type"`
	KeyBits             int                    `json:"key_bits"`
	KeyUsage            framework.CommaStrings `json:"key_usage"`
	ExtKeyUsage         framework.CommaStrings `json:"ext_key_usage"`
	UseCSRCommonName    bool                   `json:"use_csr_common_name"`
	UseCSRSANs          bool                   `json:"use_csr_sans"`
	Subject             subjectFields          `json:"subject"`
	GenerateLease       bool                   `json:"generate_lease"`
	NoStore             bool                   `json:"no_store"`
	IssuerRef           string                 `json:"issuer_ref"`
}

// nameRules are the role settings that decide which names are allowed.
type nameRules struct {
	AllowedDomains            framework.CommaStrings `json:"allowed_domains"`
	AllowBareDomains          bool                   `json:"allow_bare_domains"`
	AllowSubdomains           bool                   `json:"allow_subdomains"`
	AllowGlobDomains          bool                   `json:"allow_glob_domains"`
	AllowWildcardCertificates bool                   `json:"allow_wildcard_certificates"`
	AllowAnyName              bool                   `json:"allow_any_name"`
	AllowLocalhost            bool                   `json:"allow_localhost"`
	EnforceHostnames          bool                   `json:"enforce_hostnames"`
	AllowIPSANs               bool                   `json:"allow_ip_sans"`
	AllowedURISANs            framework.CommaStrings `json:"allowed_uri_sans"`
	RequireCN                 bool                   `json:"require_cn"`
}

// defaultRole is what a role write starts from.
func defaultRole() role {
	return role{
		NotBeforeDuration: defaultNotBefore,
		Names: nameRules{
			AllowWildcardCertificates: true,
			AllowLocalhost:            true,
			EnforceHostnames:          true,
			AllowIPSANs:               true,
			RequireCN:                 true,
		},
		ServerFlag:       true,
		ClientFlag:       true,
		KeyType:          keyRSA,
		KeyBits:          2048,
		KeyUsage:         framework.CommaStrings{"DigitalSignature", "KeyAgreement", "KeyEncipherment"},
		UseCSRCommonName: true,
		UseCSRSANs:       true,
		IssuerRef:        "default",
	}
}

// roleInput is the body of a role write or patch; absent fields keep
// their default (write) or current value (patch).
type roleInput struct {
	TTL                       *framework.Duration     `json:"ttl"`
	MaxTTL                    *framework.Duration     `json:"max_ttl"`
	NotBeforeDuration         *framework.Duration     `json:"not_before_duration"`
	AllowedDomains            *framework.CommaStrings `json:"allowed_domains"`
	AllowBareDomains          *framework.Bool         `json:"allow_bare_domains"`
	AllowSubdomains           *framework.Bool         `json:"allow_subdomains"`
	AllowGlobDomains          *framework.Bool         `json:"allow_glob_domains"`
	AllowWildcardCertificates *framework.Bool         `json:"allow_wildcard_certificates"`
	AllowAnyName              *framework.Bool         `json:"allow_any_name"`
	AllowLocalhost            *framework.Bool         `json:"allow_localhost"`
	EnforceHostnames          *framework.Bool         `json:"enforce_hostnames"`
	AllowIPSANs               *framework.Bool         `json:"allow_ip_sans"`
	AllowedURISANs            *framework.CommaStrings `json:"allowed_uri_sans"`
	RequireCN                 *framework.Bool         `json:"require_cn"`
	ServerFlag                *framework.Bool         `json:"server_flag"`
	ClientFlag                *framework.Bool         `json:"client_flag"`
	CodeSigningFlag           *framework.Bool         `json:"code_signing_flag"`
	EmailProtectionFlag       *framework.Bool         `json:"email_protection_flag"`
	KeyType                   *string                 `json:"key_type"`
	KeyBits                   *framework.Int          `json:"key_bits"`
	KeyUsage                  *framework.CommaStrings `json:"key_usage"`
	ExtKeyUsage               *framework.CommaStrings `json:"ext_key_usage"`
	UseCSRCommonName          *framework.Bool         `json:"use_csr_common_name"`
	UseCSRSANs                *framework.Bool         `json:"use_csr_sans"`
	Organization              *framework.CommaStrings `json:"organization"`
	OU                        *framework.CommaStrings `json:"ou"`
	Country                   *framework.CommaStrings `json:"country"`
	Locality                  *framework.CommaStrings `json:"locality"`
	Province                  *framework.CommaStrings `json:"province"`
	StreetAddress             *framework.CommaStrings `json:"street_address"`
	PostalCode                *framework.CommaStrings `json:"postal_code"`
	GenerateLease             *framework.Bool         `json:"generate_lease"`
	NoStore                   *framework.Bool         `json:"no_store"`
	IssuerRef                 *string                 `json:"issuer_ref"`
}

// apply copies the present fields of in onto r and validates the result.
func (in *roleInput) apply(r role) (role, error) {
	setDur(&r.TTL, in.TTL)
	setDur(&r.MaxTTL, in.MaxTTL)
	setDur(&r.NotBeforeDuration, in.NotBeforeDuration)
	n := &r.Names
	setList(&n.AllowedDomains, in.AllowedDomains)
	setBool(&n.AllowBareDomains, in.AllowBareDomains)
	setBool(&n.AllowSubdomains, in.AllowSubdomains)
	setBool(&n.AllowGlobDomains, in.AllowGlobDomains)
	setBool(&n.AllowWildcardCertificates, in.AllowWildcardCertificates)
	setBool(&n.AllowAnyName, in.AllowAnyName)
	setBool(&n.AllowLocalhost, in.AllowLocalhost)
	setBool(&n.EnforceHostnames, in.EnforceHostnames)
	setBool(&n.AllowIPSANs, in.AllowIPSANs)
	setList(&n.AllowedURISANs, in.AllowedURISANs)
	setBool(&n.RequireCN, in.RequireCN)
	setBool(&r.ServerFlag, in.ServerFlag)
	setBool(&r.ClientFlag, in.ClientFlag)
	setBool(&r.CodeSigningFlag, in.CodeSigningFlag)
	setBool(&r.EmailProtectionFlag, in.EmailProtectionFlag)
	setList(&r.KeyUsage, in.KeyUsage)
	setList(&r.ExtKeyUsage, in.ExtKeyUsage)
	setBool(&r.UseCSRCommonName, in.UseCSRCommonName)
	setBool(&r.UseCSRSANs, in.UseCSRSANs)
	s := &r.Subject
	setList(&s.Organization, in.Organization)
	setList(&s.OU, in.OU)
	setList(&s.Country, in.Country)
	setList(&s.Locality, in.Locality)
	setList(&s.Province, in.Province)
	setList(&s.StreetAddress, in.StreetAddress)
	setList(&s.PostalCode, in.PostalCode)
	setBool(&r.GenerateLease, in.GenerateLease)
	setBool(&r.NoStore, in.NoStore)
	if in.IssuerRef != nil {
		r.IssuerRef = *in.IssuerRef
	}
	if in.KeyType != nil {
		r.KeyType = *in.KeyType
		if in.KeyBits == nil {
			r.KeyBits = 0
		}
	}
	if in.KeyBits != nil {
		r.KeyBits = int(*in.KeyBits)
	}
	return r, r.validate()
}

// validate checks a role's settings and fills in the key size default.
func (r *role) validate() error {
	if r.MaxTTL > 0 && r.TTL > r.MaxTTL {
		return logical.InvalidRequest("ttl %s is longer than max_ttl %s", r.TTL, r.MaxTTL)
	}
	if r.KeyType == keyAny {
		if r.KeyBits != 0 && r.KeyBits < 2048 && !slices.Contains([]int{224, 256, 384, 521}, r.KeyBits) {
			return logical.InvalidRequest("invalid key_bits %d for key_type any", r.KeyBits)
		}
	} else {
		typ, bits, err := checkKeyParams(r.KeyType, int64(r.KeyBits))
		if err != nil {
			return err
		}
		r.KeyType, r.KeyBits = typ, bits
	}
	if _, err := keyUsages(r.KeyUsage); err != nil {
		return err
	}
	if _, err := extKeyUsages(r.ExtKeyUsage); err != nil {
		return err
	}
	if r.IssuerRef == "" {
		r.IssuerRef = "default"
	}
	if r.IssuerRef != "default" {
		if err := checkObjectName("issuer_ref", r.IssuerRef); err != nil {
			return err
		}
	}
	return nil
}

// setDur, setBool and setList copy a field of an input body that is
// present onto its setting; setList keeps only the non-empty entries,
// trimmed.
func setDur(dst *time.Duration, v *framework.Duration) {
	if v != nil {
		*dst = time.Duration(*v)
	}
}

func setBool(dst *bool, v *framework.Bool) {
	if v != nil {
		*dst = bool(*v)
	}
}

func setList(dst *framework.CommaStrings, v *framework.CommaStrings) {
	if v != nil {
		*dst = trimmed(*v)
	}
}

// trimmed returns the non-empty entries of list, trimmed of spaces.
func trimmed(list []string) framework.CommaStrings {
	out := framework.CommaStrings{}
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var keyUsageNames = map[string]x509.KeyUsage{
	"digitalsignature":  x509.KeyUsageDigitalSignature,
	"contentcommitment": x509.KeyUsageContentCommitment,
	"keyencipherment":   x509.KeyUsageKeyEncipherment,
	"dataencipherment":  x509.KeyUsageDataEncipherment,
	"keyagreement":      x509.KeyUsageKeyAgreement,
	"certsign":          x509.KeyUsageCertSign,
	"crlsign":           x509.KeyUsageCRLSign,
	"encipheronly":      x509.KeyUsageEncipherOnly,
	"decipheronly":      x509.KeyUsageDecipherOnly,
}

// keyUsages turns key_usage names (case-insensitive, with or without a
// "KeyUsage" prefix) into bits.
func keyUsages(list []string) (x509.KeyUsage, error) {
	var ku x509.KeyUsage
	for _, s := range list {
		bit, ok := keyUsageNames[strings.TrimPrefix(strings.ToLower(s), "keyusage")]
		if !ok {
			return 0, logical.InvalidRequest("invalid key_usage %s", show(s))
		}
		ku |= bit
	}
	return ku, nil
}

var extKeyUsageNames = map[string]x509.ExtKeyUsage{
	"any":                        x509.ExtKeyUsageAny,
	"serverauth":                 x509.ExtKeyUsageServerAuth,
	"clientauth":                 x509.ExtKeyUsageClientAuth,
	"codesigning":                x509.ExtKeyUsageCodeSigning,
	"emailprotection":            x509.ExtKeyUsageEmailProtection,
	"ipsecendsystem":             x509.ExtKeyUsageIPSECEndSystem,
	"ipsectunnel":                x509.ExtKeyUsageIPSECTunnel,
	"ipsecuser":                  x509.ExtKeyUsageIPSECUser,
	"timestamping":               x509.ExtKeyUsageTimeStamping,
	"ocspsigning":                x509.ExtKeyUsageOCSPSigning,
	"microsoftservergatedcrypto": x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscapeservergatedcrypto":  x509.ExtKeyUsageNetscapeServerGatedCrypto,
}

// extKeyUsages turns ext_key_usage names (case-insensitive, with or
// without an "ExtKeyUsage" prefix) into values.
func extKeyUsages(list []string) ([]x509.ExtKeyUsage, error) {
	var out []x509.ExtKeyUsage
	for _, s := range list {
		u, ok := extKeyUsageNames[strings.TrimPrefix(strings.ToLower(s), "extkeyusage")]
		if !ok {
			return nil, logical.InvalidRequest("invalid ext_key_usage %s", show(s))
		}
		out = append(out, u)
	}
	return out, nil
}

// extKeyUsage returns the role's extended key usages: those named by the
// flags, then ext_key_usage, without duplicates.
func (r *role) extKeyUsage() []x509.ExtKeyUsage {
	var out []x509.ExtKeyUsage
	add := func(u x509.ExtKeyUsage) {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if r.ServerFlag {
		add(x509.ExtKeyUsageServerAuth)
	}
	if r.ClientFlag {
		add(x509.ExtKeyUsageClientAuth)
	}
	if r.CodeSigningFlag {
		add(x509.ExtKeyUsageCodeSigning)
	}
	if r.EmailProtectionFlag {
		add(x509.ExtKeyUsageEmailProtection)
	}
	extra, _ := extKeyUsages(r.ExtKeyUsage) // validated when stored
	for _, u := range extra {
		add(u)
	}
	return out
}

// roleData is the data of a role read.
type roleData struct {
	TTL                       int64                  `json:"ttl"`
	MaxTTL                    int64                  `json:"max_ttl"`
	NotBeforeDuration         int64                  `json:"not_before_duration"`
	AllowedDomains            framework.CommaStrings `json:"allowed_domains"`
	AllowBareDomains          bool                   `json:"allow_bare_domains"`
	AllowSubdomains           bool                   `json:"allow_subdomains"`
	AllowGlobDomains          bool                   `json:"allow_glob_domains"`
	AllowWildcardCertificates bool                   `json:"allow_wildcard_certificates"`
	AllowAnyName              bool                   `json:"allow_any_name"`
	AllowLocalhost            bool                   `json:"allow_localhost"`
	EnforceHostnames          bool                   `json:"enforce_hostnames"`
	AllowIPSANs               bool                   `json:"allow_ip_sans"`
	AllowedURISANs            framework.CommaStrings `json:"allowed_uri_sans"`
	RequireCN                 bool                   `json:"require_cn"`
	ServerFlag                bool                   `json:"server_flag"`
	ClientFlag                bool                   `json:"client_flag"`
	CodeSigningFlag           bool                   `json:"code_signing_flag"`
	EmailProtectionFlag       bool                   `json:"email_protection_flag"`
	KeyType                   string                 `json:"key_type"`
	KeyBits                   int                    `json:"key_bits"`
	KeyUsage                  framework.CommaStrings `json:"key_usage"`
	ExtKeyUsage               framework.CommaStrings `json:"ext_key_usage"`
	UseCSRCommonName          bool                   `json:"use_csr_common_name"`
	UseCSRSANs                bool                   `json:"use_csr_sans"`
	subjectFields
	GenerateLease bool   `json:"generate_lease"`
	NoStore       bool   `json:"no_store"`
	IssuerRef     string `json:"issuer_ref"`
}

func (r *role) data() *roleData {
	nonNil := func(l framework.CommaStrings) framework.CommaStrings {
		if l == nil {
			return framework.CommaStrings{}
		}
		return l
	}
	n := &r.Names
	return &roleData{
		TTL:                       framework.Seconds(r.TTL),
		MaxTTL:                    framework.Seconds(r.MaxTTL),
		NotBeforeDuration:         framework.Seconds(r.NotBeforeDuration),
		AllowedDomains:            nonNil(n.AllowedDomains),
		AllowBareDomains:          n.AllowBareDomains,
		AllowSubdomains:           n.AllowSubdomains,
		AllowGlobDomains:          n.AllowGlobDomains,
		AllowWildcardCertificates: n.AllowWildcardCertificates,
		AllowAnyName:              n.AllowAnyName,
		AllowLocalhost:            n.AllowLocalhost,
		EnforceHostnames:          n.EnforceHostnames,
		AllowIPSANs:               n.AllowIPSANs,
		AllowedURISANs:            nonNil(n.AllowedURISANs),
		RequireCN:                 n.RequireCN,
		ServerFlag:                r.ServerFlag,
		ClientFlag:                r.ClientFlag,
		CodeSigningFlag:           r.CodeSigningFlag,
		EmailProtectionFlag:       r.EmailProtectionFlag,
		KeyType:                   r.KeyType,
		KeyBits:                   r.KeyBits,
		KeyUsage:                  nonNil(r.KeyUsage),
		ExtKeyUsage:               nonNil(r.ExtKeyUsage),
		UseCSRCommonName:          r.UseCSRCommonName,
		UseCSRSANs:                r.UseCSRSANs,
		subjectFields:             r.Subject.nonNil(),
		GenerateLease:             r.GenerateLease,
		NoStore:                   r.NoStore,
		IssuerRef:                 r.IssuerRef,
	}
}

// writeRole creates or replaces a role: absent fields take their defaults.
func (b *Backend) writeRole(ctx context.Context, _ *logical.Request, m *framework.Match, in *roleInput) (*logical.Response, error) {
	r, err := in.apply(defaultRole())
	if err != nil {
		return nil, err
	}
	return b.storeRole(ctx, m.Get("name"), &r)
}

// patchRole changes the given fields of an existing role.
func (b *Backend) patchRole(ctx context.Context, _ *logical.Request, m *framework.Match, in *roleInput) (*logical.Response, error) {
	name := m.Get("name")
	old, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return nil, logical.NotFound("no role named %s", name)
	}
	r, err := in.apply(*old)
	if err != nil {
		return nil, err
	}
	return b.storeRole(ctx, name, &r)
}

func (b *Backend) storeRole(ctx context.Context, name string, r *role) (*logical.Response, error) {
	if err := b.roles.Put(ctx, name, r); err != nil {
		return nil, err
	}
	return &logical.Response{Data: r.data()}, nil
}
