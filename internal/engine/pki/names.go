package pki

import (
	"fmt"
	"net"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// check verifies every name of a certificate request against the role
// named roleName. The error says which name is refused and why.
func (nr *nameRules) check(roleName string, n *names) error {
	if n.cn == "" && nr.RequireCN {
		return logical.InvalidRequest("the common_name field is required by role %s (or give it in the CSR with use_csr_common_name, or set require_cn to false)", roleName)
	}
	if n.cn != "" {
		var reason string
		if ip := net.ParseIP(n.cn); ip != nil {
			reason = nr.ipReason()
		} else {
			reason = nr.dnsReason(strings.ToLower(n.cn))
		}
		if reason != "" {
			return refused("common name", n.cn, roleName, reason)
		}
	}
	for _, d := range n.dns {
		if reason := nr.dnsReason(d); reason != "" {
			return refused("DNS SAN", d, roleName, reason)
		}
	}
	for _, e := range n.emails {
		if !nr.AllowAnyName {
			return refused("email SAN", e, roleName, "email addresses need allow_any_name")
		}
	}
	for _, ip := range n.ips {
		if reason := nr.ipReason(); reason != "" {
			return refused("IP SAN", ip.String(), roleName, reason)
		}
	}
	for _, u := range n.uris {
		if reason := nr.uriReason(u.String()); reason != "" {
			return refused("URI SAN", u.String(), roleName, reason)
		}
	}
	return nil
}

func refused(what, name, roleName, reason string) error {
	return logical.InvalidRequest("%s %s not allowed by role %s: %s", what, show(name), roleName, reason)
}

func (nr *nameRules) ipReason() string {
	if nr.AllowIPSANs {
		return ""
	}
	return "IP addresses need allow_ip_sans"
}

// dnsReason returns why the lowercase DNS name is not allowed, or "".
func (nr *nameRules) dnsReason(name string) string {
	if nr.EnforceHostnames && !validHostname(name) {
		return "not a valid hostname (enforce_hostnames is set)"
	}
	if nr.AllowAnyName {
		return ""
	}
	if name == "localhost" || name == "localhost.localdomain" {
		if nr.AllowLocalhost {
			return ""
		}
		return "localhost needs allow_localhost"
	}
	if strings.HasPrefix(name, "*.") && !nr.AllowWildcardCertificates {
		return "wildcard names need allow_wildcard_certificates"
	}
	var hints []string
	for _, d := range nr.AllowedDomains {
		d = strings.ToLower(d)
		switch {
		case name == d:
			if nr.AllowBareDomains {
				return ""
			}
			hints = append(hints, fmt.Sprintf("the bare domain %s needs allow_bare_domains", d))
		case strings.HasSuffix(name, "."+d) && !strings.HasPrefix(d, "*"):
			if nr.AllowSubdomains {
				return ""
			}
			hints = append(hints, fmt.Sprintf("subdomains of %s need allow_subdomains", d))
		case strings.Contains(d, "*") && globMatch(d, name):
			if nr.AllowGlobDomains {
				return ""
			}
			hints = append(hints, fmt.Sprintf("the pattern %s matches only with allow_glob_domains", d))
		}
	}
	if len(hints) > 0 {
		return strings.Join(hints, "; ")
	}
	if len(nr.AllowedDomains) == 0 {
		return "the role has no allowed_domains"
	}
	return fmt.Sprintf("not in allowed_domains [%s]", strings.Join(nr.AllowedDomains, ", "))
}

// uriReason returns why the URI is not allowed, or "".
func (nr *nameRules) uriReason(uri string) string {
	if len(nr.AllowedURISANs) == 0 {
		return "the role has no allowed_uri_sans"
	}
	for _, p := range nr.AllowedURISANs {
		if segmentGlobMatch(p, uri) {
			return ""
		}
	}
	return fmt.Sprintf("it matches none of allowed_uri_sans [%s] (\"*\" matches within one path segment)", strings.Join(nr.AllowedURISANs, ", "))
}

// globMatch reports whether s matches pattern, in which "*" matches any
// run of characters (including none) and every other byte matches itself.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// segmentGlobMatch is globMatch where "*" never matches "/": pattern and s
// must have the same number of "/"-separated segments, matched pairwise.
func segmentGlobMatch(pattern, s string) bool {
	if strings.Count(pattern, "/") != strings.Count(s, "/") {
		return false
	}
	ps, ss := strings.Split(pattern, "/"), strings.Split(s, "/")
	for i := range ps {
		if !globMatch(ps[i], ss[i]) {
			return false
		}
	}
	return true
}
