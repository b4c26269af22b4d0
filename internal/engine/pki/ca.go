package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// caInput is the body of root/generate and intermediate/generate.
type caInput struct {
	sanInput
	subjectFields
	TTL                 framework.Duration     `json:"ttl"`
	Format              string                 `json:"format"`
	PrivateKeyFormat    string                 `json:"private_key_format"`
	KeyType             string                 `json:"key_type"`
	KeyBits             framework.Int          `json:"key_bits"`
	IssuerName          string                 `json:"issuer_name"`
	KeyName             string                 `json:"key_name"`
	MaxPathLength       *framework.Int         `json:"max_path_length"`
	NotBeforeDuration   *framework.Duration    `json:"not_before_duration"`
	PermittedDNSDomains framework.CommaStrings `json:"permitted_dns_domains"`
}

// caResponse is the data of root/generate.
type caResponse struct {
	Certificate    string `json:"certificate"`
	IssuingCA      string `json:"issuing_ca"`
	SerialNumber   string `json:"serial_number"`
	Expiration     int64  `json:"expiration"`
	IssuerID       string `json:"issuer_id"`
	IssuerName     string `json:"issuer_name"`
	KeyID          string `json:"key_id"`
	KeyName        string `json:"key_name"`
	PrivateKey     string `json:"private_key,omitempty"`
	PrivateKeyType string `json:"private_key_type,omitempty"`
}

// checkObjectName validates an issuer or key name: letters, digits, "_"
// and "-", not "default", at most 128 bytes. "" is allowed (no name).
func checkObjectName(field, name string) error {
	if name == "" {
		return nil
	}
	ok := name != "default" && len(name) <= 128
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return logical.InvalidRequest("invalid %s: use letters, digits, \"_\" and \"-\", at most 128 bytes, not \"default\"", field)
	}
	return nil
}

// caTTL applies the mount's default and maximum to a requested CA
// lifetime.
func (b *Backend) caTTL(requested time.Duration) (time.Duration, []string) {
	ttl := requested
	if ttl == 0 {
		ttl = b.system.DefaultLeaseTTL()
	}
	if maxTTL := b.system.MaxLeaseTTL(); maxTTL > 0 && ttl > maxTTL {
		return maxTTL, []string{fmt.Sprintf("ttl %s is longer than the mount's max TTL; capped at %s", requested, maxTTL)}
	}
	return ttl, nil
}

func (b *Backend) generateRoot(ctx context.Context, _ *logical.Request, m *framework.Match, in *caInput) (*logical.Response, error) {
	exported := m.Get("type") == "exported"
	format, err := checkFormats(in.Format, in.PrivateKeyFormat)
	if err != nil {
		return nil, err
	}
	if in.CommonName == "" {
		return nil, logical.InvalidRequest("missing common_name")
	}
	if err := firstError(checkObjectName("issuer_name", in.IssuerName), checkObjectName("key_name", in.KeyName)); err != nil {
		return nil, err
	}
	typ, bits, err := checkKeyParams(in.KeyType, int64(in.KeyBits))
	if err != nil {
		return nil, err
	}
	n, err := parseSANs(&in.sanInput)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := b.clock.Now()
	ttl, warnings := b.caTTL(time.Duration(in.TTL))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               in.name(n.cn),
		NotBefore:             notBefore(now, in.NotBeforeDuration),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		PermittedDNSDomains:   in.PermittedDNSDomains,
	}
	n.apply(tmpl)
	if err := maxPathLen(tmpl, in.MaxPathLength); err != nil {
		return nil, err
	}
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	issuerID := newUUID()
	urls, err := st.urlsFor(issuerID, nil)
	if err != nil {
		return nil, err
	}
	applyURLs(tmpl, urls)
	key, err := generateKey(typ, bits)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "the root certificate cannot be created from these parameters", Err: err}
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode root key: %w", err)
	}

	keyE := keyEntry{ID: newUUID(), Name: in.KeyName, Type: typ, PKCS8: pkcs8}
	issE := issuerEntry{ID: issuerID, Name: in.IssuerName, KeyID: keyE.ID, Cert: der}
	if err := b.addIssuer(ctx, &keyE, &issE, []logical.TxnOp{{Key: certPrefix + strings.ReplaceAll(formatSerial(serial), ":", "-"), Value: der}}); err != nil {
		return nil, err
	}
	resp := &caResponse{
		Certificate:  encodeCert(format, der),
		IssuingCA:    encodeCert(format, der),
		SerialNumber: formatSerial(serial),
		Expiration:   tmpl.NotAfter.Unix(),
		IssuerID:     issE.ID,
		IssuerName:   issE.Name,
		KeyID:        keyE.ID,
		KeyName:      keyE.Name,
	}
	if exported {
		keyFormat := format
		if format == formatPEMBundle {
			keyFormat = formatPEM
		}
		if resp.PrivateKey, resp.PrivateKeyType, err = encodePrivateKey(keyFormat, in.PrivateKeyFormat, key); err != nil {
			return nil, err
		}
		if format == formatPEMBundle {
			resp.Certificate = resp.PrivateKey + "\n" + resp.Certificate
		}
	}
	return &logical.Response{Data: resp, Warnings: warnings}, nil
}

