package config

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Defaults for keys the configuration file leaves out (or sets to zero).
const (
	// DefaultListenAddress is a listener's address when it has none.
	DefaultListenAddress = "127.0.0.1:8200"
	// DefaultLeaseTTL is the default lease and token TTL.
	DefaultLeaseTTL = 768 * time.Hour
	// DefaultMaxLeaseTTL is the maximum lease and token TTL.
	DefaultMaxLeaseTTL = 768 * time.Hour
	// DefaultMaxRequestSize is the largest request body accepted, in bytes.
	DefaultMaxRequestSize int64 = 32 << 20
	// DefaultPostgresTable is the PostgreSQL table when none is named.
	DefaultPostgresTable = "coffer_kv_store"
	// DefaultPostgresMaxParallel is the PostgreSQL connection limit when
	// none is given.
	DefaultPostgresMaxParallel = 128
	// DefaultHALeaseTTL is the active node's leadership lease when
	// ha_lease_ttl is not set.
	DefaultHALeaseTTL = 5 * time.Second
	// MinHALeaseTTL and MaxHALeaseTTL bound ha_lease_ttl.
	MinHALeaseTTL = time.Second
	MaxHALeaseTTL = 5 * time.Minute
)

// Bounds and default of storage "postgresql"'s ha_max_standby_lag.
const (
	DefaultHAMaxStandbyLag = 2 * time.Second // the server's default; the config keeps zero
	MinHAMaxStandbyLag     = 100 * time.Millisecond
	MaxHAMaxStandbyLag     = time.Minute
)

