package config

// Sanitized is the configuration as sys/config/state/sanitized shows it,
// in Vault's shape: every top-level setting, the listeners with their
// non-secret options, the seal's type and the storage's type, and never
// a storage's connection settings (which may hold a password). Keys Vault
// has and Coffer does not use carry their zero value, so that scripts
// reading them keep working.
type Sanitized struct {
	APIAddr                   string               `json:"api_addr"`
	CacheSize                 int                  `json:"cache_size"`
	ClusterAddr               string               `json:"cluster_addr"`
	ClusterCipherSuites       string               `json:"cluster_cipher_suites"`
	ClusterName               string               `json:"cluster_name"`
	DefaultLeaseTTL           int64                `json:"default_lease_ttl"`
	DefaultMaxRequestDuration int64                `json:"default_max_request_duration"`
	DisableCache              bool                 `json:"disable_cache"`
	DisableClustering         bool                 `json:"disable_clustering"`
	DisableIndexing           bool                 `json:"disable_indexing"`
	DisableMlock              bool                 `json:"disable_mlock"`
	DisablePerformanceStandby bool                 `json:"disable_performance_standby"`
	DisablePrintableCheck     bool                 `json:"disable_printable_check"`
	DisableSealwrap           bool                 `json:"disable_sealwrap"`
	EnableUI                  bool                 `json:"enable_ui"`
	Listeners                 []SanitizedListener  `json:"listeners"`
	LogFormat                 string               `json:"log_format"`
	LogLevel                  string               `json:"log_level"`
	MaxLeaseTTL               int64                `json:"max_lease_ttl"`
	PIDFile                   string               `json:"pid_file"`
	PluginDirectory           string               `json:"plugin_directory"`
	RawStorageEndpoint        bool                 `json:"raw_storage_endpoint"`
	Seals                     []SanitizedSeal      `json:"seals"`
	Storage                   *SanitizedStorage    `json:"storage"`
	Telemetry                 SanitizedTelemetry   `json:"telemetry"`
	AuditDevices              []SanitizedAuditFile `json:"audit_devices,omitempty"`
}

// SanitizedListener is one listener of [Sanitized]: its type and its
// options as the file names them (paths to TLS files, never their
// contents).
type SanitizedListener struct {
	Type   string         `json:"type"`
	Config map[string]any `json:"config"`
}

// SanitizedSeal is the seal of [Sanitized].
type SanitizedSeal struct {
	Disabled bool   `json:"disabled"`
	Type     string `json:"type"`
}

// SanitizedStorage is the storage of [Sanitized]: its type and the
// cluster settings, without its connection settings.
type SanitizedStorage struct {
	ClusterAddr       string `json:"cluster_addr"`
	DisableClustering bool   `json:"disable_clustering"`
	RedirectAddr      string `json:"redirect_addr"`
	Type              string `json:"type"`
}

// SanitizedTelemetry is the telemetry block of [Sanitized].
type SanitizedTelemetry struct {
	UnauthenticatedMetricsAccess bool `json:"unauthenticated_metrics_access"`
}

// SanitizedAuditFile is an audit block of [Sanitized] (Coffer's own
// addition: Vault's configuration file has no audit blocks).
type SanitizedAuditFile struct {
	Type string `json:"type"`
	Path string `json:"path"`
}

// Sanitized returns c without secrets, for sys/config/state/sanitized.
// Durations are whole seconds, as Vault reports them.
func (c *Config) Sanitized() *Sanitized {
	s := &Sanitized{
		APIAddr:                   c.APIAddr,
		ClusterAddr:               c.ClusterAddr,
		ClusterName:               c.ClusterName,
		DefaultLeaseTTL:           int64(c.DefaultLeaseTTL.Seconds()),
		DefaultMaxRequestDuration: int64(c.DefaultMaxRequestDuration.Seconds()),
		LogFormat:                 string(c.LogFormat),
		LogLevel:                  string(c.LogLevel),
		MaxLeaseTTL:               int64(c.MaxLeaseTTL.Seconds()),
		PIDFile:                   c.PIDFile,
		EnableUI:                  c.UI,
		Seals:                     []SanitizedSeal{{Type: SealShamir}},
		Listeners:                 []SanitizedListener{},
		Telemetry:                 SanitizedTelemetry{UnauthenticatedMetricsAccess: c.Telemetry.UnauthenticatedMetricsAccess},
	}
	if c.Seal != nil {
		s.Seals[0].Type = c.Seal.Type
	}
	if c.Storage != nil {
		s.Storage = &SanitizedStorage{ClusterAddr: c.ClusterAddr, RedirectAddr: c.APIAddr, Type: string(c.Storage.Type)}
	}
	for _, l := range c.Listeners {
		cfg := map[string]any{
			"address":         l.Address,
			"tls_disable":     l.TLSDisable,
			"tls_min_version": string(l.TLSMinVersion),
			"tls_max_version": string(l.TLSMaxVersion),
		}
		for k, v := range map[string]string{
			"cluster_address":    l.ClusterAddress,
			"tls_cert_file":      l.TLSCertFile,
			"tls_key_file":       l.TLSKeyFile,
			"tls_client_ca_file": l.TLSClientCAFile,
		} {
			if v != "" {
				cfg[k] = v
			}
		}
		if l.TLSRequireAndVerifyClientCert {
			cfg["tls_require_and_verify_client_cert"] = true
		}
		if l.TLSDisableClientCerts {
			cfg["tls_disable_client_certs"] = true
		}
		if len(l.TLSCipherSuites) > 0 {
			cfg["tls_cipher_suites"] = l.TLSCipherSuites
		}
		s.Listeners = append(s.Listeners, SanitizedListener{Type: l.Type, Config: cfg})
	}
	for _, a := range c.Audit {
		s.AuditDevices = append(s.AuditDevices, SanitizedAuditFile{Type: a.Type, Path: a.Path})
	}
	return s
}
