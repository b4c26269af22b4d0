package pki

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// issueInput is the body of issue/:role.
type issueInput struct {
	sanInput
	TTL                  framework.Duration `json:"ttl"`
	Format               string             `json:"format"`
	PrivateKeyFormat     string             `json:"private_key_format"`
	RemoveRootsFromChain framework.Bool     `json:"remove_roots_from_chain"`
}

// signInput is the body of sign/:role.
type signInput struct {
	issueInput
	CSR string `json:"csr"`
}

// issue generates a key of the role's type and a certificate for it.
func (b *Backend) issue(ctx context.Context, _ *logical.Request, m *framework.Match, in *issueInput) (*logical.Response, error) {
	roleName := m.Get("role")
	r, err := b.roleFor(ctx, roleName)
	if err != nil {
		return nil, err
	}
	if r.KeyType == keyAny {
		return nil, logical.InvalidRequest("role %s has key_type any, which only sign/%s can use", roleName, roleName)
	}
	format, err := checkFormats(in.Format, in.PrivateKeyFormat)
	if err != nil {
		return nil, err
	}
	n, err := parseSANs(&in.sanInput)
	if err != nil {
		return nil, err
	}
	if err := r.Names.check(roleName, n); err != nil {
		return nil, err
	}
	key, err := generateKey(r.KeyType, r.KeyBits)
	if err != nil {
		return nil, err
	}
	resp, err := b.createLeaf(ctx, r, n, key.Public(), in, format)
	if err != nil {
		return nil, err
	}
	d := resp.Data.(*signedResponse)
	keyFormat := format
	if format == formatPEMBundle {
		keyFormat = formatPEM
	}
	if d.PrivateKey, d.PrivateKeyType, err = encodePrivateKey(keyFormat, in.PrivateKeyFormat, key); err != nil {
		return nil, err
	}
	if format == formatPEMBundle {
		d.Certificate = d.PrivateKey + "\n" + d.Certificate
	}
	return resp, nil
}

// sign signs a CSR under a role.
func (b *Backend) sign(ctx context.Context, _ *logical.Request, m *framework.Match, in *signInput) (*logical.Response, error) {
	roleName := m.Get("role")
	r, err := b.roleFor(ctx, roleName)
	if err != nil {
		return nil, err
	}
	format, err := checkFormats(in.Format, "")
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(in.CSR)
	if err != nil {
		return nil, err
	}
	if err := r.checkPublicKey(roleName, csr.PublicKey); err != nil {
		return nil, err
	}
	n, err := parseSANs(&in.sanInput)
	if err != nil {
		return nil, err
	}
	fromReq := fromCSR(csr)
	if r.UseCSRCommonName {
		n.cn = fromReq.cn
	}
	if r.UseCSRSANs {
		n.dns, n.emails, n.ips, n.uris = fromReq.dns, fromReq.emails, fromReq.ips, fromReq.uris
	}
	if !in.ExcludeCNFromSANs {
		n.addCN()
	}
	if err := r.Names.check(roleName, n); err != nil {
		return nil, err
	}
	return b.createLeaf(ctx, r, n, csr.PublicKey, &in.issueInput, format)
}

// roleFor loads a role, refusing an unknown one.
func (b *Backend) roleFor(ctx context.Context, name string) (*role, error) {
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("unknown role %s", name)
	}
	return r, nil
}

// checkPublicKey verifies a CSR's key against the role's key_type and
// key_bits (a minimum).
func (r *role) checkPublicKey(roleName string, pub crypto.PublicKey) error {
	typ, bits, ok := publicKeyParams(pub)
	if !ok {
		return logical.InvalidRequest("unsupported public key type")
	}
	if r.KeyType != keyAny && typ != r.KeyType {
		return logical.InvalidRequest("role %s requires key_type %s; the CSR has a %s key", roleName, r.KeyType, typ)
	}
	if typ == keyRSA && bits < max(r.KeyBits, 2048) {
		return logical.InvalidRequest("role %s requires RSA keys of at least %d bits; the CSR's has %d", roleName, max(r.KeyBits, 2048), bits)
	}
	if typ == keyEC && r.KeyType == keyEC && bits < r.KeyBits {
		return logical.InvalidRequest("role %s requires EC keys of at least %d bits; the CSR's has %d", roleName, r.KeyBits, bits)
	}
	return nil
}

// leafTTL picks a certificate's lifetime from the request, the role and
// the mount, with a warning when the request was cut down.
func (b *Backend) leafTTL(r *role, requested time.Duration) (time.Duration, []string) {
	maxTTL := b.system.MaxLeaseTTL()
	if r.MaxTTL > 0 && (maxTTL <= 0 || r.MaxTTL < maxTTL) {
		maxTTL = r.MaxTTL
	}
	ttl := requested
	if ttl == 0 {
		ttl = r.TTL
	}
	if ttl == 0 {
		ttl = b.system.DefaultLeaseTTL()
	}
	if maxTTL > 0 && ttl > maxTTL {
		var warnings []string
		if requested > 0 {
			warnings = []string{fmt.Sprintf("ttl %s is longer than the maximum of %s; capped", requested, maxTTL)}
		}
		return maxTTL, warnings
	}
	return ttl, nil
}

// createLeaf signs a certificate for pub with the role's issuer and
// stores it unless the role says no_store. It answers with the
// certificate and chain; the caller adds the private key, if any.
func (b *Backend) createLeaf(ctx context.Context, r *role, n *names, pub crypto.PublicKey, in *issueInput, format string) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss, err := st.signingIssuer(r.IssuerRef)
	if err != nil {
		return nil, err
	}
	now := b.clock.Now()
	ttl, warnings := b.leafTTL(r, time.Duration(in.TTL))
	notAfter, w, err := leafLifetime(now, ttl, iss)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, w...)
	ku, _ := keyUsages(r.KeyUsage) // validated when stored
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               r.Subject.name(n.cn),
		NotBefore:             now.Add(-r.NotBeforeDuration),
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           r.extKeyUsage(),
		BasicConstraintsValid: true,
	}
	n.apply(tmpl)
	urls, err := st.urlsFor(iss.entry.ID, iss.entry.URLs)
	if err != nil {
		return nil, err
	}
	applyURLs(tmpl, urls)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, iss.cert, pub, iss.signer)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "the certificate cannot be created from these parameters", Err: err}
	}
	serialStr := formatSerial(serial)
	if !r.NoStore {
		key := certPrefix + strings.ReplaceAll(serialStr, ":", "-")
		if err := b.storage.Put(ctx, &logical.StorageEntry{Key: key, Value: der}); err != nil {
			return nil, fmt.Errorf("store certificate: %w", err)
		}
	}
	d := signedData(format, der, iss, bool(in.RemoveRootsFromChain))
	d.SerialNumber, d.Expiration = serialStr, notAfter.Unix()
	resp := &logical.Response{Data: d, Warnings: warnings}
	if r.GenerateLease {
		resp.Secret = leaseFor(r, serialStr, der, notAfter.Sub(now))
	}
	return resp, nil
}
