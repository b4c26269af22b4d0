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

// signIntermediateInput is the body of root/sign-intermediate.
type signIntermediateInput struct {
	sanInput
	subjectFields
	CSR                 string                 `json:"csr"`
	TTL                 framework.Duration     `json:"ttl"`
	Format              string                 `json:"format"`
	UseCSRValues        framework.Bool         `json:"use_csr_values"`
	IssuerRef           string                 `json:"issuer_ref"`
	MaxPathLength       *framework.Int         `json:"max_path_length"`
	NotBeforeDuration   *framework.Duration    `json:"not_before_duration"`
	PermittedDNSDomains framework.CommaStrings `json:"permitted_dns_domains"`
}

// signedResponse is the data of a signing request: sign-intermediate,
// issue and sign.
type signedResponse struct {
	Certificate    string   `json:"certificate"`
	IssuingCA      string   `json:"issuing_ca"`
	CAChain        []string `json:"ca_chain"`
	PrivateKey     string   `json:"private_key,omitempty"`
	PrivateKeyType string   `json:"private_key_type,omitempty"`
	SerialNumber   string   `json:"serial_number"`
	Expiration     int64    `json:"expiration"`
}

// maxCSRBytes bounds the CSR a request may carry.
const maxCSRBytes = 64 << 10

// parseCSR parses a PEM CSR and checks its signature. Every failure is an
// ErrInvalidRequest error.
func parseCSR(s string) (*x509.CertificateRequest, error) {
	if strings.TrimSpace(s) == "" {
		return nil, logical.InvalidRequest("missing csr")
	}
	if len(s) > maxCSRBytes {
		return nil, logical.InvalidRequest("csr is longer than %d bytes", maxCSRBytes)
	}
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, logical.InvalidRequest("csr: want one PEM block")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, logical.InvalidRequest("csr: unexpected PEM block %s", show(block.Type))
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "csr does not parse", Err: err}
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "csr signature does not verify", Err: err}
	}
	if _, _, ok := publicKeyParams(csr.PublicKey); !ok {
		return nil, logical.InvalidRequest("csr: unsupported public key type")
	}
	return csr, nil
}

// leafLifetime caps a lifetime at the issuer's expiry: it returns the
// NotAfter to use and a warning when it was cut short.
func leafLifetime(now time.Time, ttl time.Duration, iss *issuer) (time.Time, []string, error) {
	if !now.Before(iss.cert.NotAfter) {
		return time.Time{}, nil, logical.InvalidRequest("issuer %s expired at %s", iss.entry.ID, iss.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	notAfter := now.Add(ttl)
	if notAfter.After(iss.cert.NotAfter) {
		return iss.cert.NotAfter, []string{fmt.Sprintf("the requested lifetime ends after the issuer's (%s); the certificate expires with it", iss.cert.NotAfter.UTC().Format(time.RFC3339))}, nil
	}
	return notAfter, nil, nil
}

func (b *Backend) signIntermediate(ctx context.Context, _ *logical.Request, m *framework.Match, in *signIntermediateInput) (*logical.Response, error) {
	format, err := checkFormats(in.Format, "")
	if err != nil {
		return nil, err
	}
	csr, err := parseCSR(in.CSR)
	if err != nil {
		return nil, err
	}
	ref := m.Get("ref")
	if ref == "" {
		ref = in.IssuerRef
	}
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss, err := st.signingIssuer(ref)
	if err != nil {
		return nil, err
	}
	var n *names
	subject := in.name(in.CommonName)
	if in.UseCSRValues {
		n, subject = fromCSR(csr), csr.Subject
	} else {
		if in.CommonName == "" {
			// Vault's guides sign intermediates without a common_name: the
			// CSR's common name is used then.
			if csr.Subject.CommonName == "" {
				return nil, logical.InvalidRequest("missing common_name: give one, or put one in the CSR, or set use_csr_values")
			}
			subject = in.name(csr.Subject.CommonName)
		}
		if n, err = parseSANs(&in.sanInput); err != nil {
			return nil, err
		}
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := b.clock.Now()
	ttl, warnings := b.caTTL(time.Duration(in.TTL))
	notAfter, w, err := leafLifetime(now, ttl, iss)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, w...)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore(now, in.NotBeforeDuration),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		PermittedDNSDomains:   in.PermittedDNSDomains,
	}
	n.apply(tmpl)
	if err := maxPathLen(tmpl, in.MaxPathLength); err != nil {
		return nil, err
	}
	urls, err := st.urlsFor(iss.entry.ID, iss.entry.URLs)
	if err != nil {
		return nil, err
	}
	applyURLs(tmpl, urls)
	if p := iss.cert; p.MaxPathLen > 0 || p.MaxPathLenZero {
		if p.MaxPathLen == 0 {
			return nil, logical.InvalidRequest("issuer %s may not sign CA certificates: its max_path_length is 0", iss.entry.ID)
		}
		if tmpl.MaxPathLen < 0 || tmpl.MaxPathLen > p.MaxPathLen-1 {
			tmpl.MaxPathLen = p.MaxPathLen - 1
			tmpl.MaxPathLenZero = tmpl.MaxPathLen == 0
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, iss.cert, csr.PublicKey, iss.signer)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "the certificate cannot be created from these parameters", Err: err}
	}
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: certPrefix + strings.ReplaceAll(formatSerial(serial), ":", "-"), Value: der}); err != nil {
		return nil, fmt.Errorf("store certificate: %w", err)
	}
	resp := signedData(format, der, iss, false)
	resp.SerialNumber, resp.Expiration = formatSerial(serial), notAfter.Unix()
	return &logical.Response{Data: resp, Warnings: warnings}, nil
}

