package pki

import (
	"context"
	"fmt"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys of the CRL and auto-tidy settings; see the package comment.
const (
	configCRLKey      = "config/crl"
	configAutoTidyKey = "config/auto-tidy"
	autoTidyLastKey   = "auto-tidy/last"
)

// crlConfig is the entry at config/crl. Durations are kept as the client
// wrote them (Vault echoes them so) and were checked to parse.
type crlConfig struct {
	// Expiry is a CRL's lifetime, from ThisUpdate to NextUpdate.
	Expiry string `json:"expiry"`
	// Disable makes every CRL empty (still signed and served).
	Disable bool `json:"disable"`
	// The fields below are stored and shown; Coffer has no OCSP responder
	// and no delta or unified CRLs, and rebuilds CRLs before they expire
	// whatever AutoRebuild says.
	OCSPDisable               bool   `json:"ocsp_disable"`
	OCSPExpiry                string `json:"ocsp_expiry"`
	AutoRebuild               bool   `json:"auto_rebuild"`
	AutoRebuildGracePeriod    string `json:"auto_rebuild_grace_period"`
	EnableDelta               bool   `json:"enable_delta"`
	DeltaRebuildInterval      string `json:"delta_rebuild_interval"`
	CrossClusterRevocation    bool   `json:"cross_cluster_revocation"`
	UnifiedCRL                bool   `json:"unified_crl"`
	UnifiedCRLOnExistingPaths bool   `json:"unified_crl_on_existing_paths"`
}

// defaultCRLConfig is config/crl before any write (Vault's defaults).
func defaultCRLConfig() crlConfig {
	return crlConfig{Expiry: "72h", OCSPExpiry: "12h", AutoRebuildGracePeriod: "12h", DeltaRebuildInterval: "15m"}
}

// lifetime is the parsed Expiry.
func (c *crlConfig) lifetime() time.Duration {
	d, ok := framework.ParseDuration(c.Expiry)
	if !ok || d <= 0 {
		return crlLifetime
	}
	return d
}

// crlConfigInput is the body of a config/crl write; absent fields keep
// their value.
type crlConfigInput struct {
	Expiry                    *string         `json:"expiry"`
	Disable                   *framework.Bool `json:"disable"`
	OCSPDisable               *framework.Bool `json:"ocsp_disable"`
	OCSPExpiry                *string         `json:"ocsp_expiry"`
	AutoRebuild               *framework.Bool `json:"auto_rebuild"`
	AutoRebuildGracePeriod    *string         `json:"auto_rebuild_grace_period"`
	EnableDelta               *framework.Bool `json:"enable_delta"`
	DeltaRebuildInterval      *string         `json:"delta_rebuild_interval"`
	CrossClusterRevocation    *framework.Bool `json:"cross_cluster_revocation"`
	UnifiedCRL                *framework.Bool `json:"unified_crl"`
	UnifiedCRLOnExistingPaths *framework.Bool `json:"unified_crl_on_existing_paths"`
}

// loadCRLConfig reads config/crl, or its defaults.
func (b *Backend) loadCRLConfig(ctx context.Context) (*crlConfig, error) {
	return loadDefaulted(ctx, b.storage, configCRLKey, defaultCRLConfig())
}

// loadDefaulted reads the setting stored at key over def, the defaults of
// a mount that never wrote it.
func loadDefaulted[T any](ctx context.Context, st logical.Storage, key string, def T) (*T, error) {
	if _, err := framework.GetJSON(ctx, st, key, &def); err != nil {
		return nil, err
	}
	return &def, nil
}

// readSetting answers a read of the setting load returns.
func readSetting[T any](load func(context.Context) (*T, error)) framework.Handler {
	return func(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
		c, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: c}, nil
	}
}

// readState answers a read of a copy of the part of the mount's state
// that part returns.
func readState[T any](b *Backend, part func(*caState) T) framework.Handler {
	return readSetting(func(ctx context.Context) (*T, error) {
		st, err := b.state(ctx)
		if err != nil {
			return nil, err
		}
		v := part(st)
		return &v, nil
	})
}

