package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
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
// COFFER_LOG_LEVEL (else VAULT_LOG_LEVEL) for log_level and
// COFFER_LOG_FORMAT for log_format; an empty variable counts as unset.
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
	ps := append(d.ps, c.validate()...)
	if err := ps.join(); err != nil {
		return nil, err
	}
	return c, nil
}

// decoder turns the HCL syntax tree into a Config, recording where each
// value came from and every problem on the way.
type decoder struct {
	src *sources
	ps  problems
}

// setter stores a decoded value or says (without the key) why it cannot.
type setter func(v cty.Value) error

// topBlocks names the top-level blocks, for hints.
func topBlocks() []string { return []string{"audit", "listener", "storage", "telemetry"} }

func (d *decoder) config(body *hclsyntax.Body) *Config {
	c := &Config{}
	top := map[string]setter{
		"api_addr":                   str(&c.APIAddr),
		"log_level":                  logLevel(&c.LogLevel),
		"log_format":                 logFormat(&c.LogFormat),
		"default_lease_ttl":          duration(&c.DefaultLeaseTTL),
		"max_lease_ttl":              duration(&c.MaxLeaseTTL),
		"max_request_size":           integer(&c.MaxRequestSize),
		"disable_mlock":              boolean(&c.DisableMlock),
		"ui":                         boolean(&c.UI),
		"audit_allowed_dirs":         stringList(&c.AuditAllowedDirs),
		"cluster_addr":               str(&c.ClusterAddr),
		"disable_request_forwarding": boolean(&c.DisableRequestForwarding),
	}
	d.attrs(body, "", "", top, topBlocks())
	var first *hclsyntax.Block
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
			d.attrs(b.Body, " in telemetry", "telemetry.", map[string]setter{
				"unauthenticated_metrics_access": boolean(&c.Telemetry.UnauthenticatedMetricsAccess),
				// Accepted for Vault configurations; Coffer always serves
				// Prometheus metrics from sys/metrics and keeps no retention.
				"prometheus_retention_time": str(new(string)),
				"disable_hostname":          boolean(new(bool)),
			}, nil)
		case "audit":
			if a, ok := d.audit(b, len(c.Audit)); ok {
				c.Audit = append(c.Audit, a)
			}
		default:
			if _, ok := top[b.Type]; ok {
				d.ps.add(b.TypeRange, "%s is a key, not a block: write %s = value", b.Type, b.Type)
				continue
			}
			d.ps.add(b.TypeRange, "unknown block %q%s", b.Type, suggest(b.Type, topBlocks()))
		}
	}
	return c
}

func (d *decoder) storage(b *hclsyntax.Block) *Storage {
	if len(b.Labels) != 1 {
		d.src.broken["storage"] = true
		d.ps.add(b.DefRange(), `storage block needs one label, the storage type, as in storage "bolt" { ... }`)
		return nil
	}
	d.src.at["storage"] = origin{rng: b.DefRange()}
	d.src.storageLabel = b.Labels[0]
	ctx := fmt.Sprintf(" in storage %q", b.Labels[0])
	switch b.Labels[0] {
	case "bolt":
		s := &BoltStorage{}
		d.attrs(b.Body, ctx, "storage.", map[string]setter{"path": str(&s.Path)}, nil)
		return &Storage{Type: StorageBolt, Bolt: s}
	case "file":
		var dir string
		d.attrs(b.Body, ctx, "storage.", map[string]setter{"path": str(&dir)}, nil)
		s := &BoltStorage{}
		if dir != "" {
			s.Path = filepath.Join(dir, "coffer.db")
		}
		return &Storage{Type: StorageBolt, Bolt: s}
	case "inmem":
		d.attrs(b.Body, ctx, "storage.", nil, nil)
		return &Storage{Type: StorageInmem, Inmem: &InmemStorage{}}
	case "postgresql":
		s := &PostgresStorage{}
		d.attrs(b.Body, ctx, "storage.", map[string]setter{
			"connection_url": secret(&s.ConnectionURL),
			"table":          str(&s.Table),
			"ha_enabled":     boolean(&s.HAEnabled),
			"max_parallel":   smallInt(&s.MaxParallel),
		}, nil)
		return &Storage{Type: StoragePostgres, Postgres: s}
	default:
		d.src.broken["storage"] = true
		d.ps.add(b.LabelRanges[0], "unknown storage type %q; want bolt, file, inmem or postgresql%s",
			b.Labels[0], suggest(b.Labels[0], []string{"bolt", "file", "inmem", "postgresql"}))
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
	ctx := fmt.Sprintf(" in audit %q %q", a.Type, a.Path)
	key := fmt.Sprintf("audit[%d].", i)
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
	case "socket":
		common["address"] = str(&a.Address)
		common["socket_type"] = str(&a.SocketType)
		common["write_timeout"] = duration(&a.WriteTimeout)
	default:
		d.ps.add(b.LabelRanges[0], "unknown audit device type %q; want file or socket", a.Type)
		return AuditDevice{}, false
	}
	d.attrs(b.Body, ctx, key, common, nil)
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
	l := Listener{Type: "tcp"}
	d.attrs(b.Body, ` in listener "tcp"`, key+".", map[string]setter{
		"address":                            str(&l.Address),
		"tls_disable":                        boolean(&l.TLSDisable),
		"tls_cert_file":                      str(&l.TLSCertFile),
		"tls_key_file":                       str(&l.TLSKeyFile),
		"tls_client_ca_file":                 str(&l.TLSClientCAFile),
		"tls_require_and_verify_client_cert": boolean(&l.TLSRequireAndVerifyClientCert),
		"tls_min_version":                    tlsVersion(&l.TLSMinVersion),
	}, nil)
	return l, true
}

// attrs decodes the attributes of body with fields, reporting unknown keys
// and, unless blocks lists them, unknown blocks. ctx describes the block for
// messages (` in storage "bolt"`); prefix starts each key's path.
func (d *decoder) attrs(body *hclsyntax.Body, ctx, prefix string, fields map[string]setter, blocks []string) {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	for name, a := range body.Attributes {
		set, ok := fields[name]
		if !ok {
			if slices.Contains(blocks, name) {
				d.ps.add(a.NameRange, "%s is a block, not a key: write %s \"TYPE\" { ... }", name, name)
				d.src.broken[name] = true
				continue
			}
			d.ps.add(a.NameRange, "unknown key %q%s%s", name, ctx, suggest(name, names))
			continue
		}
		key := prefix + name
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
			d.ps.add(a.Expr.Range(), "%s%s: %v", name, ctx, err)
		}
	}
	if blocks == nil {
		for _, b := range body.Blocks {
			d.ps.add(b.TypeRange, "unknown block %q%s", b.Type, ctx)
		}
	}
}

// suggest returns a "did you mean" hint naming the candidate closest to
// name, or "" when none is close.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(name), c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes. It
// gives up early on long inputs: suggestions are only for near misses.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