// signedData renders a new certificate and its issuer's chain. With
// pem_bundle, the certificate field carries the chain too.
func signedData(format string, der []byte, iss *issuer, removeRoots bool) *signedResponse {
	certFormat := format
	if format == formatPEMBundle {
		certFormat = formatPEM
	}
	resp := &signedResponse{Certificate: encodeCert(certFormat, der), CAChain: make([]string, 0, len(iss.chain))}
	for i, c := range iss.chain {
		if removeRoots && isSelfSignedQuick(c) {
			continue
		}
		enc := iss.chainPEM[i]
		if certFormat == formatDER {
			enc = encodeCert(formatDER, c.Raw)
		}
		resp.CAChain = append(resp.CAChain, enc)
	}
	resp.IssuingCA = iss.chainPEM[0]
	if certFormat == formatDER {
		resp.IssuingCA = encodeCert(formatDER, iss.cert.Raw)
	}
	if format == formatPEMBundle {
		resp.Certificate = strings.Join(append([]string{resp.Certificate}, resp.CAChain...), "\n")
	}
	return resp
}

// isSelfSignedQuick reports whether c names itself as its issuer, without
// checking the signature (for certificates already trusted).
func isSelfSignedQuick(c *x509.Certificate) bool {
	return string(c.RawSubject) == string(c.RawIssuer)
}

// issuerKeyInfo is one issuer in a LIST issuers answer.
type issuerKeyInfo struct {
	IssuerName string `json:"issuer_name"`
	IsDefault  bool   `json:"is_default"`
	KeyID      string `json:"key_id"`
}

// listIssuersData is the data of LIST issuers.
type listIssuersData struct {
	Keys    []string                 `json:"keys"`
	KeyInfo map[string]issuerKeyInfo `json:"key_info"`
}

func (b *Backend) listIssuers(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil || len(st.issuers) == 0 {
		return nil, err
	}
	d := &listIssuersData{KeyInfo: make(map[string]issuerKeyInfo, len(st.issuers))}
	for _, iss := range st.sortedIssuers() {
		d.Keys = append(d.Keys, iss.entry.ID)
		d.KeyInfo[iss.entry.ID] = issuerKeyInfo{IssuerName: iss.entry.Name, IsDefault: iss.entry.ID == st.config.Default, KeyID: iss.entry.KeyID}
	}
	return &logical.Response{Data: d}, nil
}

