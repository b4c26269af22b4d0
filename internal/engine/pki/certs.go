package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// revokedEntry is the entry at revoked/<serial>.
type revokedEntry struct {
	SerialNumber string    `json:"serial_number"` // API form, aa:bb:...
	RevokedAt    time.Time `json:"revoked_at"`
	IssuerID     string    `json:"issuer_id"`
	Cert         []byte    `json:"cert"`
}

// crlEntry is the entry at crl/<issuer id>.
type crlEntry struct {
	Number     int64     `json:"number"`
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	DER        []byte    `json:"der"`
}

// certData is the data of cert/:serial.
type certData struct {
	Certificate           string   `json:"certificate"`
	RevocationTime        int64    `json:"revocation_time"`
	RevocationTimeRFC3339 string   `json:"revocation_time_rfc3339"`
	IssuerID              string   `json:"issuer_id"`
	CAChain               []string `json:"ca_chain,omitempty"`
}

func (b *Backend) readCert(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	serial := m.Get("serial")
	switch serial {
	case "ca", "ca_chain", "crl":
		return b.readSpecialCert(ctx, serial)
	}
	key, ok := serialKey(serial)
	if !ok {
		return nil, logical.InvalidRequest("invalid serial number")
	}
	e, err := b.storage.Get(ctx, certPrefix+key)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	var rev revokedEntry
	revoked, err := framework.GetJSON(ctx, b.storage, revokedPrefix+key, &rev)
	if err != nil {
		return nil, err
	}
	var der []byte
	switch {
	case e != nil:
		der = e.Value
	case revoked:
		der = rev.Cert
	default:
		return nil, nil
	}
	d := &certData{Certificate: encodeCert(formatPEM, der) + "\n"}
	if revoked {
		d.RevocationTime = rev.RevokedAt.Unix()
		d.RevocationTimeRFC3339 = rev.RevokedAt.UTC().Format(time.RFC3339Nano)
		d.IssuerID = rev.IssuerID
	} else if c, err := x509.ParseCertificate(der); err == nil {
		if st, err := b.state(ctx); err == nil {
			if iss := st.issuerOf(c, false); iss != nil {
				d.IssuerID = iss.entry.ID
			}
		}
	}
	return &logical.Response{Data: d}, nil
}

// readSpecialCert answers cert/ca, cert/ca_chain and cert/crl.
func (b *Backend) readSpecialCert(ctx context.Context, which string) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss := st.resolve("default")
	if iss == nil {
		return nil, nil
	}
	d := &certData{IssuerID: iss.entry.ID}
	switch which {
	case "ca":
		d.Certificate = encodeCert(formatPEM, iss.cert.Raw) + "\n"
	case "ca_chain":
		var all []string
		for _, c := range iss.chain {
			pemCert := encodeCert(formatPEM, c.Raw) + "\n"
			all = append(all, pemCert)
			d.CAChain = append(d.CAChain, pemCert)
		}
		d.Certificate = strings.Join(all, "")
	case "crl":
		c, err := b.currentCRL(ctx, iss)
		if err != nil {
			return nil, err
		}
		d.Certificate = string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.DER}))
	}
	return &logical.Response{Data: d}, nil
}

// issuerOf finds the issuer in the mount that signed c. With verify, the
// signature is checked; otherwise matching names and key identifiers
// suffice (for display).
func (s *caState) issuerOf(c *x509.Certificate, verify bool) *issuer {
	for _, iss := range s.sortedIssuers() {
		if string(iss.cert.RawSubject) != string(c.RawIssuer) {
			continue
		}
		if verify {
			if c.CheckSignatureFrom(iss.cert) == nil {
				return iss
			}
			continue
		}
		if len(c.AuthorityKeyId) == 0 || string(c.AuthorityKeyId) == string(iss.cert.SubjectKeyId) {
			return iss
		}
	}
	return nil
}

func (b *Backend) listCerts(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	return b.listSerials(ctx, certPrefix)
}

func (b *Backend) listRevoked(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	return b.listSerials(ctx, revokedPrefix)
}

