package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/coffer-secrets/coffer/internal/storage/postgres/pgtable"
)

// applyDefaults fills in every key left at its zero value.
func (c *Config) applyDefaults() {
	if c.LogLevel == "" {
		c.LogLevel = LogInfo
	}
	if c.LogFormat == "" {
		c.LogFormat = LogText
	}
	if c.MaxLeaseTTL == 0 {
		c.MaxLeaseTTL = DefaultMaxLeaseTTL
	}
	if c.DefaultLeaseTTL == 0 {
		c.DefaultLeaseTTL = DefaultLeaseTTL
		if c.MaxLeaseTTL > 0 {
			c.DefaultLeaseTTL = min(DefaultLeaseTTL, c.MaxLeaseTTL)
		}
	}
	if c.MaxRequestSize == 0 {
		c.MaxRequestSize = DefaultMaxRequestSize
	}
	c.AWSSecretsManager.defaults()
	c.AzureKeyVault.defaults()
	if c.Snapshot != nil && c.Snapshot.Retain == 0 {
		c.Snapshot.Retain = DefaultSnapshotRetain
	}
	if c.Storage != nil && c.Storage.Postgres != nil {
		p := c.Storage.Postgres
		if p.Table == "" {
			p.Table = DefaultPostgresTable
		}
		if p.MaxParallel == 0 {
			p.MaxParallel = DefaultPostgresMaxParallel
		}
		if p.HALeaseTTL == 0 {
			p.HALeaseTTL = DefaultHALeaseTTL
		}
	}
	for i := range c.Listeners {
		c.listenerDefaults(&c.Listeners[i])
	}
}

// listenerDefaults fills in the keys of l left at their zero value, some
// from the top level of c.
func (c *Config) listenerDefaults(l *Listener) {
	if l.Address == "" {
		l.Address = DefaultListenAddress
	}
	if l.TLSMinVersion == "" {
		l.TLSMinVersion = TLS12
	}
	if l.TLSMaxVersion == "" {
		l.TLSMaxVersion = TLS13
	}
	if l.HTTP.MaxRequestSize == 0 {
		l.HTTP.MaxRequestSize = c.MaxRequestSize
	}
	if l.HTTP.MaxRequestDuration == 0 {
		l.HTTP.MaxRequestDuration = c.DefaultMaxRequestDuration
	}
	if c.Telemetry.UnauthenticatedMetricsAccess {
		l.HTTP.UnauthenticatedMetricsAccess = true
	}
}

