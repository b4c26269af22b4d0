package config

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/coffer-secrets/coffer/internal/hclvalue"
	"github.com/coffer-secrets/coffer/internal/suggest"
)

// Load reads the configuration file at path and parses it with [Parse].
func Load(path string, getenv func(string) string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(src, path, getenv)
}

// Parse decodes the HCL configuration src, applies defaults, applies
// environment overrides looked up with getenv (nil means no overrides; pass
// os.Getenv in the server), and validates the result. filename is used only
// in messages.
//
// The overrides are COFFER_API_ADDR (else VAULT_API_ADDR) for api_addr,
// COFFER_LOG_LEVEL (else VAULT_LOG_LEVEL) for log_level,
// COFFER_CLUSTER_ADDR (else VAULT_CLUSTER_ADDR) for cluster_addr,
// COFFER_LOG_FORMAT for log_format, COFFER_NODE_ID for [Config.NodeID],
// COFFER_DISABLE_REQUEST_FORWARDING (true turns it on) for
// disable_request_forwarding, and the seals' variables; an empty variable
// counts as unset.
//
// On failure Parse returns nil and every problem found, joined with
// errors.Join, each an [*Error]; problems with a file position come first,
// in file order. Parse never panics, whatever src holds.
func Parse(src []byte, filename string, getenv func(string) string) (*Config, error) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		var ps problems
		ps.diags(diags)
		return nil, ps.join()
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		// hclsyntax always returns its own body type.
		panic(fmt.Sprintf("config: unexpected HCL body type %T", file.Body))
	}
	d := &decoder{src: &sources{
		filename: filename,
		at:       make(map[string]origin),
		broken:   make(map[string]bool),
	}}
	c := d.config(body)
	c.src = d.src
	c.applyDefaults()
	c.applyEnv(getenv)
	v := validator{c: c, ws: &d.ws}
	v.validate()
	ps := append(d.ps, v.ps...)
	if err := ps.join(); err != nil {
		return nil, err
	}
	c.Warnings = d.ws.sorted()
	return c, nil
}

// decoder turns the HCL syntax tree into a Config, recording where each
// value came from and every problem and ignored key on the way.
type decoder struct {
	src *sources
	ps  problems
	ws  warnings
}

// setter stores a decoded value or says (without the key) why it cannot.
type setter = hclvalue.Setter

// schema describes one block's body for [decoder.body].
type schema struct {
	// block names the block in messages, such as `listener "tcp"`; ""
	// for the top level.
	block string
	// prefix starts the source key of each attribute ("listener[0].").
	prefix string
	// fields are the attributes Coffer uses.
	fields map[string]setter
	// ignored are keys and blocks accepted with a warning: name -> why.
	ignored map[string]string
	// blocks are the nested blocks the caller decodes itself.
	blocks []string
}

func (sc schema) ctx() string {
	if sc.block == "" {
		return ""
	}
	return " in " + sc.block
}

// names returns every name the schema knows, for suggestions.
func (sc schema) names() []string {
	var out []string
	for n := range sc.fields {
		out = append(out, n)
	}
	for n := range sc.ignored {
		out = append(out, n)
	}
	out = append(out, sc.blocks...)
	slices.Sort(out)
	return out
}