func (b *Backend) listSerials(ctx context.Context, prefix string) (*logical.Response, error) {
	keys, err := b.storage.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	for i, k := range keys {
		keys[i] = apiSerial(k)
	}
	return framework.ListResponse(keys)
}

// revokeInput is the body of revoke.
type revokeInput struct {
	SerialNumber string `json:"serial_number"`
	Certificate  string `json:"certificate"`
}

// revokeData is the data of revoke.
type revokeData struct {
	RevocationTime        int64  `json:"revocation_time"`
	RevocationTimeRFC3339 string `json:"revocation_time_rfc3339"`
	State                 string `json:"state"`
}

func (r *revokedEntry) data() *revokeData {
	return &revokeData{
		RevocationTime:        r.RevokedAt.Unix(),
		RevocationTimeRFC3339: r.RevokedAt.UTC().Format(time.RFC3339Nano),
		State:                 "revoked",
	}
}

// revoke revokes a certificate given by serial number (it must be stored)
// or by the certificate itself (for certificates issued with no_store),
// and rebuilds its issuer's CRL in the same transaction.
func (b *Backend) revoke(ctx context.Context, _ *logical.Request, _ *framework.Match, in *revokeInput) (*logical.Response, error) {
	var given *x509.Certificate
	var key string
	switch {
	case in.Certificate != "":
		certs, err := parsePEMCerts(in.Certificate)
		if err != nil {
			return nil, err
		}
		if len(certs) != 1 {
			return nil, logical.InvalidRequest("certificate: want exactly one certificate")
		}
		given = certs[0]
		key = strings.ReplaceAll(formatSerial(given.SerialNumber), ":", "-")
		if in.SerialNumber != "" {
			if k, ok := serialKey(in.SerialNumber); !ok || k != key {
				return nil, logical.InvalidRequest("serial_number does not match the certificate")
			}
		}
	case in.SerialNumber != "":
		var ok bool
		if key, ok = serialKey(in.SerialNumber); !ok {
			return nil, logical.InvalidRequest("invalid serial_number %s: want hex octets separated by \":\" or \"-\"", show(in.SerialNumber))
		}
	default:
		return nil, logical.InvalidRequest("missing serial_number or certificate")
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	rev, warning, err := b.revokeLocked(ctx, key, given)
	if err != nil {
		return nil, err
	}
	if rev == nil {
		return &logical.Response{Warnings: []string{warning}}, nil
	}
	return &logical.Response{Data: rev.data()}, nil
}

// Causes of revocation failures that a lease revocation treats as done:
// there is nothing left to revoke.
var (
	errCertGone   = errors.New("certificate not stored")
	errIssuerGone = errors.New("issuer not in this mount")
)

// revokeLocked revokes the certificate with storage serial key (given, or
// read from storage) and rebuilds its issuer's CRL. It returns the
// revocation, the earlier one when the certificate was already revoked, or
// nil and a warning when it has expired (it is not listed then). A
// certificate that is not stored, or whose issuer is not in the mount, is
// an ErrInvalidRequest error wrapping errCertGone or errIssuerGone. b.mu
// must be held.
func (b *Backend) revokeLocked(ctx context.Context, key string, given *x509.Certificate) (*revokedEntry, string, error) {
	var prev revokedEntry
	if found, err := framework.GetJSON(ctx, b.storage, revokedPrefix+key, &prev); err != nil || found {
		if err != nil {
			return nil, "", err
		}
		return &prev, "", nil
	}
	st, err := b.state(ctx)
	if err != nil {
		return nil, "", err
	}
	cert := given
	if cert == nil {
		e, err := b.storage.Get(ctx, certPrefix+key)
		if err != nil {
			return nil, "", fmt.Errorf("read certificate: %w", err)
		}
		if e == nil {
			return nil, "", &logical.Error{Kind: logical.ErrInvalidRequest, Msg: fmt.Sprintf("certificate with serial number %s not found", apiSerial(key)), Err: errCertGone}
		}
		if cert, err = x509.ParseCertificate(e.Value); err != nil {
			return nil, "", fmt.Errorf("parse stored certificate %s: %w", apiSerial(key), err)
		}
	}
	for _, iss := range st.issuers {
		if string(iss.cert.Raw) == string(cert.Raw) {
			return nil, "", logical.InvalidRequest("certificate %s is issuer %s of this mount and cannot be revoked here", apiSerial(key), iss.entry.ID)
		}
	}
	iss := st.issuerOf(cert, true)
	if iss == nil {
		return nil, "", &logical.Error{Kind: logical.ErrInvalidRequest, Msg: fmt.Sprintf("certificate %s was not issued by an issuer of this mount", apiSerial(key)), Err: errIssuerGone}
	}
	if iss.signer == nil {
		return nil, "", logical.InvalidRequest("issuer %s of certificate %s has no key in this mount to sign a CRL", iss.entry.ID, apiSerial(key))
	}
	now := b.clock.Now()
	if now.After(cert.NotAfter) {
		return nil, fmt.Sprintf("certificate %s expired at %s; it is not added to the CRL", apiSerial(key), cert.NotAfter.UTC().Format(time.RFC3339)), nil
	}
	rev := &revokedEntry{SerialNumber: apiSerial(key), RevokedAt: now.UTC(), IssuerID: iss.entry.ID, Cert: cert.Raw}
	if _, err := b.rebuildCRLLocked(ctx, iss, rev); err != nil {
		return nil, "", err
	}
	return rev, "", nil
}

// loadCRL returns an issuer's stored CRL, or nil.
func (b *Backend) loadCRL(ctx context.Context, issuerID string) (*crlEntry, error) {
	var c crlEntry
	found, err := framework.GetJSON(ctx, b.storage, crlPrefix+issuerID, &c)
	if err != nil || !found {
		return nil, err
	}
	return &c, nil
}

// revokedBy returns the revocations of certificates issued by issuerID.
func (b *Backend) revokedBy(ctx context.Context, issuerID string) ([]revokedEntry, error) {
	keys, err := b.storage.List(ctx, revokedPrefix)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	var out []revokedEntry
	for _, k := range keys {
		var e revokedEntry
		found, err := framework.GetJSON(ctx, b.storage, revokedPrefix+k, &e)
		if err != nil {
			return nil, err
		}
		if found && e.IssuerID == issuerID {
			out = append(out, e)
		}
	}
	return out, nil
}

// rebuildCRLLocked signs a new CRL for iss listing its revocations, plus
// add when it is not nil, and stores both in one transaction. The CRL's
// lifetime is config/crl's expiry; it lists nothing when config/crl
// disables CRLs, and carries the issuing certificate URLs (config/urls or
// the issuer's) in an Authority Information Access extension. b.mu must
// be held.
func (b *Backend) rebuildCRLLocked(ctx context.Context, iss *issuer, add *revokedEntry) (*crlEntry, error) {
	entries, err := b.revokedBy(ctx, iss.entry.ID)
	if err != nil {
		return nil, err
	}
	cfg, err := b.loadCRLConfig(ctx)
	if err != nil {
		return nil, err
	}
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	urls, err := st.urlsFor(iss.entry.ID, iss.entry.URLs)
	if err != nil {
		return nil, err
	}
	exts, err := crlAIA(urls)
	if err != nil {
		return nil, err
	}
	var ops []logical.TxnOp
	if add != nil {
		entries = append(entries, *add)
		op, err := framework.PutJSONOp(revokedPrefix+strings.ReplaceAll(add.SerialNumber, ":", "-"), add)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	prev, err := b.loadCRL(ctx, iss.entry.ID)
	if err != nil {
		return nil, err
	}
	c := &crlEntry{Number: 1, ThisUpdate: b.clock.Now().UTC()}
	if prev != nil {
		c.Number = prev.Number + 1
	}
	c.NextUpdate = c.ThisUpdate.Add(cfg.lifetime())
	tmpl := &x509.RevocationList{Number: big.NewInt(c.Number), ThisUpdate: c.ThisUpdate, NextUpdate: c.NextUpdate, ExtraExtensions: exts}
	if cfg.Disable {
		entries = nil
	}
	for _, e := range entries {
		raw, err := hex.DecodeString(strings.ReplaceAll(e.SerialNumber, ":", ""))
		if err != nil {
			return nil, fmt.Errorf("decode revoked serial %s: %w", e.SerialNumber, err)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber:   new(big.Int).SetBytes(raw),
			RevocationTime: e.RevokedAt,
		})
	}
	if c.DER, err = x509.CreateRevocationList(rand.Reader, tmpl, iss.cert, iss.signer); err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: fmt.Sprintf("issuer %s cannot sign a CRL", iss.entry.ID), Err: err}
	}
	op, err := framework.PutJSONOp(crlPrefix+iss.entry.ID, c)
	if err != nil {
		return nil, err
	}
	if err := b.storage.Txn(ctx, append(ops, op)); err != nil {
		return nil, fmt.Errorf("store crl: %w", err)
	}
	return c, nil
}

