package incident

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Criteria say what an incident contains. Every non-empty field matches
// on its own (a token matched by any of them is contained); Since, when
// set, narrows the token matches to tokens made at or after it and is the
// start of the report's window.
type Criteria struct {
	// Accessors are token accessors.
	Accessors []string `json:"accessors,omitempty"`
	// EntityIDs are identity entity IDs.
	EntityIDs []string `json:"entity_ids,omitempty"`
	// Roles are auth roles as "auth/MOUNT/role/NAME" (AppRole, Kubernetes,
	// JWT ...): tokens logged in at that mount with that role.
	Roles []string `json:"roles,omitempty"`
	// SecretIDAccessors are AppRole secret ID accessors: tokens logged in
	// with that secret ID, and the secret ID itself.
	SecretIDAccessors []string `json:"secret_id_accessors,omitempty"`
	// CertSerials are client certificate serial numbers, in decimal.
	CertSerials []string `json:"cert_serials,omitempty"`
	// SourceCIDRs are client address ranges banned from the server.
	SourceCIDRs []string `json:"source_cidrs,omitempty"`
	// Since is the start of the incident's window; zero for none.
	Since time.Time `json:"since,omitzero"`
}

// Empty reports whether c names nothing to contain.
func (c *Criteria) Empty() bool {
	return len(c.Accessors)+len(c.EntityIDs)+len(c.Roles)+len(c.SecretIDAccessors)+len(c.CertSerials)+len(c.SourceCIDRs) == 0
}

// Normalize checks c and puts its values in canonical form (serials in
// decimal, CIDRs masked, lists sorted without duplicates). Its errors are
// client-safe and say what to fix.
func (c *Criteria) Normalize() error {
	var errs []error
	for i, r := range c.Roles {
		if _, _, err := ParseRole(r); err != nil {
			errs = append(errs, err)
		}
		c.Roles[i] = strings.Trim(r, "/")
	}
	for i, s := range c.CertSerials {
		d, err := NormalizeSerial(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.CertSerials[i] = d
	}
	for i, s := range c.SourceCIDRs {
		p, err := ParseCIDR(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.SourceCIDRs[i] = p.String()
	}
	for _, l := range []*[]string{&c.Accessors, &c.EntityIDs, &c.Roles, &c.SecretIDAccessors, &c.CertSerials, &c.SourceCIDRs} {
		*l = slices.DeleteFunc(*l, func(s string) bool { return strings.TrimSpace(s) == "" })
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if c.Empty() {
		return errors.New("name at least one of accessor, entity_id, role, secret_id_accessor, cert_serial or source_cidr")
	}
	return nil
}

// ParseRole splits "auth/MOUNT/role/NAME" into the mount path (with its
// trailing slash, e.g. "auth/approle/") and the role name.
func ParseRole(s string) (mount, role string, err error) {
	s = strings.Trim(s, "/")
	i := strings.LastIndex(s, "/role/")
	if !strings.HasPrefix(s, "auth/") || i < len("auth") || i+len("/role/") >= len(s) {
		return "", "", fmt.Errorf("role %q: want auth/MOUNT/role/NAME, such as auth/approle/role/payments", s)
	}
	return s[:i+1], s[i+len("/role/"):], nil
}

// NormalizeSerial returns a certificate serial number in decimal. It
// takes decimal, hex with a 0x prefix, or hex bytes separated by colons
// or dashes (as openssl and Vault print them).
func NormalizeSerial(s string) (string, error) {
	t := strings.TrimSpace(s)
	var n big.Int
	ok := false
	switch {
	case strings.HasPrefix(t, "0x"), strings.HasPrefix(t, "0X"):
		_, ok = n.SetString(t[2:], 16)
	case strings.ContainsAny(t, ":-"):
		_, ok = n.SetString(strings.NewReplacer(":", "", "-", "").Replace(t), 16)
	default:
		_, ok = n.SetString(t, 10)
	}
	if !ok || n.Sign() < 0 || len(t) > 200 {
		return "", fmt.Errorf("cert_serial %q: want a serial number in decimal, 0x-hex or colon-separated hex", s)
	}
	return n.String(), nil
}

// ParseCIDR parses a CIDR or a single address (a /32 or /128).
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("source_cidr %q: want a CIDR such as 10.1.2.0/24 or an address", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("source_cidr %q: want a CIDR such as 10.1.2.0/24 or an address", s)
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked(), nil
}

// Token is what matching needs of a live token. Hash identifies it to
// core and is never recorded nor returned.
type Token struct {
	Hash         string
	ParentHash   string // "" for an orphan
	Mount        string // the issuing auth mount's path, e.g. "auth/approle/"
	Accessor     string
	EntityID     string
	Path         string // creation path, e.g. "auth/approle/login"
	Meta         map[string]string
	InternalData map[string]string
	CreationTime time.Time
}

// Role returns the role a login token was issued for, read from the
// metadata auth methods write ("role_name" for AppRole, "role" for
// Kubernetes and JWT), or "".
func (t *Token) Role() string {
	if r := t.Meta["role_name"]; r != "" {
		return r
	}
	if r := t.InternalData["role_name"]; r != "" {
		return r
	}
	return t.Meta["role"]
}

// Matches reports whether c matches t (without its parents: contained
// tokens' children go with them anyway).
func (c *Criteria) Matches(t *Token) bool {
	if !c.Since.IsZero() && t.CreationTime.Before(c.Since) {
		return false
	}
	if slices.Contains(c.Accessors, t.Accessor) {
		return true
	}
	if t.EntityID != "" && slices.Contains(c.EntityIDs, t.EntityID) {
		return true
	}
	if a := t.InternalData["secret_id_accessor"]; a != "" && slices.Contains(c.SecretIDAccessors, a) {
		return true
	}
	if s := t.Meta["serial_number"]; s != "" && slices.Contains(c.CertSerials, s) {
		return true
	}
	if role := t.Role(); role != "" {
		for _, r := range c.Roles {
			mount, name, _ := ParseRole(r)
			if name == role && strings.HasPrefix(t.Path, mount) {
				return true
			}
		}
	}
	return false
}