func (d *decoder) config(body *hclsyntax.Body) *Config {
	c := &Config{}
	top := schema{
		fields: map[string]setter{
			"api_addr":                        str(&c.APIAddr),
			"cluster_addr":                    str(&c.ClusterAddr),
			"cluster_name":                    str(&c.ClusterName),
			"log_level":                       logLevel(&c.LogLevel),
			"log_format":                      logFormat(&c.LogFormat),
			"default_lease_ttl":               duration(&c.DefaultLeaseTTL),
			"max_lease_ttl":                   duration(&c.MaxLeaseTTL),
			"max_request_size":                integer(&c.MaxRequestSize),
			"default_max_request_duration":    duration(&c.DefaultMaxRequestDuration),
			"audit_allowed_dirs":              stringList(&c.AuditAllowedDirs),
			"disable_request_forwarding":      boolean(&c.DisableRequestForwarding),
			"enable_response_header_hostname": boolean(&c.EnableResponseHeaderHostname),
			"pid_file":                        str(&c.PIDFile),
			"ui":                              boolean(&c.UI),
		},
		ignored: ignoredTop(),
		blocks:  []string{"audit", "aws_secrets_manager", "azure_key_vault", "gcp_secret_manager", "listener", "seal", "snapshot", "storage", "telemetry", "user_lockout"},
	}
	d.body(body, top)
	var first, enabledSeal, disabledSeal, firstSnapshot *hclsyntax.Block
	for _, b := range body.Blocks {
		switch b.Type {
		case "storage":
			if first != nil {
				d.ps.add(b.DefRange(), "second storage block; exactly one is allowed (the first is at line %d)", first.TypeRange.Start.Line)
				continue
			}
			first = b
			c.Storage = d.storage(b)
		case "listener":
			if l, ok := d.listener(b, len(c.Listeners)); ok {
				c.Listeners = append(c.Listeners, l)
			}
		case "telemetry":
			d.body(b.Body, schema{
				block:  "telemetry",
				prefix: "telemetry.",
				fields: map[string]setter{
					"unauthenticated_metrics_access": boolean(&c.Telemetry.UnauthenticatedMetricsAccess),
				},
				ignored: ignoredTelemetry(),
			})
		case "audit":
			if a, ok := d.audit(b, len(c.Audit)); ok {
				c.Audit = append(c.Audit, a)
			}
		case "seal":
			n := 0
			if enabledSeal != nil {
				n++
			}
			if disabledSeal != nil {
				n++
			}
			sl := d.seal(b, n)
			if sl == nil {
				continue
			}
			prev := &enabledSeal
			if sl.Disabled {
				prev = &disabledSeal
			}
			if *prev != nil {
				d.ps.add(b.DefRange(), "second %s seal block; Coffer takes one enabled seal and, for a seal migration, one with disabled = \"true\" (the first is at line %d)",
					map[bool]string{true: "disabled", false: "enabled"}[sl.Disabled], (*prev).TypeRange.Start.Line)
				continue
			}
			*prev = b
			if sl.Disabled && enabledSeal == nil {
				d.src.sealFirstDisabled = true
			}
			if sl.Disabled {
				c.DisabledSeal = sl
			} else {
				c.Seal = sl
			}
		case "user_lockout":
			d.userLockout(c, b)
		case "aws_secrets_manager":
			if c.AWSSecretsManager != nil {
				d.ps.add(b.DefRange(), "second aws_secrets_manager block; Coffer takes one")
				continue
			}
			c.AWSSecretsManager = d.awsSecretsManager(b)
		case "gcp_secret_manager":
			if c.GCPSecretManager != nil {
				d.ps.add(b.DefRange(), "second gcp_secret_manager block; Coffer takes one")
				continue
			}
			c.GCPSecretManager = d.gcpSecretManager(b)
		case "azure_key_vault":
			if c.AzureKeyVault != nil {
				d.ps.add(b.DefRange(), "second azure_key_vault block; Coffer takes one")
				continue
			}
			c.AzureKeyVault = d.azureKeyVault(b)
		case "snapshot":
			if firstSnapshot != nil {
				d.ps.add(b.DefRange(), "second snapshot block; Coffer takes one (the first is at line %d)", firstSnapshot.TypeRange.Start.Line)
				continue
			}
			firstSnapshot = b
			c.Snapshot = d.snapshot(b)
		}
	}
	return c
}

// snapshot decodes the snapshot block, which has no label.
func (d *decoder) snapshot(b *hclsyntax.Block) *Snapshot {
	if len(b.Labels) != 0 {
		d.ps.add(b.DefRange(), "snapshot block takes no label: write snapshot { interval = \"1h\" path = \"...\" }")
		return nil
	}
	sn := &Snapshot{}
	d.body(b.Body, schema{
		block:  "snapshot",
		prefix: "snapshot.",
		fields: map[string]setter{
			"interval": duration(&sn.Interval),
			"retain":   integer(&sn.Retain),
			"path":     str(&sn.Path),
		},
	})
	return sn
}

