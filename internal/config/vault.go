package config

// The keys Vault documents that Coffer accepts without using them, each
// with the reason logged once at start. A key Vault documents whose
// silent absence would be unsafe (a cloud KMS seal, namespaces, the
// PROXY protocol, a separate ha_storage) is refused instead, in
// unsupported below. docs/configuration.md lists every key with its class;
// TestDocsListEveryKey keeps the two in step.

const (
	whyPlugins    = "Coffer runs no external plugins; its engines and auth methods are built in"
	whyLogFile    = "Coffer logs to standard error; let the service manager (systemd, Kubernetes) keep and rotate the log"
	whyEnterprise = "it configures a Vault Enterprise feature Coffer does not have"
	whyPush       = "Coffer pushes no metrics; scrape sys/metrics (Prometheus format) instead"
	whyMetrics    = "Coffer's Prometheus metrics at sys/metrics have fixed names and labels"
	whyXFF        = "Coffer does not trust X-Forwarded-For; a client's address is its connection's (token bound_cidrs see the proxy)"
	whyRedact     = "Coffer does not redact sys/health, sys/seal-status or sys/leader answers"
)

// ignoredTop are the top-level keys and blocks Coffer ignores.
func ignoredTop() map[string]string {
	return map[string]string{
		"disable_mlock":                       "Coffer never locks memory with mlock; keep swap off or encrypted on its hosts",
		"cache_size":                          "Coffer keeps no read cache of storage to size; its caches (policies, tokens, mounts) hold what is in use",
		"disable_cache":                       "Coffer's caches of policies, tokens and mounts cannot be turned off; every write invalidates them",
		"plugin_directory":                    whyPlugins,
		"plugin_tmpdir":                       whyPlugins,
		"plugin_file_uid":                     whyPlugins,
		"plugin_file_permissions":             whyPlugins,
		"raw_storage_endpoint":                "Coffer has no sys/raw endpoint",
		"introspection_endpoint":              "Coffer has no sys/internal/inspect endpoint",
		"enable_response_header_raft_node_id": "Coffer has no integrated (Raft) storage",
		"log_file":                            whyLogFile,
		"log_rotate_duration":                 whyLogFile,
		"log_rotate_bytes":                    whyLogFile,
		"log_rotate_max_files":                whyLogFile,
		"log_requests_level":                  "Coffer logs every request at debug level",
		"experiments":                         "Coffer has no experiments to enable",
		"imprecise_lease_role_tracking":       "Coffer has no lease count quotas",
		"enable_post_unseal_trace":            "Coffer writes no post-unseal trace",
		"post_unseal_trace_directory":         "Coffer writes no post-unseal trace",
		"detect_deadlocks":                    "Coffer has no lock-tracking mode",
		"disable_clustering":                  "a Coffer node with a cluster listener always serves it; leave out cluster_address and cluster_addr for none",
		"cluster_cipher_suites":               "Coffer's cluster listener always uses TLS 1.2 or later with AEAD suites",
		"disable_sealwrap":                    whyEnterprise,
		"disable_performance_standby":         whyEnterprise + "; Coffer standbys always serve kv reads and transit themselves",
		"license_path":                        whyEnterprise,
		"administrative_namespace_path":       whyEnterprise,
		// Blocks.
		"service_registration": "Coffer does not register itself with Consul or Kubernetes; point health checks at sys/health",
		"entropy":              whyEnterprise + "; Coffer draws randomness from the operating system",
		"replication":          whyEnterprise,
		"sentinel":             whyEnterprise,
		"reporting":            "Coffer has no license to report on",
		"kms_library":          whyEnterprise,
	}
}