// Dev returns a copy of c for dev mode (coffer server -dev -config FILE),
// as Vault does it: in-memory storage replaces c's, and a plain-HTTP
// listener on listen comes first, unless one of c's listeners already
// uses that address. Everything else (TLS listeners, audit devices,
// telemetry ...) is kept. c is not modified.
func (c *Config) Dev(listen string) (*Config, error) {
	d := *c
	d.src = nil
	d.Storage = &Storage{Type: StorageInmem, Inmem: &InmemStorage{}}
	d.Listeners = slices.Clone(c.Listeners)
	d.Warnings = slices.Clone(c.Warnings)
	// Dev mode initializes and unseals itself with one key share.
	d.Seal, d.DisabledSeal = nil, nil
	// Dev mode serves the web UI, as Vault's does.
	d.UI = true
	if d.AWSSecretsManager == nil {
		d.AWSSecretsManager = &AWSSecretsManager{}
		d.AWSSecretsManager.defaults()
	}
	if d.AzureKeyVault == nil {
		d.AzureKeyVault = &AzureKeyVault{Enabled: true}
		d.AzureKeyVault.defaults()
	}
	if !slices.ContainsFunc(d.Listeners, func(l Listener) bool { return l.Address == listen }) {
		dev := Listener{Type: "tcp", Address: listen, TLSDisable: true, HTTP: ListenerHTTP{
			IdleTimeout:         DefaultHTTPIdleTimeout,
			ReadHeaderTimeout:   DefaultHTTPReadHeaderTimeout,
			MaxConnections:      DefaultMaxConnections,
			MaxConnectionsPerIP: DefaultMaxConnectionsPerIP,
		}}
		d.listenerDefaults(&dev)
		d.Listeners = append([]Listener{dev}, d.Listeners...)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// applyEnv applies the environment overrides Parse documents. It is only
// called on a Config read from a file, so c.src is set.
func (c *Config) applyEnv(getenv func(string) string) {
	if getenv == nil {
		return
	}
	lookup := func(key string, names ...string) (string, bool) {
		for _, name := range names {
			if v := getenv(name); v != "" {
				c.src.at[key] = origin{env: name}
				delete(c.src.broken, key)
				return v, true
			}
		}
		return "", false
	}
	if v, ok := lookup("api_addr", "COFFER_API_ADDR", "VAULT_API_ADDR"); ok {
		c.APIAddr = v
	}
	if v, ok := lookup("log_level", "COFFER_LOG_LEVEL", "VAULT_LOG_LEVEL"); ok {
		c.LogLevel = normalLogLevel(v)
	}
	if v, ok := lookup("cluster_addr", "COFFER_CLUSTER_ADDR", "VAULT_CLUSTER_ADDR"); ok {
		c.ClusterAddr = v
	}
	if v, ok := lookup("log_format", "COFFER_LOG_FORMAT"); ok {
		c.LogFormat = LogFormat(strings.ToLower(strings.TrimSpace(v)))
	}
	if v, ok := lookup("node_id", "COFFER_NODE_ID"); ok {
		c.NodeID = v
	}
	if v, ok := lookup("disable_request_forwarding", "COFFER_DISABLE_REQUEST_FORWARDING"); ok {
		switch on, err := strconv.ParseBool(strings.TrimSpace(v)); {
		case err != nil:
			c.src.envErrs = append(c.src.envErrs, envErr{key: "disable_request_forwarding", msg: fmt.Sprintf("disable_request_forwarding: want true or false, got %q", v)})
		case on:
			c.DisableRequestForwarding = true
		}
	}
	c.sealEnv(getenv)
}

// Validate reports every problem with c, joined with errors.Join as
// [*Error] values; nil means c is usable as it is. It expects every default
// filled in, as [Parse] does; a server building a Config in code must set
// every field. Validate does not modify c.
func (c *Config) Validate() error {
	v := validator{c: c, ws: &warnings{}}
	v.validate()
	return v.ps.join()
}

func (v *validator) validate() {
	c := v.c
	v.storage()
	v.listeners()
	v.cluster()
	v.seals()
	if strings.ContainsRune(c.PIDFile, 0) {
		v.errorf("pid_file", "pid_file contains a NUL byte")
	}
	if c.DefaultMaxRequestDuration < 0 {
		v.errorf("default_max_request_duration", "default_max_request_duration %v: must not be negative", c.DefaultMaxRequestDuration)
	}
	if c.APIAddr != "" {
		if err := checkAPIAddr(c.APIAddr); err != nil {
			v.errorf("api_addr", "api_addr %q: %v", c.APIAddr, err)
		}
	}
	switch c.LogLevel {
	case LogDebug, LogInfo, LogWarn, LogError:
	default:
		v.errorf("log_level", "log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case LogText, LogJSON:
	default:
		v.errorf("log_format", "log_format %q: want text or json", c.LogFormat)
	}
	switch {
	case c.MaxLeaseTTL < 0:
		v.errorf("max_lease_ttl", "max_lease_ttl %v: must not be negative", c.MaxLeaseTTL)
	case c.MaxLeaseTTL == 0:
		v.errorf("max_lease_ttl", "max_lease_ttl must be set")
	}
	switch {
	case c.DefaultLeaseTTL < 0:
		v.errorf("default_lease_ttl", "default_lease_ttl %v: must not be negative", c.DefaultLeaseTTL)
	case c.DefaultLeaseTTL == 0:
		v.errorf("default_lease_ttl", "default_lease_ttl must be set")
	case c.MaxLeaseTTL > 0 && c.DefaultLeaseTTL > c.MaxLeaseTTL:
		v.errorf("default_lease_ttl", "default_lease_ttl %v is longer than max_lease_ttl %v", c.DefaultLeaseTTL, c.MaxLeaseTTL)
	}
	v.audit()
	if sn := c.Snapshot; sn != nil {
		switch {
		case sn.Interval <= 0:
			v.errorf("snapshot.interval", "snapshot: interval must be a positive duration such as \"1h\"")
		case sn.Retain < 1:
			v.errorf("snapshot.retain", "snapshot: retain %d must be at least 1", sn.Retain)
		}
		if sn.Path == "" {
			v.errorf("snapshot", "snapshot: path (the directory to write snapshots to) is required")
		}
	}
	v.awsSecretsManager()
	v.gcpSecretManager()
	v.azureKeyVault()
	if c.MaxRequestSize <= 0 {
		v.errorf("max_request_size", "max_request_size %d: must be a positive number of bytes (Coffer has no unlimited setting)", c.MaxRequestSize)
	}
}

// validator collects the problems and warnings of one Config.
type validator struct {
	c  *Config
	ps problems
	ws *warnings
}

// warn records that key (a source key such as "cluster_addr") is
// ignored, placed where it came from.
func (v *validator) warn(key, block, name, why string) {
	src := v.c.src
	if src == nil {
		v.ws.add(hcl.Range{}, key, block, name, why)
		return
	}
	o, ok := src.at[key]
	if !ok {
		v.ws.add(hcl.Range{}, src.filename, block, name, why)
		return
	}
	if o.env != "" {
		v.ws.add(hcl.Range{}, "environment variable "+o.env, block, name, why)
		return
	}
	v.ws.add(o.rng, "", block, name, why)
}

// errorf records a problem with key, placed where key (or else the nearest
// enclosing block) came from. It says nothing about a key that already
// failed to decode: that has been reported.
func (v *validator) errorf(key, format string, args ...any) {
	src := v.c.src
	if src == nil {
		v.ps.addAt(key, format, args...)
		return
	}
	if src.broken[key] {
		return
	}
	for k := key; k != ""; k = parentKey(k) {
		o, ok := src.at[k]
		switch {
		case !ok:
			continue
		case o.env != "":
			v.ps.addAt("environment variable "+o.env, format, args...)
		default:
			v.ps.add(o.rng, format, args...)
		}
		return
	}
	v.ps.addAt(src.filename, format, args...)
}

// parentKey returns the key of the block holding key: "listener[0]" for
// "listener[0].address", "" for a top-level key.
func parentKey(key string) string {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return ""
	}
	return key[:i]
}

func (v *validator) storage() {
	s := v.c.Storage
	if s == nil {
		if v.c.src == nil || !v.c.src.broken["storage"] {
			v.errorf("storage", `missing storage block; add one such as storage "bolt" { path = "/var/lib/coffer/coffer.db" }`)
		}
		return
	}
	label, kind := string(s.Type), "storage"
	if v.c.src != nil && v.c.src.storageLabel != "" {
		label = v.c.src.storageLabel
	}
	if v.c.src != nil && v.c.src.storageBlock != "" {
		kind = v.c.src.storageBlock
	}
	name := fmt.Sprintf("%s %q", kind, label) // such as `storage "bolt"`
	set := 0
	for _, p := range []bool{s.Bolt != nil, s.Inmem != nil, s.Postgres != nil} {
		if p {
			set++
		}
	}
	ok := set == 1
	switch s.Type {
	case StorageBolt:
		ok = ok && s.Bolt != nil
	case StorageInmem:
		ok = ok && s.Inmem != nil
	case StoragePostgres:
		ok = ok && s.Postgres != nil
	default:
		ok = false
	}
	if !ok {
		v.errorf("storage", "storage type %q must come with exactly its own settings", s.Type)
		return
	}
	switch {
	case s.Bolt != nil:
		switch {
		case s.Bolt.Path == "":
			v.errorf("storage.path", "%s needs a path", name)
		case strings.ContainsRune(s.Bolt.Path, 0):
			v.errorf("storage.path", "path in %s contains a NUL byte", name)
		}
	case s.Postgres != nil:
		p := s.Postgres
		if p.ConnectionURL == "" {
			v.errorf("storage.connection_url", "%s needs a connection_url", name)
		} else if !validConnString(string(p.ConnectionURL)) {
			// Never quote the value: it usually holds a password.
			v.errorf("storage.connection_url", "connection_url in %s is neither a postgres:// URL nor a key=value connection string", name)
		}
		if err := pgtable.CheckQualified(p.Table); err != nil {
			v.errorf("storage.table", "table in %s: %v", name, err)
		}
		if p.MaxParallel <= 0 {
			v.errorf("storage.max_parallel", "max_parallel %d in %s: must be positive", p.MaxParallel, name)
		}
		if p.HALeaseTTL < MinHALeaseTTL || p.HALeaseTTL > MaxHALeaseTTL {
			v.errorf("storage.ha_lease_ttl", "ha_lease_ttl %s in %s: must be between %s and %s", p.HALeaseTTL, name, MinHALeaseTTL, MaxHALeaseTTL)
		}
		if p.HAMaxStandbyLag != 0 && (p.HAMaxStandbyLag < MinHAMaxStandbyLag || p.HAMaxStandbyLag > MaxHAMaxStandbyLag) {
			v.errorf("storage.ha_max_standby_lag", "ha_max_standby_lag %s in %s: want from %s to %s", p.HAMaxStandbyLag, name, MinHAMaxStandbyLag, MaxHAMaxStandbyLag)
		}
	}
}

func (v *validator) listeners() {
	c := v.c
	if len(c.Listeners) == 0 {
		if c.src == nil || !c.src.broken["listener"] {
			v.errorf("listener", `missing listener block; add one such as listener "tcp" { address = "127.0.0.1:8200" }`)
		}
		return
	}
	seen := make(map[string]int)
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listener[%d]", i)
		if l.Type != "tcp" {
			v.errorf(key, "listener type %q: only \"tcp\" is supported", l.Type)
		}
		if err := checkAddress(l.Address); err != nil {
			v.errorf(key+".address", "address %q in listener %q: %v", l.Address, l.Type, err)
		} else if j, dup := seen[l.Address]; dup {
			v.errorf(key+".address", "address %q in listener %q is already used by listener %d", l.Address, l.Type, j+1)
		} else if !strings.HasSuffix(l.Address, ":0") {
			// Port 0 picks a free port: two of them do not clash.
			seen[l.Address] = i
		}
		for _, tv := range []struct {
			name string
			v    TLSVersion
		}{{"tls_min_version", l.TLSMinVersion}, {"tls_max_version", l.TLSMaxVersion}} {
			switch tv.v {
			case TLS12, TLS13:
			case "tls10", "tls11":
				v.errorf(key+"."+tv.name, "%s %q in listener %q: no longer supported; want tls12 or tls13", tv.name, tv.v, l.Type)
			default:
				v.errorf(key+"."+tv.name, "%s %q in listener %q: want tls12 or tls13", tv.name, tv.v, l.Type)
			}
		}
		if l.TLSMinVersion == TLS13 && l.TLSMaxVersion == TLS12 {
			v.errorf(key+".tls_max_version", "tls_max_version %q in listener %q is below tls_min_version %q", l.TLSMaxVersion, l.Type, l.TLSMinVersion)
		}
		v.cipherSuites(key, l)
		v.listenerHTTP(key, l)
		if l.ClusterAddress != "" {
			if err := checkAddress(l.ClusterAddress); err != nil {
				v.errorf(key+".cluster_address", "cluster_address %q in listener %q: %v", l.ClusterAddress, l.Type, err)
			} else if j, dup := seen[l.ClusterAddress]; dup {
				v.errorf(key+".cluster_address", "cluster_address %q in listener %q is already used by listener %d", l.ClusterAddress, l.Type, j+1)
			} else if j, dup := clusterSeen(c.Listeners[:i]); dup {
				v.errorf(key+".cluster_address", "cluster_address in listener %q: listener %d already sets one; Coffer opens one cluster listener", l.Type, j+1)
			}
		}
		if l.TLSDisable {
			continue
		}
		if l.TLSDisableClientCerts && l.TLSRequireAndVerifyClientCert {
			v.errorf(key+".tls_disable_client_certs", "tls_disable_client_certs and tls_require_and_verify_client_cert in listener %q cannot both be true", l.Type)
		}
		switch {
		case l.TLSCertFile != "" && l.TLSKeyFile == "":
			v.errorf(key+".tls_cert_file", "tls_cert_file in listener %q needs tls_key_file too (set neither to use a certificate from the local CA)", l.Type)
		case l.TLSCertFile == "" && l.TLSKeyFile != "":
			v.errorf(key+".tls_key_file", "tls_key_file in listener %q needs tls_cert_file too (set neither to use a certificate from the local CA)", l.Type)
		}
		if l.TLSRequireAndVerifyClientCert && l.TLSClientCAFile == "" {
			v.errorf(key+".tls_require_and_verify_client_cert", "tls_require_and_verify_client_cert in listener %q needs tls_client_ca_file", l.Type)
		}
	}
}

// clusterSeen returns the index of the first listener in ls that sets
// cluster_address.
func clusterSeen(ls []Listener) (int, bool) {
	for i, l := range ls {
		if l.ClusterAddress != "" {
			return i, true
		}
	}
	return 0, false
}

// listenerHTTP checks a listener's HTTP limits.
func (v *validator) listenerHTTP(key string, l Listener) {
	h := l.HTTP
	// A value taken from the top level is reported there.
	if h.MaxRequestSize <= 0 && h.MaxRequestSize != v.c.MaxRequestSize {
		v.errorf(key+".max_request_size", "max_request_size %d in listener %q: must be a positive number of bytes (Coffer has no unlimited setting)", h.MaxRequestSize, l.Type)
	}
	for _, n := range []struct {
		name string
		n    int64
	}{
		{"max_connections", h.MaxConnections},
		{"max_connections_per_ip", h.MaxConnectionsPerIP},
	} {
		if n.n < 0 {
			v.errorf(key+"."+n.name, "%s %d in listener %q: must not be negative (0 means no cap)", n.name, n.n, l.Type)
		}
	}
	for _, n := range []struct {
		name string
		n    int64
	}{
		{"max_request_body_budget", h.MaxRequestBodyBudget},
		{"min_request_body_rate", h.MinRequestBodyRate},
	} {
		if n.n < 0 {
			v.errorf(key+"."+n.name, "%s %d in listener %q: must not be negative (0 means the default)", n.name, n.n, l.Type)
		}
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"max_request_duration", h.MaxRequestDuration},
		{"http_idle_timeout", h.IdleTimeout},
		{"http_read_header_timeout", h.ReadHeaderTimeout},
		{"http_read_timeout", h.ReadTimeout},
		{"http_write_timeout", h.WriteTimeout},
		{"request_body_grace", h.RequestBodyGrace},
	} {
		if d.d < 0 {
			v.errorf(key+"."+d.name, "%s %v in listener %q: must not be negative", d.name, d.d, l.Type)
		}
	}
}