// userLockout decodes a user_lockout "NAME" { ... } block into
// c.UserLockout[NAME].
func (d *decoder) userLockout(c *Config, b *hclsyntax.Block) {
	names := []string{"all", "approle", "ldap", "userpass"}
	if len(b.Labels) != 1 || !slices.Contains(names, b.Labels[0]) {
		d.ps.add(b.DefRange(), `user_lockout block needs one label: all, approle, ldap or userpass`)
		return
	}
	name := b.Labels[0]
	if _, dup := c.UserLockout[name]; dup {
		d.ps.add(b.DefRange(), "second user_lockout %q block; write one per method", name)
		return
	}
	var (
		threshold   int64
		ul          UserLockout
		disableLock bool
	)
	block := fmt.Sprintf("user_lockout %q", name)
	d.body(b.Body, schema{block: block, prefix: "user_lockout.", fields: map[string]setter{
		"lockout_threshold":     integer(&threshold),
		"lockout_duration":      duration(&ul.Duration),
		"lockout_counter_reset": duration(&ul.CounterReset),
		"disable_lockout":       boolean(&disableLock),
	}})
	if threshold < 0 || threshold > 1<<20 {
		if a, ok := b.Body.Attributes["lockout_threshold"]; ok {
			d.ps.add(a.Expr.Range(), "lockout_threshold in %s must be between 0 and %d", block, 1<<20)
		}
		return
	}
	ul.Threshold = int(threshold)
	if _, ok := b.Body.Attributes["disable_lockout"]; ok {
		ul.Disable = &disableLock
	}
	if c.UserLockout == nil {
		c.UserLockout = map[string]UserLockout{}
	}
	c.UserLockout[name] = ul
}

// storage decodes a storage block, or another block of the same form
// (storage_source) when d.src.storageBlock names it.
func (d *decoder) storage(b *hclsyntax.Block) *Storage {
	kind := cmp.Or(d.src.storageBlock, "storage")
	if len(b.Labels) != 1 {
		d.src.broken["storage"] = true
		d.ps.add(b.DefRange(), `%s block needs one label, the storage type, as in %s "bolt" { ... }`, kind, kind)
		return nil
	}
	d.src.at["storage"] = origin{rng: b.DefRange()}
	d.src.storageLabel = b.Labels[0]
	sc := schema{block: fmt.Sprintf("%s %q", kind, b.Labels[0]), prefix: "storage."}
	switch b.Labels[0] {
	case "bolt":
		s := &BoltStorage{}
		sc.fields = map[string]setter{"path": str(&s.Path)}
		d.body(b.Body, sc)
		return &Storage{Type: StorageBolt, Bolt: s}
	case "file":
		var dir string
		sc.fields = map[string]setter{"path": str(&dir)}
		d.body(b.Body, sc)
		s := &BoltStorage{}
		if dir != "" {
			s.Path = filepath.Join(dir, "coffer.db")
		}
		return &Storage{Type: StorageBolt, Bolt: s}
	case "inmem":
		d.body(b.Body, sc)
		return &Storage{Type: StorageInmem, Inmem: &InmemStorage{}}
	case "postgresql":
		s := &PostgresStorage{}
		sc.fields = map[string]setter{
			"connection_url":     secret(&s.ConnectionURL),
			"table":              str(&s.Table),
			"ha_enabled":         boolean(&s.HAEnabled),
			"max_parallel":       smallInt(&s.MaxParallel),
			"ha_lease_ttl":       duration(&s.HALeaseTTL),
			"ha_max_standby_lag": duration(&s.HAMaxStandbyLag),
		}
		sc.ignored = ignoredPostgres()
		d.body(b.Body, sc)
		return &Storage{Type: StoragePostgres, Postgres: s}
	default:
		d.src.broken["storage"] = true
		known := []string{"bolt", "file", "inmem", "postgresql"}
		if why := vaultStorage(b.Labels[0]); why != "" {
			d.ps.add(b.LabelRanges[0], "storage type %q is not supported: %s", b.Labels[0], why)
			return nil
		}
		d.ps.add(b.LabelRanges[0], "unknown storage type %q; want bolt, file, inmem or postgresql%s",
			b.Labels[0], didYouMean(b.Labels[0], known))
		return nil
	}
}