// ignoredListener are the keys and blocks of listener "tcp" Coffer
// ignores.
func ignoredListener() map[string]string {
	return map[string]string{
		"tls_prefer_server_cipher_suites":       "Go, and so Vault and Coffer, no longer lets a server prefer its own order",
		"x_forwarded_for_authorized_addrs":      whyXFF,
		"x_forwarded_for_hop_skips":             whyXFF,
		"x_forwarded_for_reject_not_authorized": whyXFF,
		"x_forwarded_for_reject_not_present":    whyXFF,
		"redact_addresses":                      whyRedact,
		"redact_cluster_name":                   whyRedact,
		"redact_version":                        whyRedact,
		"disable_replication_status_endpoints":  "Coffer has no replication status endpoints",
		"disable_request_limiter":               "Coffer has no adaptive request limiter",
		// Blocks.
		"custom_response_headers":   "Coffer sets no custom response headers; add them in a proxy in front of it",
		"profiling":                 "Coffer has no sys/pprof endpoint",
		"inflight_requests_logging": "Coffer does not log requests in flight; read sys/in-flight-req (sudo) instead",
	}
}

// ignoredTelemetry are the keys of the telemetry block Coffer ignores.
func ignoredTelemetry() map[string]string {
	m := map[string]string{
		"prometheus_retention_time":          "Coffer always serves Prometheus metrics at sys/metrics, computed when scraped; nothing is retained",
		"disable_hostname":                   "Coffer's metric names never carry the host name",
		"enable_hostname_label":              whyMetrics,
		"metrics_prefix":                     whyMetrics,
		"usage_gauge_period":                 whyMetrics,
		"maximum_gauge_cardinality":          whyMetrics,
		"lease_metrics_epsilon":              whyMetrics,
		"num_lease_metrics_buckets":          whyMetrics,
		"add_lease_metrics_namespace_labels": whyMetrics,
		"add_mount_point_rollback_metrics":   whyMetrics,
		"filter_default":                     whyMetrics,
		"prefix_filter":                      whyMetrics,
		"statsite_address":                   whyPush,
		"statsd_address":                     whyPush,
		"dogstatsd_addr":                     whyPush,
		"dogstatsd_tags":                     whyPush,
		"stackdriver_project_id":             whyPush,
		"stackdriver_location":               whyPush,
		"stackdriver_namespace":              whyPush,
		"stackdriver_debug_logs":             whyPush,
	}
	for _, k := range []string{
		"api_token", "api_app", "api_url", "submission_interval", "submission_url",
		"check_id", "check_force_metric_activation", "check_instance_id",
		"check_search_tag", "check_display_name", "check_tags", "broker_id",
		"broker_select_tag",
	} {
		m["circonus_"+k] = whyPush
	}
	return m
}

// ignoredPostgres are the keys of storage "postgresql" Coffer ignores.
func ignoredPostgres() map[string]string {
	return map[string]string{
		"max_idle_connections": "Coffer's connection pool keeps idle connections within max_parallel by itself",
		"ha_table":             "Coffer elects its active node with a PostgreSQL advisory lock and needs no lock table",
	}
}

// unsupported are Vault keys and blocks Coffer refuses, because running
// without them would surprise the operator or break clients: name -> the
// error's explanation.
func unsupported() map[string]string {
	return map[string]string{
		"ha_storage":                      `Coffer has no separate HA storage; use storage "postgresql" with ha_enabled = true`,
		"chroot_namespace":                "Coffer has no namespaces; without it this listener would serve the root namespace",
		"proxy_protocol_behavior":         "Coffer does not read the PROXY protocol; connections from the proxy would fail",
		"proxy_protocol_authorized_addrs": "Coffer does not read the PROXY protocol; connections from the proxy would fail",
	}
}

// vaultStorage says, for storage types Vault has and Coffer does not,
// what to use instead.
func vaultStorage(name string) string {
	switch name {
	case "raft":
		return `Coffer has no integrated (Raft) storage; use storage "bolt" for one server, or "postgresql" with ha_enabled = true for high availability`
	case "consul", "etcd", "zookeeper", "dynamodb", "mysql", "mssql", "cockroachdb", "spanner", "gcs", "s3", "azure",
		"cassandra", "couchdb", "foundationdb", "manta", "oci", "swift", "alicloudoss", "aerospike":
		return `Coffer stores data in bolt (one server) or postgresql (high availability)`
	}
	return ""
}

// vaultSeals are the seal types Vault documents, for suggestions.
func vaultSeals() []string {
	return []string{SealShamir, "alicloudkms", "awskms", "azurekeyvault", "gcpckms", "ocikms", "pkcs11", "transit", "kmip", "static"}
}
