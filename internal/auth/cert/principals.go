package cert

import (
	"context"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Principals implements [logical.PrincipalLister]: one principal a
// trusted certificate entry. Its bindings are the allowed_* name
// constraints that are set and the subjects of its certificates
// ("ca_subjects" for CAs, "pinned_subjects" for certificates matched
// exactly; certificates are public, but the PEM is left out). An entry
// holding a CA and no name constraint is Unbound: every client
// certificate that CA ever signed logs in as it.
func (b *backend) Principals(ctx context.Context) ([]logical.Principal, error) {
	var out []logical.Principal
	err := b.entries.Each(ctx, func(name string, t *certEntry) error {
		p := t.Token.Principal("certificate", name)
		constrained := false
		for _, c := range []struct {
			field string
			v     []string
		}{
			{"allowed_names", t.AllowedNames},
			{"allowed_common_names", t.AllowedCommonNames},
			{"allowed_dns_sans", t.AllowedDNSSANs},
			{"allowed_email_sans", t.AllowedEmailSANs},
			{"allowed_uri_sans", t.AllowedURISANs},
			{"allowed_organizational_units", t.AllowedOUs},
		} {
			if len(c.v) > 0 {
				p.Bindings[c.field] = slices.Clone(c.v)
				constrained = true
			}
		}
		certs, err := parseCertificates(t.Certificate)
		if err != nil {
			return err
		}
		var cas, pinned []string
		for _, c := range certs {
			if c.BasicConstraintsValid && c.IsCA {
				cas = append(cas, c.Subject.String())
			} else {
				pinned = append(pinned, c.Subject.String())
			}
		}
		if len(cas) > 0 {
			p.Bindings["ca_subjects"] = cas
		}
		if len(pinned) > 0 {
			p.Bindings["pinned_subjects"] = pinned
		}
		p.Unbound = len(cas) > 0 && !constrained
		out = append(out, p)
		return nil
	})
	return out, err
}