// audit decodes an audit "file" "name" { ... } or audit "socket" "name"
// block.
func (d *decoder) audit(b *hclsyntax.Block, i int) (AuditDevice, bool) {
	if len(b.Labels) != 2 {
		d.ps.add(b.DefRange(), `audit block needs two labels, the device type and its path, as in audit "file" "main" { ... }`)
		return AuditDevice{}, false
	}
	a := AuditDevice{Type: b.Labels[0], Path: b.Labels[1], HMACAccessor: true}
	common := map[string]setter{
		"description":   str(&a.Description),
		"log_raw":       boolean(&a.LogRaw),
		"hmac_accessor": boolean(&a.HMACAccessor),
		"format":        str(&a.Format),
	}
	switch a.Type {
	case "file":
		common["file_path"] = str(&a.FilePath)
		common["path"] = str(&a.FilePath)
		common["mode"] = str(&a.Mode)
		common["witness_address"] = str(&a.WitnessAddress)
		common["witness_type"] = str(&a.WitnessType)
		common["witness_write_timeout"] = duration(&a.WitnessWriteTimeout)
	case "socket":
		common["address"] = str(&a.Address)
		common["socket_type"] = str(&a.SocketType)
		common["write_timeout"] = duration(&a.WriteTimeout)
	default:
		d.ps.add(b.LabelRanges[0], "unknown audit device type %q; want file or socket", a.Type)
		return AuditDevice{}, false
	}
	d.body(b.Body, schema{block: fmt.Sprintf("audit %q %q", a.Type, a.Path), prefix: fmt.Sprintf("audit[%d].", i), fields: common})
	return a, true
}

func (d *decoder) listener(b *hclsyntax.Block, i int) (Listener, bool) {
	if len(b.Labels) != 1 {
		d.src.broken["listener"] = true
		d.ps.add(b.DefRange(), `listener block needs one label, the listener type, as in listener "tcp" { ... }`)
		return Listener{}, false
	}
	if b.Labels[0] != "tcp" {
		d.src.broken["listener"] = true
		d.ps.add(b.LabelRanges[0], "unknown listener type %q; only \"tcp\" is supported", b.Labels[0])
		return Listener{}, false
	}
	key := fmt.Sprintf("listener[%d]", i)
	d.src.at[key] = origin{rng: b.DefRange()}
	l := Listener{Type: "tcp", HTTP: ListenerHTTP{IdleTimeout: DefaultHTTPIdleTimeout, ReadHeaderTimeout: DefaultHTTPReadHeaderTimeout, MaxConnections: DefaultMaxConnections, MaxConnectionsPerIP: DefaultMaxConnectionsPerIP}}
	h := &l.HTTP
	d.body(b.Body, schema{
		block:  `listener "tcp"`,
		prefix: key + ".",
		fields: map[string]setter{
			"address":                                  str(&l.Address),
			"cluster_address":                          str(&l.ClusterAddress),
			"tls_disable":                              boolean(&l.TLSDisable),
			"tls_cert_file":                            str(&l.TLSCertFile),
			"tls_key_file":                             str(&l.TLSKeyFile),
			"tls_client_ca_file":                       str(&l.TLSClientCAFile),
			"tls_require_and_verify_client_cert":       boolean(&l.TLSRequireAndVerifyClientCert),
			"tls_disable_client_certs":                 boolean(&l.TLSDisableClientCerts),
			"tls_min_version":                          tlsVersion(&l.TLSMinVersion),
			"tls_max_version":                          tlsVersion(&l.TLSMaxVersion),
			"tls_cipher_suites":                        commaList(&l.TLSCipherSuites),
			"max_request_size":                         integer(&h.MaxRequestSize),
			"max_request_duration":                     duration(&h.MaxRequestDuration),
			"http_idle_timeout":                        duration(&h.IdleTimeout),
			"http_read_header_timeout":                 duration(&h.ReadHeaderTimeout),
			"http_read_timeout":                        duration(&h.ReadTimeout),
			"http_write_timeout":                       duration(&h.WriteTimeout),
			"max_connections":                          integer(&h.MaxConnections),
			"max_connections_per_ip":                   integer(&h.MaxConnectionsPerIP),
			"max_request_body_budget":                  integer(&h.MaxRequestBodyBudget),
			"request_body_grace":                       duration(&h.RequestBodyGrace),
			"min_request_body_rate":                    integer(&h.MinRequestBodyRate),
			"disable_unauthed_rekey_endpoints":         boolean(&h.DisableUnauthedRekeyEndpoints),
			"disable_unauthed_generate_root_endpoints": boolean(&h.DisableUnauthedGenerateRootEndpoints),
		},
		ignored: ignoredListener(),
		blocks:  []string{"telemetry"},
	})
	for _, sub := range b.Body.Blocks {
		if sub.Type == "telemetry" {
			d.body(sub.Body, schema{block: `listener "tcp" telemetry`, prefix: key + ".telemetry.", fields: map[string]setter{
				"unauthenticated_metrics_access": boolean(&h.UnauthenticatedMetricsAccess),
			}})
		}
	}
	return l, true
}