// addIssuer stores a new issuer, its key when keyE is not nil, and extra
// operations in one transaction, making the issuer the default when there
// is none or the configuration says the default follows the latest.
func (b *Backend) addIssuer(ctx context.Context, keyE *keyEntry, issE *issuerEntry, extra []logical.TxnOp) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.state(ctx)
	if err != nil {
		return err
	}
	if issE.Name != "" && st.names[issE.Name] != "" {
		return logical.InvalidRequest("issuer name %s is already in use", issE.Name)
	}
	for _, iss := range st.issuers {
		if string(iss.entry.Cert) == string(issE.Cert) {
			return logical.InvalidRequest("the certificate is already issuer %s", iss.entry.ID)
		}
	}
	var ops []logical.TxnOp
	if keyE != nil {
		if keyE.Name != "" {
			for _, k := range st.keys {
				if k.entry.Name == keyE.Name {
					return logical.InvalidRequest("key name %s is already in use", keyE.Name)
				}
			}
		}
		op, err := framework.PutJSONOp(keyPrefix+keyE.ID, keyE)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	op, err := framework.PutJSONOp(issuerPrefix+issE.ID, issE)
	if err != nil {
		return err
	}
	ops = append(ops, op)
	if st.issuers[st.config.Default] == nil || st.config.DefaultFollowsLatest {
		cfg := st.config
		cfg.Default = issE.ID
		op, err := framework.PutJSONOp(configIssuersKey, cfg)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	ops = append(ops, extra...)
	defer b.invalidate()
	if err := b.storage.Txn(ctx, ops); err != nil {
		return fmt.Errorf("store issuer: %w", err)
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// intermediateResponse is the data of intermediate/generate.
type intermediateResponse struct {
	CSR            string `json:"csr"`
	KeyID          string `json:"key_id"`
	KeyName        string `json:"key_name"`
	PrivateKey     string `json:"private_key,omitempty"`
	PrivateKeyType string `json:"private_key_type,omitempty"`
}

func (b *Backend) generateIntermediate(ctx context.Context, _ *logical.Request, m *framework.Match, in *caInput) (*logical.Response, error) {
	exported := m.Get("type") == "exported"
	format, err := checkFormats(in.Format, in.PrivateKeyFormat)
	if err != nil {
		return nil, err
	}
	if format == formatPEMBundle {
		format = formatPEM
	}
	if in.CommonName == "" {
		return nil, logical.InvalidRequest("missing common_name")
	}
	if err := checkObjectName("key_name", in.KeyName); err != nil {
		return nil, err
	}
	typ, bits, err := checkKeyParams(in.KeyType, int64(in.KeyBits))
	if err != nil {
		return nil, err
	}
	n, err := parseSANs(&in.sanInput)
	if err != nil {
		return nil, err
	}
	key, err := generateKey(typ, bits)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.CertificateRequest{
		Subject:        in.name(n.cn),
		DNSNames:       n.dns,
		EmailAddresses: n.emails,
		IPAddresses:    n.ips,
		URIs:           n.uris,
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "the CSR cannot be created from these parameters", Err: err}
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode intermediate key: %w", err)
	}
	keyE := keyEntry{ID: newUUID(), Name: in.KeyName, Type: typ, PKCS8: pkcs8}
	if err := b.addKey(ctx, &keyE); err != nil {
		return nil, err
	}
	resp := &intermediateResponse{CSR: encodeBlock(format, "CERTIFICATE REQUEST", csr), KeyID: keyE.ID, KeyName: keyE.Name}
	if exported {
		if resp.PrivateKey, resp.PrivateKeyType, err = encodePrivateKey(format, in.PrivateKeyFormat, key); err != nil {
			return nil, err
		}
	}
	return &logical.Response{Data: resp}, nil
}

// addKey stores a key that has no issuer yet.
func (b *Backend) addKey(ctx context.Context, keyE *keyEntry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.state(ctx)
	if err != nil {
		return err
	}
	if keyE.Name != "" {
		for _, k := range st.keys {
			if k.entry.Name == keyE.Name {
				return logical.InvalidRequest("key name %s is already in use", keyE.Name)
			}
		}
	}
	op, err := framework.PutJSONOp(keyPrefix+keyE.ID, keyE)
	if err != nil {
		return err
	}
	defer b.invalidate()
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: op.Key, Value: op.Value}); err != nil {
		return fmt.Errorf("store key: %w", err)
	}
	return nil
}