// writeCRLConfig stores config/crl and rebuilds every CRL with it.
func (b *Backend) writeCRLConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *crlConfigInput) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.loadCRLConfig(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  *string
		v    *string
	}{
		{"expiry", &c.Expiry, in.Expiry},
		{"ocsp_expiry", &c.OCSPExpiry, in.OCSPExpiry},
		{"auto_rebuild_grace_period", &c.AutoRebuildGracePeriod, in.AutoRebuildGracePeriod},
		{"delta_rebuild_interval", &c.DeltaRebuildInterval, in.DeltaRebuildInterval},
	} {
		if f.v == nil {
			continue
		}
		if _, ok := framework.ParseDuration(*f.v); !ok {
			return nil, logical.InvalidRequest("%s: %s is not a duration", f.name, show(*f.v))
		}
		*f.dst = *f.v
	}
	if d, _ := framework.ParseDuration(c.Expiry); d < time.Minute {
		return nil, logical.InvalidRequest("expiry must be at least one minute")
	}
	var warnings []string
	for _, f := range []struct {
		name string
		dst  *bool
		v    *framework.Bool
	}{
		{"disable", &c.Disable, in.Disable},
		{"ocsp_disable", &c.OCSPDisable, in.OCSPDisable},
		{"auto_rebuild", &c.AutoRebuild, in.AutoRebuild},
		{"enable_delta", &c.EnableDelta, in.EnableDelta},
		{"cross_cluster_revocation", &c.CrossClusterRevocation, in.CrossClusterRevocation},
		{"unified_crl", &c.UnifiedCRL, in.UnifiedCRL},
		{"unified_crl_on_existing_paths", &c.UnifiedCRLOnExistingPaths, in.UnifiedCRLOnExistingPaths},
	} {
		if f.v == nil {
			continue
		}
		*f.dst = bool(*f.v)
		switch f.name {
		case "enable_delta", "cross_cluster_revocation", "unified_crl", "unified_crl_on_existing_paths":
			if *f.dst {
				warnings = append(warnings, fmt.Sprintf("%s is stored, but Coffer builds only complete, per-mount CRLs", f.name))
			}
		}
	}
	if err := framework.PutJSON(ctx, b.storage, configCRLKey, c); err != nil {
		return nil, err
	}
	st, err := b.state(ctx)
	if err != nil {
		return nil, err
	}
	for _, iss := range st.sortedIssuers() {
		if iss.signer == nil {
			continue
		}
		if _, err := b.rebuildCRLLocked(ctx, iss, nil); err != nil {
			return nil, fmt.Errorf("rebuild crl of issuer %s: %w", iss.entry.ID, err)
		}
	}
	return &logical.Response{Data: c, Warnings: warnings}, nil
}

// autoTidyConfig is the entry at config/auto-tidy. Durations are whole
// seconds on the wire, as in Vault, except pause_duration.
type autoTidyConfig struct {
	Enabled                           bool   `json:"enabled"`
	IntervalDuration                  int64  `json:"interval_duration"`
	TidyCertStore                     bool   `json:"tidy_cert_store"`
	TidyRevokedCerts                  bool   `json:"tidy_revoked_certs"`
	TidyRevokedCertIssuerAssociations bool   `json:"tidy_revoked_cert_issuer_associations"`
	SafetyBuffer                      int64  `json:"safety_buffer"`
	PauseDuration                     string `json:"pause_duration"`
	// The fields below are stored and shown; Coffer has nothing for them
	// to tidy (expired issuers are kept, there is no legacy bundle,
	// revocation queue or ACME).
	TidyExpiredIssuers           bool  `json:"tidy_expired_issuers"`
	IssuerSafetyBuffer           int64 `json:"issuer_safety_buffer"`
	TidyMoveLegacyCABundle       bool  `json:"tidy_move_legacy_ca_bundle"`
	TidyRevocationQueue          bool  `json:"tidy_revocation_queue"`
	RevocationQueueSafetyBuffer  int64 `json:"revocation_queue_safety_buffer"`
	TidyCrossClusterRevokedCerts bool  `json:"tidy_cross_cluster_revoked_certs"`
	TidyACME                     bool  `json:"tidy_acme"`
	ACMEAccountSafetyBuffer      int64 `json:"acme_account_safety_buffer"`
}

// defaultAutoTidy is config/auto-tidy before any write (Vault's defaults).
func defaultAutoTidy() autoTidyConfig {
	return autoTidyConfig{
		IntervalDuration:            int64((12 * time.Hour).Seconds()),
		SafetyBuffer:                int64(defaultSafetyBuffer.Seconds()),
		PauseDuration:               "0s",
		IssuerSafetyBuffer:          int64((365 * 24 * time.Hour).Seconds()),
		RevocationQueueSafetyBuffer: int64((48 * time.Hour).Seconds()),
		ACMEAccountSafetyBuffer:     int64((30 * 24 * time.Hour).Seconds()),
	}
}