// Config is the server configuration. Every key is optional except one
// storage block and at least one listener block.
type Config struct {
	// Storage is the storage block; exactly one is required.
	Storage *Storage
	// Listeners are the listener blocks, in file order; at least one is
	// required and no two may share an address.
	Listeners []Listener
	// APIAddr (api_addr) is the URL clients should use to reach this
	// server, such as "https://coffer.example.com:8200". It must be an
	// http or https URL with a host. Environment: COFFER_API_ADDR, or
	// VAULT_API_ADDR; either replaces the file's value.
	APIAddr string
	// LogLevel (log_level) is one of "debug", "info" (the default), "warn"
	// or "error", in any case. Vault's spellings "trace" (treated as
	// debug), "warning" and "err" are accepted too. Environment:
	// COFFER_LOG_LEVEL, or VAULT_LOG_LEVEL.
	LogLevel LogLevel
	// LogFormat (log_format) is "text" (the default) or "json".
	// Environment: COFFER_LOG_FORMAT.
	LogFormat LogFormat
	// DefaultLeaseTTL (default_lease_ttl) is the TTL of leases and tokens
	// that ask for none: a duration such as "30s", "5m" or "768h", or an
	// integer number of seconds. Zero or absent means 768h, or
	// max_lease_ttl if that is smaller. It may not exceed MaxLeaseTTL.
	DefaultLeaseTTL time.Duration
	// MaxLeaseTTL (max_lease_ttl) is the longest TTL any lease or token may
	// have, in the same forms as default_lease_ttl. Zero or absent means
	// 768h.
	MaxLeaseTTL time.Duration
	// MaxRequestSize (max_request_size) is the largest request body the
	// HTTP API accepts, in bytes, on listeners that do not set their own.
	// Zero or absent means 32 MiB. Unlike Vault, a negative value (Vault's
	// "no limit") is an error: Coffer always limits request bodies. Vault
	// has this key only in listener blocks; Coffer takes it in both.
	MaxRequestSize int64
	// DefaultMaxRequestDuration (default_max_request_duration) cancels a
	// request still running after this long, on listeners that do not set
	// max_request_duration. Zero or absent means no limit (Vault's default
	// is 90s).
	DefaultMaxRequestDuration time.Duration
	// ClusterAddr (cluster_addr) is the address this node announces to the
	// other nodes of a high-availability cluster for request forwarding,
	// "https://host:port" or "host:port". Without a listener
	// cluster_address, the cluster listener also binds to its host and
	// port. Environment: COFFER_CLUSTER_ADDR, or VAULT_CLUSTER_ADDR;
	// either replaces the file's value.
	ClusterAddr string
	// ClusterName (cluster_name) is reported by sys/health and
	// sys/seal-status. Default "coffer-cluster".
	ClusterName string
	// NodeID names this node of a high-availability cluster. It has no
	// key in the file: it comes from the environment, COFFER_NODE_ID.
	// Empty means the server picks one (the host name and a random
	// suffix).
	NodeID string
	// DisableRequestForwarding (disable_request_forwarding) makes a
	// standby answer requests it does not serve itself with a 307 redirect
	// to the active node instead of forwarding them. Environment:
	// COFFER_DISABLE_REQUEST_FORWARDING set to true (any form
	// strconv.ParseBool takes) turns it on whatever the file says.
	DisableRequestForwarding bool
	// EnableResponseHeaderHostname (enable_response_header_hostname) adds
	// X-Vault-Hostname, this host's name, to every API response.
	EnableResponseHeaderHostname bool
	// PIDFile (pid_file) is a file the server writes its process ID to
	// when it starts and removes when it stops.
	PIDFile string
	// UI (ui) serves the web UI at /ui/ on every listener (and redirects
	// a browser's GET / there). Off unless set; dev mode turns it on.
	UI bool
	// Seal is the enabled seal block; nil means Shamir key shares, the
	// default. See [Seal].
	Seal *Seal
	// UserLockout (user_lockout "all" | "userpass" | "approle" | "ldap"
	// blocks) are the server-wide user lockout settings by auth method
	// type, "all" for every method. A type's block overrides "all" field
	// by field, and an auth mount's own user_lockout_config (tuned with
	// sys/auth/PATH/tune) overrides both.
	UserLockout map[string]UserLockout
	// DisabledSeal is a seal block with disabled = "true": the seal a
	// migration starts from (see docs/configuration.md). nil when none.
	DisabledSeal *Seal
	// Telemetry (telemetry block) configures sys/metrics.
	Telemetry Telemetry
	// Snapshot (snapshot block) schedules snapshots of the whole storage;
	// nil means none.
	Snapshot *Snapshot
	// AWSSecretsManager (aws_secrets_manager block) serves the AWS
	// Secrets Manager API at POST / on every listener; nil (no block)
	// means not served, except in dev mode, which serves it with the
	// defaults. See aws.go and docs/aws-secrets-manager.md.
	AWSSecretsManager *AWSSecretsManager
	// GCPSecretManager (gcp_secret_manager block) serves the Google Cloud
	// Secret Manager API (gRPC) on a listener of its own; nil means not
	// served. See gcp.go and docs/gcp-secret-manager.md.
	GCPSecretManager *GCPSecretManager
	// AzureKeyVault (azure_key_vault block) serves the Azure Key Vault
	// secrets API under /secrets and /deletedsecrets on every listener;
	// nil (no block) means not served, except in dev mode, which serves
	// it with the defaults. See azure.go and docs/azure-key-vault.md.
	AzureKeyVault *AzureKeyVault
	// Audit (audit "file" "name" blocks) are audit devices enabled at
	// unseal; they cannot be disabled through the API.
	Audit []AuditDevice
	// AuditAllowedDirs (audit_allowed_dirs) are the directories where
	// audit files enabled through the API may be written. Empty means the
	// API cannot enable file devices (dev mode allows any path).
	AuditAllowedDirs []string

	// Warnings name the keys of the file that Coffer accepts and ignores
	// (such as disable_mlock or plugin_directory), one per key, in file
	// order. The server logs each once at start.
	Warnings []Warning

	// src records where each key's value came from, for error messages.
	// It is nil for a Config built in code.
	src *sources
}

// LogLevel is the least severe log level written.
type LogLevel string

// The log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// Level returns l as a [slog.Level]; an invalid level maps to
// [slog.LevelInfo].
func (l LogLevel) Level() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// LogFormat is the encoding of log records.
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// StorageType names a storage backend.
type StorageType string

// The storage types.
const (
	StorageBolt     StorageType = "bolt"
	StorageInmem    StorageType = "inmem"
	StoragePostgres StorageType = "postgresql"
)

// Storage is the storage block: storage "TYPE" { ... }. Type says which
// one of the pointers is set; the others are nil.
//
// Vault's storage "file" { path = "/some/dir" } is accepted as an alias: it
// becomes Type "bolt" with Bolt.Path "/some/dir/coffer.db", so a Vault
// configuration file keeps working (its data does not carry over).
type Storage struct {
	Type     StorageType
	Bolt     *BoltStorage
	Inmem    *InmemStorage
	Postgres *PostgresStorage
}

