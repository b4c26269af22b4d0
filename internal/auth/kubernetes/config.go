package kubernetes

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// defaultIssuer is the iss of legacy service account tokens.
const defaultIssuer = "kubernetes/serviceaccount"

// maxLocalFileBytes bounds the local CA certificate and token files.
const maxLocalFileBytes = 1 << 20

// secret is a credential that prints and logs as a placeholder; use
// string(s) where the raw value is needed.
type secret string

func (secret) String() string { return "[redacted]" }

// LogValue implements [slog.LogValuer].
func (secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// config is the stored mount configuration.
type config struct {
	Host                 string `json:"kubernetes_host"`
	CACert               string `json:"kubernetes_ca_cert,omitempty"`
	ReviewerJWT          secret `json:"token_reviewer_jwt,omitempty"`
	Issuer               string `json:"issuer,omitempty"`
	DisableIssValidation bool   `json:"disable_iss_validation"`
	DisableLocalCAJWT    bool   `json:"disable_local_ca_jwt"`
}

// configInput is the body of a config write, which replaces the whole
// configuration.
type configInput struct {
	Host                 string          `json:"kubernetes_host"`
	CACert               string          `json:"kubernetes_ca_cert"`
	ReviewerJWT          string          `json:"token_reviewer_jwt"`
	Issuer               string          `json:"issuer"`
	DisableIssValidation *framework.Bool `json:"disable_iss_validation"`
	DisableLocalCAJWT    *framework.Bool `json:"disable_local_ca_jwt"`
}

// configResponse is the data of a config read. The reviewer JWT is never
// returned; token_reviewer_jwt_set says whether there is one.
type configResponse struct {
	Host                 string   `json:"kubernetes_host"`
	CACert               string   `json:"kubernetes_ca_cert"`
	PEMKeys              []string `json:"pem_keys"`
	Issuer               string   `json:"issuer"`
	DisableIssValidation bool     `json:"disable_iss_validation"`
	DisableLocalCAJWT    bool     `json:"disable_local_ca_jwt"`
	ReviewerJWTSet       bool     `json:"token_reviewer_jwt_set"`
}

func (b *backend) loadConfig(ctx context.Context) (*config, error) {
	var c config
	found, err := framework.GetJSON(ctx, b.storage, configKey, &c)
	if err != nil || !found {
		return nil, err
	}
	return &c, nil
}

// readConfig answers config; an unconfigured mount is (nil, nil), which
// core answers with 404.
func (b *backend) readConfig(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	c, err := b.loadConfig(ctx)
	if err != nil || c == nil {
		return nil, err
	}
	return &logical.Response{Data: &configResponse{
		Host:                 c.Host,
		CACert:               c.CACert,
		PEMKeys:              []string{},
		Issuer:               c.Issuer,
		DisableIssValidation: c.DisableIssValidation,
		DisableLocalCAJWT:    c.DisableLocalCAJWT,
		ReviewerJWTSet:       c.ReviewerJWT != "",
	}}, nil
}

// writeConfig validates and stores a configuration. disable_iss_validation
// and disable_local_ca_jwt default to true.
func (b *backend) writeConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *configInput) (*logical.Response, error) {
	c := &config{
		Host:                 strings.TrimSuffix(strings.TrimSpace(in.Host), "/"),
		CACert:               strings.TrimSpace(in.CACert),
		ReviewerJWT:          secret(strings.TrimSpace(in.ReviewerJWT)),
		Issuer:               strings.TrimSpace(in.Issuer),
		DisableIssValidation: true,
		DisableLocalCAJWT:    true,
	}
	if in.DisableIssValidation != nil {
		c.DisableIssValidation = bool(*in.DisableIssValidation)
	}
	if in.DisableLocalCAJWT != nil {
		c.DisableLocalCAJWT = bool(*in.DisableLocalCAJWT)
	}
	if c.Host == "" {
		return nil, logical.InvalidRequest("missing kubernetes_host")
	}
	u, err := url.Parse(c.Host)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, logical.InvalidRequest("invalid value for \"kubernetes_host\": want an https URL such as https://10.0.0.1:6443, without credentials or query")
	}
	if c.CACert != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CACert)) {
		return nil, logical.InvalidRequest("invalid value for \"kubernetes_ca_cert\": no PEM certificate found")
	}
	if err := framework.PutJSON(ctx, b.storage, configKey, c); err != nil {
		return nil, err
	}
	return nil, nil
}

// caAndReviewer returns the CA certificate to trust and the reviewer JWT to
// send: the configured ones, or else, when disable_local_ca_jwt is false,
// the pod's own from the local service account directory (missing files
// are ignored). An empty reviewer means the client's JWT reviews itself.
func (b *backend) caAndReviewer(c *config) (caPEM, reviewer string, err error) {
	caPEM, reviewer = c.CACert, string(c.ReviewerJWT)
	if c.DisableLocalCAJWT {
		return caPEM, reviewer, nil
	}
	if caPEM == "" {
		data, err := readLocal(filepath.Join(b.localDir, "ca.crt"))
		if err != nil {
			return "", "", err
		}
		caPEM = data
	}
	if reviewer == "" {
		data, err := readLocal(filepath.Join(b.localDir, "token"))
		if err != nil {
			return "", "", err
		}
		reviewer = strings.TrimSpace(data)
	}
	return caPEM, reviewer, nil
}

// readLocal reads a small local file; a missing file reads as "".
func readLocal(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLocalFileBytes+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxLocalFileBytes {
		return "", errors.New(path + " is too large")
	}
	return string(data), nil
}