// currentCRL returns the issuer's CRL, building it when there is none yet
// or the stored one is past its NextUpdate.
func (b *Backend) currentCRL(ctx context.Context, iss *issuer) (*crlEntry, error) {
	c, err := b.loadCRL(ctx, iss.entry.ID)
	if err != nil {
		return nil, err
	}
	if c != nil && b.clock.Now().Before(c.NextUpdate) {
		return c, nil
	}
	if iss.signer == nil {
		return nil, logical.InvalidRequest("issuer %s has no key in this mount to sign a CRL", iss.entry.ID)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, err = b.loadCRL(ctx, iss.entry.ID); err != nil || (c != nil && b.clock.Now().Before(c.NextUpdate)) {
		return c, err
	}
	return b.rebuildCRLLocked(ctx, iss, nil)
}

// readCRL answers crl (DER) and crl/pem for the default issuer; (nil,
// nil) when there is no default issuer.
func (b *Backend) readCRL(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss := st.resolve("default")
	if iss == nil {
		return nil, nil
	}
	c, err := b.currentCRL(ctx, iss)
	if err != nil {
		return nil, err
	}
	if m.Get("pem") != "" {
		body := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: c.DER})
		return &logical.Response{Raw: &logical.RawResponse{ContentType: "application/x-pem-file", Body: body}}, nil
	}
	return &logical.Response{Raw: &logical.RawResponse{ContentType: "application/pkix-crl", Body: c.DER}}, nil
}