// body decodes the attributes of a block's body with sc, warns about
// ignored keys and blocks, and reports unknown or unsupported ones. Nested
// blocks named in sc.blocks are left to the caller.
func (d *decoder) body(body *hclsyntax.Body, sc schema) {
	no := unsupported()
	for name, a := range body.Attributes {
		set, ok := sc.fields[name]
		if !ok {
			d.other(name, a.NameRange, false, sc, no)
			if why, ok := sc.ignored[name]; ok {
				// The value is ignored but must still be a constant.
				if _, diags := a.Expr.Value(nil); diags.HasErrors() {
					d.ps.diags(diags)
				}
				d.ws.add(a.NameRange, "", sc.block, name, why)
			}
			continue
		}
		key := sc.prefix + name
		d.src.at[key] = origin{rng: a.Expr.Range()}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			d.src.broken[key] = true
			d.ps.diags(diags)
			continue
		}
		var err error
		switch {
		case v.IsNull():
			err = fmt.Errorf("must not be null")
		case !v.IsWhollyKnown():
			err = fmt.Errorf("must be a constant")
		default:
			err = set(v)
		}
		if err != nil {
			d.src.broken[key] = true
			d.ps.add(a.Expr.Range(), "%s%s: %v", name, sc.ctx(), err)
		}
	}
	for _, b := range body.Blocks {
		if slices.Contains(sc.blocks, b.Type) {
			continue
		}
		if _, ok := sc.fields[b.Type]; ok {
			d.ps.add(b.TypeRange, "%s is a key, not a block: write %s = value", b.Type, b.Type)
			continue
		}
		d.other(b.Type, b.TypeRange, true, sc, no)
		if why, ok := sc.ignored[b.Type]; ok {
			d.ws.add(b.TypeRange, "", sc.block, b.Type, why)
		}
	}
}

// other reports a name that is not one of sc's fields: nothing when it is
// ignored, an error when Coffer refuses it or does not know it.
func (d *decoder) other(name string, rng hcl.Range, isBlock bool, sc schema, no map[string]string) {
	if _, ok := sc.ignored[name]; ok {
		return
	}
	if why, ok := no[name]; ok {
		d.ps.add(rng, "%s%s is not supported: %s", name, sc.ctx(), why)
		return
	}
	if !isBlock && slices.Contains(sc.blocks, name) {
		d.ps.add(rng, "%s is a block, not a key: write %s \"TYPE\" { ... }", name, name)
		d.src.broken[name] = true
		return
	}
	what := "key"
	if isBlock {
		what = "block"
	}
	d.ps.add(rng, "unknown %s %q%s%s", what, name, sc.ctx(), didYouMean(name, sc.names()))
}

// didYouMean returns a "did you mean" hint naming the candidate closest to
// name, or "" when none is close.
func didYouMean(name string, candidates []string) string {
	best := suggest.Closest(name, candidates)
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}