// autoTidyInput is the body of a config/auto-tidy write; absent fields
// keep their value.
type autoTidyInput struct {
	Enabled                           *framework.Bool     `json:"enabled"`
	IntervalDuration                  *framework.Duration `json:"interval_duration"`
	TidyCertStore                     *framework.Bool     `json:"tidy_cert_store"`
	TidyRevokedCerts                  *framework.Bool     `json:"tidy_revoked_certs"`
	TidyRevokedCertIssuerAssociations *framework.Bool     `json:"tidy_revoked_cert_issuer_associations"`
	SafetyBuffer                      *framework.Duration `json:"safety_buffer"`
	PauseDuration                     *framework.Duration `json:"pause_duration"`
	TidyExpiredIssuers                *framework.Bool     `json:"tidy_expired_issuers"`
	IssuerSafetyBuffer                *framework.Duration `json:"issuer_safety_buffer"`
	TidyMoveLegacyCABundle            *framework.Bool     `json:"tidy_move_legacy_ca_bundle"`
	TidyRevocationQueue               *framework.Bool     `json:"tidy_revocation_queue"`
	RevocationQueueSafetyBuffer       *framework.Duration `json:"revocation_queue_safety_buffer"`
	TidyCrossClusterRevokedCerts      *framework.Bool     `json:"tidy_cross_cluster_revoked_certs"`
	TidyACME                          *framework.Bool     `json:"tidy_acme"`
	ACMEAccountSafetyBuffer           *framework.Duration `json:"acme_account_safety_buffer"`
}

// loadAutoTidy reads config/auto-tidy, or its defaults.
func (b *Backend) loadAutoTidy(ctx context.Context) (*autoTidyConfig, error) {
	return loadDefaulted(ctx, b.storage, configAutoTidyKey, defaultAutoTidy())
}

func (b *Backend) writeAutoTidy(ctx context.Context, _ *logical.Request, _ *framework.Match, in *autoTidyInput) (*logical.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.loadAutoTidy(ctx)
	if err != nil {
		return nil, err
	}
	setBool(&c.Enabled, in.Enabled)
	setBool(&c.TidyCertStore, in.TidyCertStore)
	setBool(&c.TidyRevokedCerts, in.TidyRevokedCerts)
	setBool(&c.TidyRevokedCertIssuerAssociations, in.TidyRevokedCertIssuerAssociations)
	setBool(&c.TidyExpiredIssuers, in.TidyExpiredIssuers)
	setBool(&c.TidyMoveLegacyCABundle, in.TidyMoveLegacyCABundle)
	setBool(&c.TidyRevocationQueue, in.TidyRevocationQueue)
	setBool(&c.TidyCrossClusterRevokedCerts, in.TidyCrossClusterRevokedCerts)
	setBool(&c.TidyACME, in.TidyACME)
	for _, f := range []struct {
		dst *int64
		v   *framework.Duration
	}{
		{&c.IntervalDuration, in.IntervalDuration},
		{&c.SafetyBuffer, in.SafetyBuffer},
		{&c.IssuerSafetyBuffer, in.IssuerSafetyBuffer},
		{&c.RevocationQueueSafetyBuffer, in.RevocationQueueSafetyBuffer},
		{&c.ACMEAccountSafetyBuffer, in.ACMEAccountSafetyBuffer},
	} {
		if f.v != nil {
			*f.dst = framework.Seconds(time.Duration(*f.v))
		}
	}
	if in.PauseDuration != nil {
		c.PauseDuration = time.Duration(*in.PauseDuration).String()
	}
	if c.Enabled && !c.TidyCertStore && !c.TidyRevokedCerts && !c.TidyRevokedCertIssuerAssociations {
		return nil, logical.InvalidRequest("auto-tidy is enabled but no tidy operation is: set tidy_cert_store or tidy_revoked_certs")
	}
	if c.Enabled && c.IntervalDuration < 1 {
		return nil, logical.InvalidRequest("interval_duration must be at least one second")
	}
	if err := framework.PutJSON(ctx, b.storage, configAutoTidyKey, c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: c}, nil
}

// autoTidyLast is the entry at auto-tidy/last.
type autoTidyLast struct {
	Time time.Time `json:"time"`
}

// autoTidy runs tidy with the config/auto-tidy settings when auto-tidy is
// enabled and interval_duration has passed since the last run (or since
// the first check, so that enabling it does not tidy at once).
func (b *Backend) autoTidy(ctx context.Context) error {
	c, err := b.loadAutoTidy(ctx)
	if err != nil || !c.Enabled {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	var last autoTidyLast
	found, err := framework.GetJSON(ctx, b.storage, autoTidyLastKey, &last)
	if err != nil {
		return err
	}
	if !found {
		return framework.PutJSON(ctx, b.storage, autoTidyLastKey, &autoTidyLast{Time: now})
	}
	if now.Before(last.Time.Add(time.Duration(c.IntervalDuration) * time.Second)) {
		return nil
	}
	d, err := b.tidyLocked(ctx, c.TidyCertStore, c.TidyRevokedCerts, time.Duration(c.SafetyBuffer)*time.Second)
	if err != nil {
		return fmt.Errorf("auto-tidy: %w", err)
	}
	b.logger.Info("auto-tidy", "certs_deleted", d.CertStoreDeletedCount, "revocations_deleted", d.RevokedCertDeletedCount)
	return framework.PutJSON(ctx, b.storage, autoTidyLastKey, &autoTidyLast{Time: now})
}