// rotateData is the data of crl/rotate.
type rotateData struct {
	Success bool `json:"success"`
}

// noFields is the body of requests that take no fields; it makes such
// requests refuse bodies that are not an empty JSON object.
type noFields struct{}

// rotateCRL rebuilds the CRL of every issuer that has a key.
func (b *Backend) rotateCRL(ctx context.Context, _ *logical.Request, _ *framework.Match, _ *noFields) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var warnings []string
	for _, iss := range st.sortedIssuers() {
		if iss.signer == nil {
			continue
		}
		if _, err := b.rebuildCRLLocked(ctx, iss, nil); err != nil {
			if le, ok := errors.AsType[*logical.Error](err); ok {
				warnings = append(warnings, le.Msg)
				continue
			}
			return nil, err
		}
	}
	return &logical.Response{Data: &rotateData{Success: true}, Warnings: warnings}, nil
}

// tidyInput is the body of tidy.
type tidyInput struct {
	TidyCertStore                     framework.Bool      `json:"tidy_cert_store"`
	TidyRevokedCerts                  framework.Bool      `json:"tidy_revoked_certs"`
	TidyRevokedCertIssuerAssociations framework.Bool      `json:"tidy_revoked_cert_issuer_associations"`
	SafetyBuffer                      *framework.Duration `json:"safety_buffer"`
}

// tidyData is the data of tidy.
type tidyData struct {
	CertStoreDeletedCount   int   `json:"cert_store_deleted_count"`
	RevokedCertDeletedCount int   `json:"revoked_cert_deleted_count"`
	SafetyBuffer            int64 `json:"safety_buffer"`
}

