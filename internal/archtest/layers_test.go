package archtest

// This file is the layering, as data. allowed is the allow-list of every
// package's own imports; depRules are the rules on everything a package
// depends on, directly or through other packages. A package that is not in
// allowed fails TestLayering: add it with the packages it may import.
//
// Paths are relative to the module (cmd/coffer, internal/core). A path
// ending in "/..." stands for that package and every package below it.

// testHelpers are the packages that exist to be imported by tests.
func testHelpers() []string {
	return []string{
		"internal/testserver",
		"internal/testdb",
		"internal/testbin",
		"internal/logical/logicaltest",
		"internal/storage/storagetest",
		"internal/seal/sealtest",
		"internal/ui/uitest",
	}
}

// testOnly are the packages made of tests alone (a doc.go and _test files).
func testOnly() []string {
	return []string{"internal/archtest", "internal/conformance", "internal/e2e", "internal/jepsen"}
}

// leaves are small packages with one common job each (a duration parser,
// HCL value setters, an atomic file writer, a UUID generator, a backoff)
// that any layer may use, so that each job is done one way. A leaf imports
// no package of the module but other leaves.
func leaves() []string {
	return []string{
		"internal/atomicfile", "internal/backoff", "internal/duration",
		"internal/hclvalue", "internal/uuid",
	}
}