// setSignedInput is the body of intermediate/set-signed.
type setSignedInput struct {
	Certificate string `json:"certificate"`
}

// setSignedResponse is the data of intermediate/set-signed.
type setSignedResponse struct {
	ImportedIssuers []string          `json:"imported_issuers"`
	ImportedKeys    []string          `json:"imported_keys"`
	Mapping         map[string]string `json:"mapping"`
	ExistingIssuers []string          `json:"existing_issuers"`
	ExistingKeys    []string          `json:"existing_keys"`
}

// setSigned imports the signed certificate of an intermediate whose key
// this mount holds, followed optionally by its parents (nearest first).
func (b *Backend) setSigned(ctx context.Context, _ *logical.Request, _ *framework.Match, in *setSignedInput) (*logical.Response, error) {
	certs, err := parsePEMCerts(in.Certificate)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	if !leaf.BasicConstraintsValid || !leaf.IsCA {
		return nil, logical.InvalidRequest("the first certificate is not a CA certificate")
	}
	for i := 1; i < len(certs); i++ {
		if err := certs[i-1].CheckSignatureFrom(certs[i]); err != nil {
			return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: fmt.Sprintf("certificate %d of the bundle is not signed by certificate %d", i, i+1), Err: err}
		}
	}
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	var key *caKey
	for _, k := range st.keys {
		if publicKeysEqual(k.signer.Public(), leaf.PublicKey) {
			key = k
			break
		}
	}
	if key == nil {
		return nil, logical.InvalidRequest("no key in this mount matches the certificate's public key: generate the CSR with intermediate/generate on this mount")
	}
	for _, iss := range st.issuers {
		if string(iss.entry.Cert) == string(leaf.Raw) {
			return &logical.Response{Data: &setSignedResponse{
				Mapping:         map[string]string{iss.entry.ID: iss.entry.KeyID},
				ExistingIssuers: []string{iss.entry.ID},
				ExistingKeys:    []string{key.entry.ID},
			}}, nil
		}
	}
	issE := issuerEntry{ID: newUUID(), KeyID: key.entry.ID, Cert: leaf.Raw}
	for _, c := range certs[1:] {
		issE.Chain = append(issE.Chain, c.Raw)
	}
	if err := b.addIssuer(ctx, nil, &issE, nil); err != nil {
		return nil, err
	}
	var warnings []string
	if b.clock.Now().After(leaf.NotAfter) {
		warnings = append(warnings, "the imported certificate has expired")
	}
	return &logical.Response{Data: &setSignedResponse{
		ImportedIssuers: []string{issE.ID},
		Mapping:         map[string]string{issE.ID: issE.KeyID},
	}, Warnings: warnings}, nil
}

// maxBundleCerts bounds how many certificates one PEM bundle may hold.
const maxBundleCerts = 16

// parsePEMCerts parses a PEM bundle of certificates. Blocks of other types
// and trailing garbage are refused.
func parsePEMCerts(s string) ([]*x509.Certificate, error) {
	rest := []byte(strings.TrimSpace(s))
	var out []*x509.Certificate
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, logical.InvalidRequest("certificate: not a PEM bundle of certificates")
		}
		if block.Type != "CERTIFICATE" {
			return nil, logical.InvalidRequest("certificate: unexpected PEM block %s", show(block.Type))
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "certificate: a certificate does not parse", Err: err}
		}
		if out = append(out, c); len(out) > maxBundleCerts {
			return nil, logical.InvalidRequest("certificate: more than %d certificates", maxBundleCerts)
		}
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(out) == 0 {
		return nil, logical.InvalidRequest("missing certificate")
	}
	return out, nil
}