// BoltStorage is storage "bolt": an embedded bbolt database file. This is
// the storage to use for a single server.
type BoltStorage struct {
	// Path (path, required) is the database file. It is created on first
	// start; its directory must exist. A relative path is relative to the
	// server's working directory.
	Path string
}

// InmemStorage is storage "inmem" {}: everything is kept in memory and lost
// when the server stops. For tests and experiments only. It takes no keys.
type InmemStorage struct{}

// PostgresStorage is storage "postgresql": a PostgreSQL table shared by
// one or more Coffer servers. Boolean and integer keys also accept their
// string forms ("true", "128"), as Vault configuration files often have.
type PostgresStorage struct {
	// ConnectionURL (connection_url, required) is a postgres:// or
	// postgresql:// URL, or a "key=value ..." connection string. It
	// usually holds a password, so it is never printed.
	ConnectionURL Secret
	// Table (table) is the table to use, optionally schema-qualified
	// ("coffer.kv"); the table's own name is at most 48 bytes
	// ([pgtable.CheckQualified]). Default "coffer_kv_store".
	Table string
	// HAEnabled (ha_enabled) lets several servers share the database, one
	// active and the others standing by. Default false.
	HAEnabled bool
	// MaxParallel (max_parallel) is the most connections to open at once.
	// Zero or absent means 128; a negative value is an error.
	MaxParallel int
	// HALeaseTTL (ha_lease_ttl) is the active node's leadership lease:
	// another node takes over from an active node that has not renewed
	// it for this long (a paused process, a frozen VM), and the active
	// node itself stops serving as active three quarters of the way
	// through it. Between 1s and 5m; absent means 5s. Used only with
	// ha_enabled.
	HALeaseTTL time.Duration
	// HAMaxStandbyLag (ha_max_standby_lag) bounds how far behind the
	// active node a standby may serve: a standby serves only while it
	// holds a read lease of this length, and a revocation returns once
	// every standby applied it or at most this long after. A duration
	// from 100ms to 1m; zero or absent means 2s (DefaultHAMaxStandbyLag). Used only with ha_enabled.
	HAMaxStandbyLag time.Duration
}

// Listener is a listener "tcp" block: an address the HTTP API is served on.
// TLS is on unless tls_disable says otherwise. With TLS on and neither
// tls_cert_file nor tls_key_file set, the server issues itself a
// certificate from a local CA it creates (see package tlsutil).
type Listener struct {
	// Type is the listener type; only "tcp" exists.
	Type string
	// Address (address) is "host:port" to listen on; the host may be an IP
	// address, a name, or empty for every interface. Default
	// "127.0.0.1:8200".
	Address string
	// ClusterAddress (cluster_address) is "host:port" the cluster listener
	// binds to: the mutual-TLS address standbys forward requests to. At
	// most one listener may set it, and it is used only with a
	// high-availability storage. Unless cluster_addr says otherwise, other
	// nodes are told this address (with the port picked when it is 0).
	ClusterAddress string
	// TLSDisable (tls_disable) turns TLS off. Accepts true/false, 1/0, and
	// the strings "true", "false", "1", "0" (and the other forms Go's
	// strconv.ParseBool takes), as Vault does.
	TLSDisable bool
	// TLSCertFile (tls_cert_file) is the PEM certificate chain, leaf
	// first. Set it and tls_key_file together, or neither.
	TLSCertFile string
	// TLSKeyFile (tls_key_file) is the PEM private key for TLSCertFile.
	TLSKeyFile string
	// TLSClientCAFile (tls_client_ca_file) is a PEM bundle of CAs whose
	// client certificates are verified when presented.
	TLSClientCAFile string
	// TLSRequireAndVerifyClientCert (tls_require_and_verify_client_cert)
	// refuses clients without a certificate from TLSClientCAFile, which
	// must then be set.
	TLSRequireAndVerifyClientCert bool
	// TLSDisableClientCerts (tls_disable_client_certs) never asks clients
	// for a certificate, even with tls_client_ca_file set. It cannot be
	// combined with tls_require_and_verify_client_cert.
	TLSDisableClientCerts bool
	// TLSMinVersion (tls_min_version) is "tls12" (the default) or "tls13".
	TLSMinVersion TLSVersion
	// TLSMaxVersion (tls_max_version) is "tls13" (the default) or
	// "tls12"; it may not be below TLSMinVersion.
	TLSMaxVersion TLSVersion
	// TLSCipherSuites (tls_cipher_suites, a comma-separated string or a
	// list) narrows the TLS 1.2 cipher suites, named as Go names them
	// ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"). Only ECDHE suites with
	// AES-GCM or ChaCha20-Poly1305 are allowed; TLS 1.3 suite names are
	// accepted and have no effect (TLS 1.3 suites are not configurable).
	// Empty means all the allowed suites.
	TLSCipherSuites []string
	// HTTP holds the listener's HTTP limits and switches.
	HTTP ListenerHTTP
}