// allowed maps each package (or pattern of packages) to the module's
// packages it may import directly. The entry for a package is its exact
// path if there is one, or else the longest pattern that covers it. Only
// the package's own build counts, not its tests.
func allowed() map[string][]string {
	return map[string][]string{
		// The binary: the command tree and the server it runs.
		"cmd/coffer": {"internal/cli", "internal/server"},
		// The load generator talks HTTP with the standard library.
		"tools/loadgen": nil,

		// Composition root: the one package that sees everything.
		"internal/server": {
			"internal/builtin", "internal/config", "internal/core", "internal/diagnose",
			"internal/ha", "internal/httpapi", "internal/logical", "internal/metrics", "internal/migrate",
			"internal/seal/...", "internal/snapshot", "internal/storage/...", "internal/tlsutil",
			"internal/backoff", "internal/awsapi", "internal/awsauth", "internal/gcpapi", "internal/azureapi",
			"internal/ui",
		},
		"internal/config":  {"internal/hclvalue", "internal/storage/postgres/pgtable", "internal/suggest"},
		"internal/builtin": {"internal/auth/...", "internal/engine/...", "internal/logical"},
		"internal/metrics": {"internal/storage"},
		"internal/tlsutil": {"internal/atomicfile"},

		// The leaves.
		"internal/atomicfile": nil,
		"internal/backoff":    nil,
		"internal/duration":   nil,
		"internal/hclvalue":   {"internal/duration"},
		"internal/uuid":       nil,

		// The HTTP layer: core, the contract and the error kinds it maps.
		"internal/httpapi": {
			"internal/core", "internal/ha", "internal/logical", "internal/logical/framework",
			"internal/metrics", "internal/router", "internal/token", "internal/uuid",
			"internal/events",
		},

		// The request pipeline and what it drives.
		"internal/core": {
			"internal/access", "internal/audit", "internal/barrier", "internal/ha", "internal/identity",
			"internal/lease", "internal/lockout", "internal/logical", "internal/logical/framework",
			"internal/mount", "internal/policy", "internal/router", "internal/seal",
			"internal/snapshot", "internal/storage", "internal/token", "internal/token/otp",
			"internal/sys/auditdev", "internal/sys/ceremony", "internal/sys/host",
			"internal/sys/accessapi",
			"internal/sys/leases", "internal/sys/mounts", "internal/sys/operator",
			"internal/sys/passwords", "internal/sys/plugins", "internal/sys/policies",
			"internal/sys/rotate", "internal/sys/snapshots", "internal/sys/tokenapi",
			"internal/sys/wrapping", "internal/backoff", "internal/uuid",
			"internal/incident", "internal/sys/incident",
			"internal/sys/search",
			"internal/events", "internal/events/webhook",
			"internal/leaks", "internal/sys/leaks",
		},
		// The event bus (pure) and webhook delivery, which core drives.
		"internal/events":         {"internal/uuid"},
		"internal/events/webhook": {"internal/events", "internal/logical", "internal/logical/framework", "internal/storage", "internal/backoff", "internal/uuid"},
		// High availability, which reaches core through the Host interface
		// it declares.
		"internal/ha": {"internal/logical", "internal/logical/framework", "internal/storage"},
		// The sys groups core serves, each behind a small interface.
		"internal/sys/ceremony":  {"internal/logical", "internal/logical/framework", "internal/seal", "internal/token", "internal/token/otp"},
		"internal/sys/operator":  {"internal/logical", "internal/logical/framework", "internal/storage"},
		"internal/sys/rotate":    {"internal/barrier", "internal/logical", "internal/logical/framework", "internal/storage"},
		"internal/sys/snapshots": {"internal/barrier", "internal/logical", "internal/snapshot", "internal/storage"},
		"internal/sys/tokenapi":  {"internal/logical", "internal/logical/framework", "internal/token"},
		"internal/sys/auditdev":  {"internal/audit", "internal/audit/trail", "internal/logical", "internal/logical/framework", "internal/router", "internal/storage"},
		"internal/sys/host":      {"internal/hostinfo", "internal/logical", "internal/logical/framework"},
		"internal/sys/leases":    {"internal/lease", "internal/logical", "internal/logical/framework"},
		"internal/sys/accessapi": {"internal/access", "internal/logical", "internal/logical/framework", "internal/policy"},
		"internal/sys/incident":  {"internal/duration", "internal/incident", "internal/logical", "internal/logical/framework"},
		// Incident response's pure logic: matching, the guard, reports.
		"internal/incident":      nil,
		"internal/sys/mounts":    {"internal/logical", "internal/logical/framework", "internal/router"},
		"internal/sys/passwords": {"internal/logical", "internal/logical/framework", "internal/passpol", "internal/storage"},
		"internal/sys/plugins":   {"internal/logical", "internal/logical/framework"},
		"internal/sys/search":    {"internal/logical", "internal/logical/framework"},
		"internal/sys/leaks":     {"internal/leaks", "internal/logical", "internal/logical/framework"},
		// The live-secret fingerprint index behind sys/leaks/check.
		"internal/leaks":        {"internal/logical"},
		"internal/sys/policies": {"internal/logical", "internal/logical/framework", "internal/policy", "internal/router", "internal/storage"},
		"internal/sys/wrapping": {"internal/logical", "internal/logical/framework", "internal/storage", "internal/token"},
		"internal/router":       {"internal/logical", "internal/storage"},
		"internal/mount":        {"internal/logical", "internal/router", "internal/storage"},
		"internal/lockout":      {"internal/mount"},
		"internal/token":        {"internal/access", "internal/storage"},
		"internal/token/otp":    nil,
		"internal/lease":        {"internal/storage"},
		"internal/audit":        {"internal/logical", "internal/logical/framework"},
		"internal/audit/trail":  {"internal/audit"},
		"internal/identity":     {"internal/logical", "internal/logical/framework", "internal/uuid"},
		"internal/policy":       {"internal/duration"},
		"internal/access":       {"internal/logical", "internal/policy"}, // who grants a path; principals, identity and tokens
		"internal/passpol":      nil,
		"internal/hostinfo":     nil,
		"internal/snapshot":     {"internal/atomicfile"},
		"internal/suggest":      nil,

		// Security: the barrier, seals and secret sharing.
		"internal/barrier":  {"internal/storage"},
		"internal/seal":     {"internal/barrier", "internal/shamir", "internal/storage", "internal/uuid"},
		"internal/seal/...": {"internal/seal", "internal/backoff"}, // pkcs11, static, transit, sealtest
		"internal/shamir":   nil,

		// Storage: the interface and one package per backend.
		"internal/storage":             nil,
		"internal/storage/...":         {"internal/storage"}, // bolt, inmem, postgres/pgtable
		"internal/storage/postgres":    {"internal/storage", "internal/storage/postgres/pgtable"},
		"internal/storage/storagetest": {"internal/snapshot", "internal/storage"},

		// The contract and what engines build on.
		"internal/logical":             nil,
		"internal/logical/framework":   {"internal/logical", "internal/duration"},
		"internal/logical/logicaltest": {"internal/logical", "internal/storage"},
		"internal/engine/...":          {"internal/logical", "internal/logical/framework", "internal/uuid"},
		"internal/engine/kv":           {"internal/logical", "internal/logical/framework", "internal/uuid", "internal/rotation"},
		// Scheduled rotation's storage-free parts, which KV v2 runs.
		"internal/rotation": {"internal/backoff", "internal/logical", "internal/logical/framework"},
		"internal/auth/...": {"internal/logical", "internal/logical/framework", "internal/uuid"},
		// SigV4 verification of AWS requests with awskeys access keys,
		// answering a Coffer client token made through core.
		"internal/awsauth": {"internal/core", "internal/ha", "internal/logical", "internal/token"},
		// The AWS Secrets Manager API: a translator in front of core, like
		// httpapi; it never imports an engine or storage.
		"internal/awsapi": {"internal/awsauth", "internal/core", "internal/ha", "internal/kvpayload", "internal/logical", "internal/token", "internal/uuid"},
		// How the cloud APIs keep one value in KV data: encoding only.
		"internal/kvpayload": nil,
		// The Google Cloud Secret Manager API (gRPC): a translator in
		// front of core like awsapi.
		"internal/gcpapi":   {"internal/core", "internal/ha", "internal/kvpayload", "internal/logical", "internal/token", "internal/uuid"},
		"internal/azureapi": {"internal/core", "internal/ha", "internal/kvpayload", "internal/logical", "internal/token", "internal/uuid"},

		// Clients: the CLI and the agent reach the server over HTTP.
		"internal/cli": {
			"internal/agent", "internal/agent/child", "internal/agent/config", "internal/agent/eventsub",
			"internal/audit", "internal/audit/trail", "internal/snapshot",
			"internal/suggest", "internal/token/otp", "internal/duration", "internal/atomicfile",
			"internal/incident", "internal/k8s/kms", "internal/k8s/csi",
			"internal/scan", "internal/scan/format", "internal/scan/live", "internal/scan/manifest", "internal/scan/report", "internal/scan/source",
		},
		"internal/agent":          {"internal/agent/child", "internal/agent/config", "internal/agent/eventsub", "internal/agent/template", "internal/atomicfile", "internal/backoff"},
		"internal/agent/child":    nil,
		"internal/agent/eventsub": nil,
		"internal/agent/config":   {"internal/hclvalue"},
		"internal/agent/template": nil,
		// The Kubernetes KMS v2 plugin: a client of the API like the agent.
		"internal/k8s/kms": nil,

		// The Secrets Store CSI provider: a client of the API like the
		// agent, serving the driver's gRPC API (its generated types).
		"internal/k8s/csi":            {"internal/k8s/csi/providerpb"},
		"internal/k8s/csi/providerpb": nil,
		// coffer scan: a client of sys/leaks/check, like the agent.
		"internal/scan":          {"internal/scan/extract", "internal/scan/format", "internal/scan/live", "internal/scan/manifest", "internal/scan/report", "internal/scan/source"},
		"internal/scan/extract":  nil,
		"internal/scan/format":   nil,
		"internal/scan/live":     nil,
		"internal/scan/manifest": nil,
		"internal/scan/report":   nil,
		"internal/scan/source":   nil,

		// Operator tools work on storage as stored.
		// The web UI: embedded static files, a client of the API in the browser.
		"internal/ui":        nil,
		"internal/ui/uitest": {"internal/testserver"},

		"internal/migrate":  {"internal/config", "internal/storage"},
		"internal/diagnose": {"internal/config", "internal/storage"},

		// Test helpers and packages of tests alone.
		"internal/testserver":  {"internal/config", "internal/core", "internal/ha", "internal/logical", "internal/server", "internal/uuid"},
		"internal/testdb":      nil,
		"internal/testbin":     nil,
		"internal/archtest":    nil,
		"internal/conformance": nil,
		"internal/e2e":         nil,
		"internal/jepsen":      nil,
	}
}