// cipherSuites checks tls_cipher_suites: names Go knows, and for TLS 1.2
// only ECDHE with AES-GCM or ChaCha20-Poly1305 (package tlsutil checks
// the same when it builds the listener).
func (v *validator) cipherSuites(key string, l Listener) {
	var names []string
	known := map[string]*tls.CipherSuite{}
	for _, cs := range tls.CipherSuites() {
		known[cs.Name] = cs
		names = append(names, cs.Name)
	}
	insecure := map[string]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.Name] = true
	}
	for _, name := range l.TLSCipherSuites {
		cs, ok := known[name]
		switch {
		case insecure[name]:
			v.errorf(key+".tls_cipher_suites", "tls_cipher_suites in listener %q: %s is insecure", l.Type, name)
		case !ok:
			v.errorf(key+".tls_cipher_suites", "tls_cipher_suites in listener %q: unknown cipher suite %q%s", l.Type, name, didYouMean(name, names))
		case slices.Equal(cs.SupportedVersions, []uint16{tls.VersionTLS13}):
			// TLS 1.3 suites are not configurable; naming one is harmless.
		case !allowedCipherSuite(name):
			v.errorf(key+".tls_cipher_suites", "tls_cipher_suites in listener %q: %s is not allowed; Coffer serves TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305", l.Type, name)
		}
	}
}