// ListenerHTTP are a listener's HTTP settings. A zero limit means the
// top-level value (max_request_size, default_max_request_duration).
type ListenerHTTP struct {
	// MaxRequestSize (max_request_size) overrides the top-level
	// max_request_size for this listener. Negative values are errors.
	MaxRequestSize int64
	// MaxRequestDuration (max_request_duration) overrides
	// default_max_request_duration for this listener.
	MaxRequestDuration time.Duration
	// IdleTimeout (http_idle_timeout) closes keep-alive connections idle
	// this long. Absent means 2m; zero falls back to http_read_timeout.
	IdleTimeout time.Duration
	// ReadHeaderTimeout (http_read_header_timeout) is how long reading the
	// request headers may take. Absent means 10s; zero falls back to
	// http_read_timeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout (http_read_timeout) limits reading a whole request,
	// body included. Absent or zero means no limit.
	ReadTimeout time.Duration
	// WriteTimeout (http_write_timeout) limits writing a response. Absent
	// or zero means no limit.
	WriteTimeout time.Duration
	// MaxConnections (max_connections, a Coffer key) caps the connections
	// this listener holds open at once; one over the cap is closed as
	// soon as it is accepted. Absent means DefaultMaxConnections, lowered
	// at start so that it stays 128 below the process's open-file limit;
	// 0 means no cap. Negative values are errors.
	MaxConnections int64
	// MaxConnectionsPerIP (max_connections_per_ip, a Coffer key) caps the
	// connections from one client IP address. Absent means
	// DefaultMaxConnectionsPerIP; 0 means no cap. Negative values are
	// errors.
	MaxConnectionsPerIP int64
	// MaxRequestBodyBudget (max_request_body_budget, a Coffer key) bounds
	// the bytes of request bodies this listener buffers at once; a body
	// beyond it answers 503 with Retry-After. Absent or 0: the listener
	// shares the server's default budget of 128 MiB with the other
	// listeners that do not set it. Negative values are errors.
	MaxRequestBodyBudget int64
	// RequestBodyGrace (request_body_grace, a Coffer key) is how long a
	// request body may take before MinRequestBodyRate applies. Absent or
	// 0 means 10s. Negative values are errors.
	RequestBodyGrace time.Duration
	// MinRequestBodyRate (min_request_body_rate, a Coffer key) is the
	// average rate, in bytes per second since the body began, a body must
	// keep after the grace; a slower one answers 408 and its connection
	// is closed. Absent or 0 means 1024. Negative values are errors.
	MinRequestBodyRate int64
	// UnauthenticatedMetricsAccess (unauthenticated_metrics_access in the
	// listener's telemetry block) lets sys/metrics answer without a token
	// on this listener, as the top-level telemetry key does on all.
	UnauthenticatedMetricsAccess bool
	// DisableUnauthedRekeyEndpoints (disable_unauthed_rekey_endpoints, as
	// OpenBao names it) turns off sys/rekey/* on this listener: they
	// answer 405. Default false, as in Vault.
	DisableUnauthedRekeyEndpoints bool
	// DisableUnauthedGenerateRootEndpoints
	// (disable_unauthed_generate_root_endpoints, OpenBao's name) turns off
	// sys/generate-root/* on this listener: they answer 405. Default
	// false, as in Vault.
	DisableUnauthedGenerateRootEndpoints bool
}

// Default HTTP timeouts of a listener, used when the file does not name
// them.
const (
	DefaultHTTPIdleTimeout       = 2 * time.Minute
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	// DefaultMaxConnections and DefaultMaxConnectionsPerIP are a
	// listener's connection caps when the file does not name them.
	DefaultMaxConnections      = 1024
	DefaultMaxConnectionsPerIP = 256
)