// issuerData is the data of an issuer read.
type issuerData struct {
	IssuerID             string   `json:"issuer_id"`
	IssuerName           string   `json:"issuer_name"`
	KeyID                string   `json:"key_id"`
	Certificate          string   `json:"certificate"`
	CAChain              []string `json:"ca_chain"`
	ManualChain          []string `json:"manual_chain"`
	LeafNotAfterBehavior string   `json:"leaf_not_after_behavior"`
	Usage                string   `json:"usage"`
	SerialNumber         string   `json:"serial_number"`
	// The issuer's own AIA URLs; empty lists mean the mount's apply.
	IssuingCertificates    []string `json:"issuing_certificates"`
	CRLDistributionPoints  []string `json:"crl_distribution_points"`
	OCSPServers            []string `json:"ocsp_servers"`
	EnableAIAURLTemplating bool     `json:"enable_aia_url_templating"`
}

func (iss *issuer) data() *issuerData {
	d := &issuerData{
		IssuerID:             iss.entry.ID,
		IssuerName:           iss.entry.Name,
		KeyID:                iss.entry.KeyID,
		Certificate:          encodeCert(formatPEM, iss.cert.Raw) + "\n",
		LeafNotAfterBehavior: "truncate",
		Usage:                "read-only,issuing-certificates,crl-signing",
		SerialNumber:         formatSerial(iss.cert.SerialNumber),
	}
	var u aiaURLs
	if iss.entry.URLs != nil {
		u = *iss.entry.URLs
	}
	d.IssuingCertificates = nonNilStrings(u.IssuingCertificates)
	d.CRLDistributionPoints = nonNilStrings(u.CRLDistributionPoints)
	d.OCSPServers = nonNilStrings(u.OCSPServers)
	d.EnableAIAURLTemplating = u.EnableTemplating
	for _, c := range iss.chain {
		d.CAChain = append(d.CAChain, encodeCert(formatPEM, c.Raw)+"\n")
	}
	return d
}

func (b *Backend) readIssuer(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss := st.resolve(m.Get("ref"))
	if iss == nil {
		return nil, nil
	}
	return &logical.Response{Data: iss.data()}, nil
}

// issuerInput is the body of an issuer write; absent fields keep their
// value.
type issuerInput struct {
	IssuerName             *string                 `json:"issuer_name"`
	LeafNotAfterBehavior   *string                 `json:"leaf_not_after_behavior"`
	IssuingCertificates    *framework.CommaStrings `json:"issuing_certificates"`
	CRLDistributionPoints  *framework.CommaStrings `json:"crl_distribution_points"`
	OCSPServers            *framework.CommaStrings `json:"ocsp_servers"`
	EnableAIAURLTemplating *framework.Bool         `json:"enable_aia_url_templating"`
}

func (b *Backend) writeIssuer(ctx context.Context, _ *logical.Request, m *framework.Match, in *issuerInput) (*logical.Response, error) {
	if in.LeafNotAfterBehavior != nil && *in.LeafNotAfterBehavior != "truncate" {
		return nil, logical.InvalidRequest("leaf_not_after_behavior: only \"truncate\" is supported")
	}
	if in.IssuerName != nil {
		if err := checkObjectName("issuer_name", *in.IssuerName); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss := st.resolve(m.Get("ref"))
	if iss == nil {
		return nil, logical.NotFound("unknown issuer %q", m.Get("ref"))
	}
	e := iss.entry
	if in.IssuerName != nil && *in.IssuerName != e.Name {
		if id := st.names[*in.IssuerName]; id != "" {
			return nil, logical.InvalidRequest("issuer name %s is already in use", *in.IssuerName)
		}
		e.Name = *in.IssuerName
	}
	var u aiaURLs
	if e.URLs != nil {
		u = *e.URLs
	}
	u, err = (&urlsInput{
		IssuingCertificates:   in.IssuingCertificates,
		CRLDistributionPoints: in.CRLDistributionPoints,
		OCSPServers:           in.OCSPServers,
		EnableTemplating:      in.EnableAIAURLTemplating,
	}).apply(u)
	if err != nil {
		return nil, err
	}
	e.URLs = nil
	if !u.empty() || u.EnableTemplating {
		e.URLs = &u
	}
	op, err := framework.PutJSONOp(issuerPrefix+e.ID, &e)
	if err != nil {
		return nil, err
	}
	defer b.invalidate()
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: op.Key, Value: op.Value}); err != nil {
		return nil, fmt.Errorf("store issuer: %w", err)
	}
	updated := *iss
	updated.entry = e
	return &logical.Response{Data: updated.data()}, nil
}