// allowedCipherSuite reports whether a TLS 1.2 cipher suite, named as Go
// names it, is one Coffer serves: ECDHE key exchange with AES-GCM or
// ChaCha20-Poly1305.
func allowedCipherSuite(name string) bool {
	return strings.HasPrefix(name, "TLS_ECDHE_") && (strings.Contains(name, "_GCM_") || strings.Contains(name, "_CHACHA20_POLY1305"))
}

// cluster checks cluster_addr and, without a high-availability storage,
// warns that it and cluster_address are ignored.
func (v *validator) cluster() {
	c := v.c
	if c.ClusterAddr != "" {
		if err := checkClusterAddr(c.ClusterAddr); err != nil {
			v.errorf("cluster_addr", "cluster_addr %q: %v", c.ClusterAddr, err)
		}
	}
	ha := c.Storage != nil && c.Storage.Postgres != nil && c.Storage.Postgres.HAEnabled
	for i, l := range c.Listeners {
		if l.ClusterAddress == "" {
			continue
		}
		key := fmt.Sprintf("listener[%d].cluster_address", i)
		if !ha {
			v.warn(key, `listener "tcp"`, "cluster_address", "the cluster listener opens only with storage \"postgresql\" and ha_enabled = true")
			continue
		}
		host, _, err := net.SplitHostPort(l.ClusterAddress)
		if err != nil || c.ClusterAddr != "" {
			continue
		}
		if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
			v.errorf(key, "cluster_address %q listens on every interface, so other nodes cannot be told where to reach this one; set cluster_addr, such as https://10.0.0.5:8201", l.ClusterAddress)
		}
	}
	if c.ClusterAddr != "" && !ha {
		v.warn("cluster_addr", "", "cluster_addr", "it is announced to other nodes only with storage \"postgresql\" and ha_enabled = true")
	}
}