// tidyBatch is how many deletions go into one transaction.
const tidyBatch = 256

// tidy removes certificates that expired more than safety_buffer ago from
// the certificate store and from the revocations (and so the CRLs). It
// runs to completion before answering.
func (b *Backend) tidy(ctx context.Context, _ *logical.Request, _ *framework.Match, in *tidyInput) (*logical.Response, error) {
	if !in.TidyCertStore && !in.TidyRevokedCerts && !in.TidyRevokedCertIssuerAssociations {
		return nil, logical.InvalidRequest("no tidy operation requested: set tidy_cert_store or tidy_revoked_certs")
	}
	buffer := defaultSafetyBuffer
	if in.SafetyBuffer != nil {
		buffer = time.Duration(*in.SafetyBuffer)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	d, err := b.tidyLocked(ctx, bool(in.TidyCertStore), bool(in.TidyRevokedCerts), buffer)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: d}, nil
}

// tidyLocked removes the certificates that expired more than buffer ago
// from the certificate store (certStore) and the revocations (revoked),
// rebuilding the CRLs that change. b.mu must be held.
func (b *Backend) tidyLocked(ctx context.Context, certStore, revoked bool, buffer time.Duration) (*tidyData, error) {
	cutoff := b.clock.Now().Add(-buffer)
	d := &tidyData{SafetyBuffer: framework.Seconds(buffer)}
	if certStore {
		n, err := b.tidyPrefixLocked(ctx, certPrefix, cutoff, func(v []byte) ([]byte, string, error) { return v, "", nil })
		if err != nil {
			return nil, err
		}
		d.CertStoreDeletedCount = n
	}
	if revoked {
		touched := map[string]bool{}
		n, err := b.tidyPrefixLocked(ctx, revokedPrefix, cutoff, func(v []byte) ([]byte, string, error) {
			var e revokedEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return nil, "", err
			}
			return e.Cert, e.IssuerID, nil
		}, touched)
		if err != nil {
			return nil, err
		}
		d.RevokedCertDeletedCount = n
		st, err := b.state(ctx)
		if err != nil {
			return nil, err
		}
		for id := range touched {
			if iss := st.issuers[id]; iss != nil && iss.signer != nil {
				if _, err := b.rebuildCRLLocked(ctx, iss, nil); err != nil {
					return nil, err
				}
			}
		}
	}
	return d, nil
}

// tidyPrefixLocked deletes the entries under prefix whose certificate
// (extracted by certOf, with the issuer ID) expired before cutoff, and
// records the issuers of deleted entries in touched when given.
func (b *Backend) tidyPrefixLocked(ctx context.Context, prefix string, cutoff time.Time, certOf func([]byte) ([]byte, string, error), touched ...map[string]bool) (int, error) {
	keys, err := b.storage.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	deleted := 0
	var ops []logical.TxnOp
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if err := b.storage.Txn(ctx, ops); err != nil {
			return fmt.Errorf("tidy %s: %w", prefix, err)
		}
		deleted += len(ops)
		ops = ops[:0]
		return nil
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		e, err := b.storage.Get(ctx, prefix+k)
		if err != nil {
			return deleted, fmt.Errorf("read %s%s: %w", prefix, k, err)
		}
		if e == nil {
			continue
		}
		der, issuerID, err := certOf(e.Value)
		if err != nil {
			b.logger.Warn("tidy: skipping an entry that does not decode", "key", prefix+k, "error", err)
			continue
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			b.logger.Warn("tidy: skipping a certificate that does not parse", "key", prefix+k, "error", err)
			continue
		}
		if !c.NotAfter.Before(cutoff) {
			continue
		}
		ops = append(ops, logical.TxnOp{Key: prefix + k, Delete: true})
		for _, t := range touched {
			t[issuerID] = true
		}
		if len(ops) == tidyBatch {
			if err := flush(); err != nil {
				return deleted, err
			}
		}
	}
	return deleted, flush()
}