// depRules are the layering's rules on dependencies, direct or not.
func depRules() []depRule {
	noTestCode := func(from string, except []string, why string) depRule {
		return depRule{
			from: from, except: except, why: why,
			not:    testHelpers(),
			notStd: []string{"testing", "testing/...", "net/http/httptest"},
		}
	}

	backend := append([]string{"internal/logical", "internal/logical/framework"}, leaves()...)
	rules := []depRule{
		noTestCode("cmd/coffer", nil, "the coffer binary carries no test code"),
		noTestCode("...", append(testHelpers(), testOnly()...), "code that ships never carries test code"),
		{from: "internal/engine/...", only: append(backend, "internal/rotation"), why: "engines know only the logical contract and its framework (and rotation's generators and rotators, themselves built on it)"},
		{from: "internal/engine/...", not: []string{"internal/engine/..."}, why: "engines never import each other"},
		{from: "internal/auth/...", only: backend, why: "auth methods know only the logical contract and its framework"},
		{from: "internal/auth/...", not: []string{"internal/auth/..."}, why: "auth methods never import each other"},
		{from: "internal/identity", only: backend, why: "the identity store is built like an engine"},
		{from: "internal/logical/framework", only: append([]string{"internal/logical"}, leaves()...), why: "the framework builds on the contract alone"},
		{
			from: "internal/core",
			not:  []string{"internal/httpapi", "internal/cli", "internal/server", "internal/builtin", "internal/engine/...", "internal/auth/...", "internal/agent/..."},
			why:  "core never reaches up, nor into a particular engine or auth method",
		},
		{
			from: "internal/sys/...",
			not:  []string{"internal/core", "internal/httpapi", "internal/server", "internal/builtin", "internal/engine/...", "internal/auth/..."},
			why:  "a sys group reaches core through the small interface it declares, never core itself",
		},
		{from: "internal/ha", only: append([]string{"internal/logical", "internal/logical/framework", "internal/storage"}, leaves()...), why: "high availability reaches core through the Host interface it declares, never core itself"},
		{from: "internal/barrier", only: []string{"internal/storage"}, why: "the barrier stays small: it sees only the storage interface"},
		{from: "internal/storage/...", except: []string{"internal/storage/storagetest"}, only: []string{"internal/storage"}, why: "each storage backend imports only the storage interface"},
		{from: "internal/agent/...", only: append([]string{"internal/agent/..."}, leaves()...), why: "the agent is a client like any other: HTTP only"},
		{from: "internal/k8s/kms", only: leaves(), why: "the KMS plugin is a client like any other: HTTP only"},
		{from: "internal/k8s/csi/...", only: append([]string{"internal/k8s/csi/..."}, leaves()...), why: "the CSI provider is a client like any other: HTTP only"},
		{from: "internal/scan/...", only: append([]string{"internal/scan/..."}, leaves()...), why: "the scanner is a client like any other: HTTP only"},
		{
			from: "internal/cli",
			not:  []string{"internal/core", "internal/server", "internal/httpapi", "internal/router", "internal/engine/...", "internal/auth/...", "internal/storage/...", "internal/barrier", "internal/token", "internal/lease"},
			why:  "the CLI talks to the server over HTTP only",
		},
		{
			from: "internal/migrate",
			not:  []string{"internal/core", "internal/barrier", "internal/httpapi", "internal/server", "internal/cli", "internal/seal/..."},
			why:  "operator tools work on storage as stored, never through the core or the barrier",
		},
		{
			from: "internal/diagnose",
			not:  []string{"internal/core", "internal/barrier", "internal/httpapi", "internal/server", "internal/cli", "internal/seal/..."},
			why:  "operator tools work on storage as stored, never through the core or the barrier",
		},
	}
	for _, l := range leaves() {
		rules = append(rules, depRule{from: l, only: leaves(), why: "a leaf imports no package of the module but other leaves"})
	}
	return rules
}