// checkClusterAddr accepts "https://host:port" or "host:port". Vault
// ignores the scheme; Coffer refuses one that is not https, since cluster
// traffic is always TLS.
func checkClusterAddr(s string) error {
	hostPort := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if scheme != "https" {
			return fmt.Errorf("want https://host:port or host:port (cluster traffic is always TLS)")
		}
		hostPort = strings.TrimSuffix(rest, "/")
	}
	if err := checkAddress(hostPort); err != nil {
		return fmt.Errorf("want https://host:port or host:port: %v", err)
	}
	return nil
}

// checkAddress accepts "host:port" where host is empty, an IP address or a
// host name and port is a number.
func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, such as %s", DefaultListenAddress)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostname(host) {
		return fmt.Errorf("host %q is neither an IP address nor a host name", host)
	}
	return nil
}

// validHostname reports whether h is a DNS name: dot-separated labels of
// letters, digits and inner hyphens, each at most 63 bytes.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return false
			}
		}
	}
	return true
}

// checkAPIAddr accepts an absolute http or https URL with a host and
// nothing clients could not use as a base address.
func checkAPIAddr(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("want an http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("want a host, as in https://coffer.example.com:8200")
	}
	if p := u.Port(); p != "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return fmt.Errorf("port %q is not a number from 0 to 65535", p)
		}
	}
	if u.User != nil {
		return fmt.Errorf("must not hold a user name or password")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Errorf("must not have a query or fragment")
	}
	return nil
}

