package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// subjectFields are the subject attributes besides the common name, as
// roles and CA requests give them.
type subjectFields struct {
	Organization  framework.CommaStrings `json:"organization"`
	OU            framework.CommaStrings `json:"ou"`
	Country       framework.CommaStrings `json:"country"`
	Locality      framework.CommaStrings `json:"locality"`
	Province      framework.CommaStrings `json:"province"`
	StreetAddress framework.CommaStrings `json:"street_address"`
	PostalCode    framework.CommaStrings `json:"postal_code"`
}

// name returns the subject with common name cn.
func (f *subjectFields) name(cn string) pkix.Name {
	return pkix.Name{
		CommonName:         cn,
		Organization:       f.Organization,
		OrganizationalUnit: f.OU,
		Country:            f.Country,
		Locality:           f.Locality,
		Province:           f.Province,
		StreetAddress:      f.StreetAddress,
		PostalCode:         f.PostalCode,
	}
}

// nonNil returns the fields with every nil list made empty, for reads.
func (f subjectFields) nonNil() subjectFields {
	for _, l := range []*framework.CommaStrings{&f.Organization, &f.OU, &f.Country, &f.Locality, &f.Province, &f.StreetAddress, &f.PostalCode} {
		if *l == nil {
			*l = framework.CommaStrings{}
		}
	}
	return f
}

// sanInput are the name fields of a certificate request.
type sanInput struct {
	CommonName        string                 `json:"common_name"`
	AltNames          framework.CommaStrings `json:"alt_names"`
	IPSANs            framework.CommaStrings `json:"ip_sans"`
	URISANs           framework.CommaStrings `json:"uri_sans"`
	ExcludeCNFromSANs framework.Bool         `json:"exclude_cn_from_sans"`
}

// names are the parsed names of a certificate.
type names struct {
	cn     string
	dns    []string
	emails []string
	ips    []net.IP
	uris   []*url.URL
}

// parseSANs parses the request's alternative names. DNS names are
// lowercased; an entry with "@" is an email address. The common name is
// added to the DNS or IP SANs when it is a hostname or an IP address,
// unless exclude_cn_from_sans is set.
func parseSANs(in *sanInput) (*names, error) {
	n := &names{cn: strings.TrimSpace(in.CommonName)}
	for _, s := range in.AltNames {
		if strings.Contains(s, "@") {
			n.emails = append(n.emails, s)
			continue
		}
		n.dns = append(n.dns, strings.ToLower(s))
	}
	for _, s := range in.IPSANs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, logical.InvalidRequest("invalid IP SAN %s: not an IP address", show(s))
		}
		n.ips = append(n.ips, ip)
	}
	for _, s := range in.URISANs {
		u, err := parseURISAN(s)
		if err != nil {
			return nil, err
		}
		n.uris = append(n.uris, u)
	}
	if !in.ExcludeCNFromSANs {
		n.addCN()
	}
	return n, nil
}

// addCN adds the common name to the SANs when it is a hostname or an IP
// address and not there already.
func (n *names) addCN() {
	if n.cn == "" {
		return
	}
	if ip := net.ParseIP(n.cn); ip != nil {
		for _, have := range n.ips {
			if have.Equal(ip) {
				return
			}
		}
		n.ips = append(n.ips, ip)
		return
	}
	cn := strings.ToLower(n.cn)
	if !validHostname(cn) {
		return
	}
	for _, have := range n.dns {
		if have == cn {
			return
		}
	}
	n.dns = append([]string{cn}, n.dns...)
}

// fromCSR returns the names a CSR asks for.
func fromCSR(csr *x509.CertificateRequest) *names {
	n := &names{cn: csr.Subject.CommonName, ips: csr.IPAddresses, uris: csr.URIs, emails: csr.EmailAddresses}
	for _, d := range csr.DNSNames {
		n.dns = append(n.dns, strings.ToLower(d))
	}
	return n
}

// apply sets the names on a certificate template.
func (n *names) apply(t *x509.Certificate) {
	t.DNSNames, t.EmailAddresses, t.IPAddresses, t.URIs = n.dns, n.emails, n.ips, n.uris
}

// parseURISAN parses an absolute URI without "." or ".." path segments.
func parseURISAN(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return nil, logical.InvalidRequest("invalid URI SAN %s: not an absolute URI", show(s))
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if seg == "." || seg == ".." {
			return nil, logical.InvalidRequest("invalid URI SAN %s: it has a dot segment", show(s))
		}
	}
	return u, nil
}

// validHostname reports whether s is a DNS name of letters, digits and
// hyphens (labels of 1 to 63 characters, not starting or ending with a
// hyphen), at most 253 characters, optionally with a leading "*." label.
func validHostname(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// show renders a client-given name for an error message: as is when it is
// plain printable ASCII, quoted otherwise.
func show(s string) string {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' || s[i] == '"' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// serialLimit is 2^159: serials are 20 octets with the top bit clear, so
// they are positive and fit RFC 5280's 20-octet limit.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 159)

// newSerial returns a random positive serial number of at most 20 octets.
func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, err
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// formatSerial renders a serial number as Vault does: lowercase hex
// octets separated by colons.
func formatSerial(n *big.Int) string {
	b := n.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, len(b)*3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&0xf])
	}
	return string(out)
}

// serialKey turns a serial in API form (octets separated by ":" or "-")
// into its storage form (separated by "-", lowercase). ok is false when s
// is not a serial number.
func serialKey(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > 200 || (len(s)+1)%3 != 0 {
		return "", false
	}
	out := []byte(s)
	for i := range out {
		switch {
		case i%3 == 2:
			if out[i] != ':' && out[i] != '-' {
				return "", false
			}
			out[i] = '-'
		case out[i] >= '0' && out[i] <= '9' || out[i] >= 'a' && out[i] <= 'f':
		default:
			return "", false
		}
	}
	return string(out), true
}

// apiSerial turns a storage-form serial back into API form.
func apiSerial(key string) string {
	return strings.ReplaceAll(key, "-", ":")
}

// maxPathLen sets the path length constraint of a CA template from the
// request: nil or -1 is no limit.
func maxPathLen(t *x509.Certificate, v *framework.Int) error {
	switch {
	case v == nil || *v == -1:
		t.MaxPathLen = -1
	case *v == 0:
		t.MaxPathLen, t.MaxPathLenZero = 0, true
	case *v > 0 && *v < 1<<16:
		t.MaxPathLen = int(*v)
	default:
		return logical.InvalidRequest("invalid max_path_length: want -1 (no limit) or a non-negative integer")
	}
	return nil
}

// notBefore returns now backdated by d, or by the default when d is nil.
func notBefore(now time.Time, d *framework.Duration) time.Time {
	if d == nil {
		return now.Add(-defaultNotBefore)
	}
	return now.Add(-time.Duration(*d))
}
