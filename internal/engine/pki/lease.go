package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

var _ logical.Leaser = (*Backend)(nil)

// Keys of a certificate lease's internal data.
const (
	dataSerial = "serial_number"
	// dataCertificate holds the certificate (PEM) when the role does not
	// store it (no_store), so that the lease can still revoke it.
	dataCertificate = "certificate"
)

// leaseFor returns the lease of a certificate issued under a role with
// generate_lease: it lasts as long as the certificate and revoking it
// revokes the certificate.
func leaseFor(r *role, serial string, der []byte, lifetime time.Duration) *logical.Secret {
	s := &logical.Secret{TTL: lifetime, MaxTTL: lifetime, InternalData: map[string]string{dataSerial: serial}}
	if r.NoStore {
		s.InternalData[dataCertificate] = encodeCert(formatPEM, der)
	}
	return s
}

// RenewSecret implements [logical.Leaser]: a certificate's lease cannot
// outlive the certificate, so it is never renewed.
func (b *Backend) RenewSecret(context.Context, *logical.LeasedSecret) (time.Duration, error) {
	return 0, logical.InvalidRequest("a certificate's lease cannot be renewed: issue a new certificate")
}

// RevokeSecret implements [logical.Leaser]: it revokes the lease's
// certificate, which its issuer's CRL then lists. A certificate that is
// already revoked, expired, tidied away or whose issuer is gone needs
// nothing more.
func (b *Backend) RevokeSecret(ctx context.Context, s *logical.LeasedSecret) error {
	serial := s.InternalData[dataSerial]
	key, ok := serialKey(serial)
	if !ok {
		return logical.InvalidRequest("lease has no valid certificate serial number")
	}
	var given *x509.Certificate
	if p := s.InternalData[dataCertificate]; p != "" {
		certs, err := parsePEMCerts(p)
		if err != nil {
			return err
		}
		given = certs[0]
		if strings.ReplaceAll(formatSerial(given.SerialNumber), ":", "-") != key {
			return logical.InvalidRequest("lease's certificate does not match its serial number")
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _, err := b.revokeLocked(ctx, key, given)
	if errors.Is(err, errCertGone) || errors.Is(err, errIssuerGone) {
		b.logger.Info("certificate lease revoked with nothing to revoke", "serial_number", serial, "reason", err)
		return nil
	}
	return err
}