// LocalCA reports whether the listener serves TLS with a certificate the
// server must issue itself: TLS on, no certificate or key file given.
func (l *Listener) LocalCA() bool {
	return !l.TLSDisable && l.TLSCertFile == "" && l.TLSKeyFile == ""
}

// TLSVersion is a minimum TLS protocol version.
type TLSVersion string

// The TLS versions a listener may require.
const (
	TLS12 TLSVersion = "tls12"
	TLS13 TLSVersion = "tls13"
)

// Uint16 returns v as a crypto/tls version constant, or 0 when v is not
// one of the known versions.
func (v TLSVersion) Uint16() uint16 {
	switch v {
	case TLS12:
		return tls.VersionTLS12
	case TLS13:
		return tls.VersionTLS13
	default:
		return 0
	}
}

// Secret is a configuration value that must not be printed, such as a
// connection string holding a password. It formats and logs as a
// placeholder; use string(s) where the raw value is needed.
type Secret string

// String returns a placeholder, never the value.
func (Secret) String() string { return "[redacted]" }

// GoString returns a placeholder, never the value.
func (Secret) GoString() string { return "[redacted]" }

// LogValue returns a placeholder, never the value.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalText returns a placeholder, never the value.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// DefaultSnapshotRetain is how many scheduled snapshots are kept when the
// snapshot block does not say.
const DefaultSnapshotRetain = 3

// Snapshot is the snapshot block (a Coffer key; Vault Enterprise
// schedules its snapshots through the API instead):
//
//	snapshot {
//	  interval = "1h"
//	  retain   = 24
//	  path     = "/var/lib/coffer/snapshots"
//	}
//
// The active node writes a snapshot (as `coffer operator snapshot save`
// does) every interval into path, each file complete or absent (temporary
// file, fsync, rename), keeps the newest retain, logs an error line when
// one fails, and reports the time of the last success as the metric
// coffer_snapshot_last_success_timestamp_seconds.
type Snapshot struct {
	// Interval (interval) is the time between two snapshots: a duration
	// such as "1h" or a number of seconds. Required.
	Interval time.Duration
	// Retain (retain) is how many snapshots are kept, the newest; at least
	// 1. Zero or absent means DefaultSnapshotRetain.
	Retain int64
	// Path (path) is the directory the snapshots are written to; it is
	// created with mode 0700 when missing. Required.
	Path string
}

// Telemetry is the telemetry block.
type Telemetry struct {
	// UnauthenticatedMetricsAccess (unauthenticated_metrics_access) lets
	// sys/metrics answer without a token.
	UnauthenticatedMetricsAccess bool
}

// AuditDevice is one audit block.
type AuditDevice struct {
	// Type is "file" or "socket"; Path is the device's name (its
	// sys/audit path).
	Type, Path  string
	Description string
	// LogRaw (log_raw) writes values without HMAC; HMACAccessor
	// (hmac_accessor, default true) HMACs token accessors.
	LogRaw, HMACAccessor bool
	// Format (format) must be "json" (the default) when set.
	Format string
	// FilePath (file_path) and Mode (mode, octal) for file devices:
	// a path, "stdout" or "discard".
	FilePath, Mode string
	// WitnessAddress (witness_address), WitnessType (witness_type: tcp,
	// unix or syslog) and WitnessWriteTimeout (witness_write_timeout) give
	// a file device a witness that receives its signed checkpoints.
	WitnessAddress, WitnessType string
	WitnessWriteTimeout         time.Duration
	// Address (address), SocketType (socket_type: tcp or unix) and
	// WriteTimeout (write_timeout) for socket devices.
	Address, SocketType string
	WriteTimeout        time.Duration
}

// UserLockout is one user_lockout block. A zero field (or a nil Disable)
// was not set and leaves the setting to the block or default below it.
type UserLockout struct {
	// Threshold (lockout_threshold) is how many failed logins lock a user
	// out.
	Threshold int
	// Duration (lockout_duration) is how long a lockout lasts.
	Duration time.Duration
	// CounterReset (lockout_counter_reset) is the window failed logins are
	// counted in.
	CounterReset time.Duration
	// Disable (disable_lockout) turns lockout off, or on again over an
	// "all" block that turned it off.
	Disable *bool
}