// validConnString reports whether s looks like a PostgreSQL connection
// string: a postgres:// or postgresql:// URL, or key=value pairs.
func validConnString(s string) bool {
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		_, err := url.Parse(s)
		return err == nil
	}
	if strings.Contains(s, "://") {
		return false
	}
	k, _, ok := strings.Cut(strings.TrimSpace(s), "=")
	return ok && k != "" && !strings.ContainsAny(k, " \t\n")
}

// audit checks the audit blocks.
func (v *validator) audit() {
	seen := map[string]bool{}
	for i, a := range v.c.Audit {
		key := fmt.Sprintf("audit[%d]", i)
		name := fmt.Sprintf("audit %q %q", a.Type, a.Path)
		if a.Path == "" || strings.ContainsAny(a.Path, " \x00") {
			v.errorf(key, "%s: the device path (second label) must be a non-empty name without spaces", name)
		}
		if seen[a.Path] {
			v.errorf(key, "%s: another audit block already uses path %q", name, a.Path)
		}
		seen[a.Path] = true
		if a.Format != "" && a.Format != "json" {
			v.errorf(key, "%s: format %q: only json is supported", name, a.Format)
		}
		switch a.Type {
		case "file":
			if a.FilePath == "" {
				v.errorf(key, "%s: file_path is required (a file, stdout or discard)", name)
			}
			if rest := strings.ReplaceAll(a.FilePath, "{{node_id}}", ""); strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
				v.errorf(key, "%s: file_path %q has an unknown placeholder: the only one is {{node_id}}", name, a.FilePath)
			}
			if a.Mode != "" {
				if m, err := strconv.ParseUint(a.Mode, 8, 32); err != nil || m > 0o777 {
					v.errorf(key, "%s: mode %q: want an octal file mode such as 0600", name, a.Mode)
				}
			}
			if a.WitnessType != "" && a.WitnessType != "tcp" && a.WitnessType != "unix" && a.WitnessType != "syslog" {
				v.errorf(key, "%s: witness_type %q: want tcp, unix or syslog", name, a.WitnessType)
			}
			if a.WitnessAddress == "" && (a.WitnessType != "" || a.WitnessWriteTimeout != 0) {
				v.errorf(key, "%s: witness_type and witness_write_timeout need witness_address", name)
			}
			if a.WitnessWriteTimeout < 0 {
				v.errorf(key, "%s: witness_write_timeout must not be negative", name)
			}
		case "socket":
			if a.Address == "" {
				v.errorf(key, "%s: address is required", name)
			}
			if a.SocketType != "" && a.SocketType != "tcp" && a.SocketType != "unix" {
				v.errorf(key, "%s: socket_type %q: want tcp or unix", name, a.SocketType)
			}
			if a.WriteTimeout < 0 {
				v.errorf(key, "%s: write_timeout must not be negative", name)
			}
		}
	}
	for _, d := range v.c.AuditAllowedDirs {
		if !filepath.IsAbs(d) {
			v.errorf("audit_allowed_dirs", "audit_allowed_dirs: %q is not an absolute path", d)
		}
	}
}