// issuerCertData is the data of issuer/:ref/json.
type issuerCertData struct {
	Certificate string   `json:"certificate"`
	CAChain     []string `json:"ca_chain"`
	IssuerID    string   `json:"issuer_id"`
	IssuerName  string   `json:"issuer_name"`
}

func (b *Backend) readIssuerCert(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss := st.resolve(m.Get("ref"))
	if iss == nil {
		return nil, nil
	}
	switch m.Get("format") {
	case "der":
		return rawDER(iss.cert.Raw), nil
	case "pem":
		return rawPEM(iss.cert.Raw), nil
	}
	d := iss.data()
	return &logical.Response{Data: &issuerCertData{Certificate: d.Certificate, CAChain: d.CAChain, IssuerID: d.IssuerID, IssuerName: d.IssuerName}}, nil
}

func rawDER(der []byte) *logical.Response {
	return &logical.Response{Raw: &logical.RawResponse{ContentType: "application/pkix-cert", Body: der}}
}

func rawPEM(ders ...[]byte) *logical.Response {
	var body []byte
	for _, der := range ders {
		body = append(body, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return &logical.Response{Raw: &logical.RawResponse{ContentType: "application/pem-file", Body: body}}
}

// issuersConfigInput is the body of a config/issuers write.
type issuersConfigInput struct {
	Default              *string         `json:"default"`
	DefaultFollowsLatest *framework.Bool `json:"default_follows_latest_issuer"`
}

func (b *Backend) writeIssuersConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *issuersConfigInput) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	cfg := st.config
	if in.Default != nil {
		iss := st.resolve(*in.Default)
		if iss == nil || *in.Default == "default" || *in.Default == "" {
			return nil, logical.InvalidRequest("default: unknown issuer %s", show(*in.Default))
		}
		cfg.Default = iss.entry.ID
	}
	setBool(&cfg.DefaultFollowsLatest, in.DefaultFollowsLatest)
	op, err := framework.PutJSONOp(configIssuersKey, &cfg)
	if err != nil {
		return nil, err
	}
	defer b.invalidate()
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: op.Key, Value: op.Value}); err != nil {
		return nil, fmt.Errorf("store issuer config: %w", err)
	}
	return &logical.Response{Data: &cfg}, nil
}

// replaceRootInput is the body of root/replace.
type replaceRootInput struct {
	Default string `json:"default"`
}

// replaceRoot makes the issuer named by default the default issuer, as a
// config/issuers write does.
func (b *Backend) replaceRoot(ctx context.Context, req *logical.Request, m *framework.Match, in *replaceRootInput) (*logical.Response, error) {
	if in.Default == "" || in.Default == "next" {
		return nil, logical.InvalidRequest("missing default: name the issuer to make the default")
	}
	return b.writeIssuersConfig(ctx, req, m, &issuersConfigInput{Default: &in.Default})
}

// readCA answers ca (DER) and ca/pem with the default issuer's
// certificate; (nil, nil) when there is none.
func (b *Backend) readCA(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss := st.resolve("default")
	if iss == nil {
		return nil, nil
	}
	if m.Get("pem") != "" {
		return rawPEM(iss.cert.Raw), nil
	}
	return rawDER(iss.cert.Raw), nil
}

// readCAChain answers ca_chain with the default issuer's chain, PEM.
func (b *Backend) readCAChain(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	iss := st.resolve("default")
	if iss == nil {
		return nil, nil
	}
	ders := make([][]byte, len(iss.chain))
	for i, c := range iss.chain {
		ders[i] = c.Raw
	}
	return rawPEM(ders...), nil
}
