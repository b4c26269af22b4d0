package config

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/coffer-secrets/coffer/internal/hclvalue"
)

// Error is one problem with a configuration file. [Parse] returns one or
// more joined with errors.Join; inspect them with errors.AsType.
type Error struct {
	// Pos is "file:line,col-col", or the file name alone for something
	// missing from it.
	Pos string
	// Msg says what is wrong, naming the key.
	Msg string
}

// Error returns "Pos: Msg".
func (e *Error) Error() string { return e.Pos + ": " + e.Msg }

// Load reads the file at path and parses it with [Parse].
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agent config: %w", err)
	}
	return Parse(src, path)
}

// Parse decodes the HCL configuration src, applies defaults and validates
// the result. filename is used only in messages. On failure it returns nil
// and every problem found, each an [*Error], in file order. Parse never
// panics, whatever src holds.
func Parse(src []byte, filename string) (*Config, error) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	d := &decoder{filename: filename}
	if diags.HasErrors() {
		d.diags(diags)
		return nil, d.join()
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		panic(fmt.Sprintf("agent config: unexpected HCL body type %T", file.Body))
	}
	c := d.config(body)
	d.validate(c)
	if err := d.join(); err != nil {
		return nil, err
	}
	return c, nil
}

// problem is an Error with the place it sorts at.
type problem struct {
	err *Error
	rng hcl.Range
}

// decoder turns the syntax tree into a Config and collects problems.
type decoder struct {
	filename string
	ps       []problem
}

func (d *decoder) add(rng hcl.Range, format string, args ...any) {
	d.ps = append(d.ps, problem{err: &Error{Pos: rng.String(), Msg: fmt.Sprintf(format, args...)}, rng: rng})
}

// addFile reports a problem with no position in the file.
func (d *decoder) addFile(format string, args ...any) {
	d.ps = append(d.ps, problem{err: &Error{Pos: d.filename, Msg: fmt.Sprintf(format, args...)}})
}

func (d *decoder) diags(ds hcl.Diagnostics) {
	for _, dg := range ds {
		if dg.Severity != hcl.DiagError {
			continue
		}
		msg := dg.Summary
		if dg.Detail != "" {
			msg += ": " + dg.Detail
		}
		if dg.Subject == nil {
			d.addFile("%s", msg)
			continue
		}
		d.add(*dg.Subject, "%s", msg)
	}
}

// join returns the problems in file order (those without a position last).
func (d *decoder) join() error {
	if len(d.ps) == 0 {
		return nil
	}
	ps := slices.Clone(d.ps)
	slices.SortStableFunc(ps, func(a, b problem) int {
		ah, bh := a.rng.Filename != "", b.rng.Filename != ""
		if ah != bh {
			if ah {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.rng.Start.Byte, b.rng.Start.Byte)
	})
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p.err
	}
	return errors.Join(errs...)
}

// setter stores a decoded value or says, without the key, why it cannot.
type setter = hclvalue.Setter

// blockFunc decodes one nested block.
type blockFunc func(b *hclsyntax.Block)

// body decodes the attributes of body with fields and its blocks with
// blocks, reporting anything else. where describes the block for messages
// (" in vault").
func (d *decoder) body(body *hclsyntax.Body, where string, fields map[string]setter, blocks map[string]blockFunc) {
	for _, a := range sortedAttrs(body) {
		set, ok := fields[a.Name]
		if !ok {
			if _, isBlock := blocks[a.Name]; isBlock {
				d.add(a.NameRange, "%s is a block, not a key: write %s { ... }%s", a.Name, a.Name, where)
				continue
			}
			d.add(a.NameRange, "unknown key %q%s", a.Name, where)
			continue
		}
		d.set(a.Name, a.Expr, where, set)
	}
	for _, b := range body.Blocks {
		fn, ok := blocks[b.Type]
		if !ok {
			if _, isAttr := fields[b.Type]; isAttr {
				d.add(b.TypeRange, "%s is a key, not a block: write %s = value%s", b.Type, b.Type, where)
				continue
			}
			d.add(b.TypeRange, "unknown block %q%s", b.Type, where)
			continue
		}
		fn(b)
	}
}

// set evaluates expr as a constant and hands it to set.
func (d *decoder) set(name string, expr hclsyntax.Expression, where string, set setter) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		d.diags(diags)
		return
	}
	var err error
	switch {
	case v.IsNull():
		err = errors.New("must not be null")
	case !v.IsWhollyKnown():
		err = errors.New("must be a constant")
	default:
		err = set(v)
	}
	if err != nil {
		d.add(expr.Range(), "%s%s: %v", name, where, err)
	}
}

// object decodes a map-valued attribute such as config = { ... } key by
// key, so an unknown key is reported at its own line.
func (d *decoder) object(a *hclsyntax.Attribute, where string, fields map[string]setter) {
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		d.add(a.Expr.Range(), "%s%s: want an object { key = value, ... }", a.Name, where)
		return
	}
	seen := make(map[string]bool)
	for _, item := range obj.Items {
		kv, diags := item.KeyExpr.Value(nil)
		if diags.HasErrors() {
			d.diags(diags)
			continue
		}
		if kv.IsNull() || !kv.IsWhollyKnown() || kv.Type() != cty.String {
			d.add(item.KeyExpr.Range(), "%s%s: keys must be names", a.Name, where)
			continue
		}
		key := kv.AsString()
		set, ok := fields[key]
		if !ok {
			d.add(item.KeyExpr.Range(), "unknown key %q in %s%s", key, a.Name, where)
			continue
		}
		if seen[key] {
			d.add(item.KeyExpr.Range(), "key %q set twice in %s%s", key, a.Name, where)
			continue
		}
		seen[key] = true
		d.set(key, item.ValueExpr, " in "+a.Name+where, set)
	}
}

// configBody decodes config either as an attribute (config = { ... }, as
// Vault Agent's documentation writes it) or as a block (config { ... }).
// It returns the remaining attributes of body for the caller.
func (d *decoder) methodBody(body *hclsyntax.Body, where string, fields, config map[string]setter) {
	var cfgAttr *hclsyntax.Attribute
	rest := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: body.SrcRange, EndRange: body.EndRange}
	for name, a := range body.Attributes {
		if name == "config" {
			cfgAttr = a
			continue
		}
		rest.Attributes[name] = a
	}
	if cfgAttr != nil {
		d.object(cfgAttr, where, config)
	}
	var blocks []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == "config" {
			if cfgAttr != nil || len(b.Labels) > 0 {
				d.add(b.TypeRange, "config%s: write config = { ... } once", where)
				continue
			}
			d.body(b.Body, " in config"+where, config, nil)
			continue
		}
		blocks = append(blocks, b)
	}
	rest.Blocks = blocks
	d.body(rest, where, fields, nil)
}

func sortedAttrs(body *hclsyntax.Body) []*hclsyntax.Attribute {
	out := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NameRange.Start.Byte < out[j].NameRange.Start.Byte })
	return out
}

// labels checks that b has n labels, describing them in want.
func (d *decoder) labels(b *hclsyntax.Block, n int, want string) bool {
	if len(b.Labels) != n {
		d.add(b.DefRange(), "%s block needs %s", b.Type, want)
		return false
	}
	return true
}

// once reports a second block of a kind allowed once.
func (d *decoder) once(b *hclsyntax.Block, seen map[string]*hclsyntax.Block) bool {
	if first, ok := seen[b.Type]; ok {
		d.add(b.DefRange(), "second %s block; only one is allowed (the first is at line %d)", b.Type, first.TypeRange.Start.Line)
		return false
	}
	seen[b.Type] = b
	return true
}

func (d *decoder) config(body *hclsyntax.Body) *Config {
	c := &Config{Vault: Vault{NumRetries: 12}, TemplateConfig: TemplateConfig{UseEvents: true}}
	seen := make(map[string]*hclsyntax.Block)
	d.body(body, "", map[string]setter{
		"pid_file":        str(&c.PidFile),
		"exit_after_auth": boolean(&c.ExitAfterAuth),
	}, map[string]blockFunc{
		"vault": func(b *hclsyntax.Block) {
			if d.once(b, seen) && d.labels(b, 0, "no label") {
				d.vault(b, &c.Vault)
			}
		},
		"auto_auth": func(b *hclsyntax.Block) {
			if d.once(b, seen) && d.labels(b, 0, "no label") {
				c.AutoAuth = d.autoAuth(b)
			}
		},
		"template": func(b *hclsyntax.Block) {
			if d.labels(b, 0, "no label") {
				c.Templates = append(c.Templates, d.template(b))
			}
		},
		"template_config": func(b *hclsyntax.Block) {
			if d.once(b, seen) && d.labels(b, 0, "no label") {
				d.body(b.Body, " in template_config", map[string]setter{
					"static_secret_render_interval": duration(&c.TemplateConfig.StaticSecretRenderInterval),
					"exit_on_retry_failure":         boolean(&c.TemplateConfig.ExitOnRetryFailure),
					"use_events":                    boolean(&c.TemplateConfig.UseEvents),
					// Accepted for Vault Agent files; the agent always
					// caps its retries with its own backoff.
					"max_connections_per_host": integer(new(int)),
					"lease_renewal_threshold":  float(new(float64)),
				}, nil)
			}
		},
		"listener": func(b *hclsyntax.Block) {
			if d.labels(b, 1, `one label, "tcp" or "unix"`) {
				if l, ok := d.listener(b); ok {
					c.Listeners = append(c.Listeners, l)
				}
			}
		},
		"api_proxy": func(b *hclsyntax.Block) {
			if d.once(b, seen) && d.labels(b, 0, "no label") {
				d.body(b.Body, " in api_proxy", map[string]setter{
					"use_auto_auth_token": autoAuthToken(&c.APIProxy.UseAutoAuthToken),
				}, nil)
			}
		},
		"cache": func(b *hclsyntax.Block) {
			if d.once(b, seen) && d.labels(b, 0, "no label") {
				// Vault Agent's cache block; leased responses are always
				// cached by the proxy.
				d.body(b.Body, " in cache", map[string]setter{
					"use_auto_auth_token": autoAuthToken(&c.APIProxy.UseAutoAuthToken),
				}, nil)
			}
		},
		"exec": func(b *hclsyntax.Block) {
			if d.once(b, seen) && d.labels(b, 0, "no label") {
				c.Exec = d.exec(b)
			}
		},
		"env_template": func(b *hclsyntax.Block) {
			if d.labels(b, 1, "one label, the variable name, as in env_template \"DB_PASSWORD\" { ... }") {
				c.EnvTemplates = append(c.EnvTemplates, d.envTemplate(b))
			}
		},
	})
	return c
}

func (d *decoder) vault(b *hclsyntax.Block, v *Vault) {
	seen := make(map[string]*hclsyntax.Block)
	d.body(b.Body, " in vault", map[string]setter{
		"address":         str(&v.Address),
		"ca_cert":         str(&v.CACert),
		"tls_skip_verify": boolean(&v.TLSSkipVerify),
	}, map[string]blockFunc{
		"retry": func(r *hclsyntax.Block) {
			if d.once(r, seen) && d.labels(r, 0, "no label") {
				d.body(r.Body, " in vault.retry", map[string]setter{"num_retries": integer(&v.NumRetries)}, nil)
			}
		},
	})
}

func (d *decoder) autoAuth(b *hclsyntax.Block) *AutoAuth {
	a := &AutoAuth{}
	var method *hclsyntax.Block
	d.body(b.Body, " in auto_auth", nil, map[string]blockFunc{
		"method": func(m *hclsyntax.Block) {
			if method != nil {
				d.add(m.DefRange(), "second method block in auto_auth; only one is allowed (the first is at line %d)", method.TypeRange.Start.Line)
				return
			}
			method = m
			a.Method = d.method(m)
		},
		"sink": func(s *hclsyntax.Block) {
			if d.labels(s, 1, `one label, the sink type, as in sink "file" { ... }`) {
				if sk, ok := d.sink(s); ok {
					a.Sinks = append(a.Sinks, sk)
				}
			}
		},
	})
	if method == nil {
		d.add(b.DefRange(), "auto_auth needs a method block")
	}
	return a
}

func (d *decoder) method(b *hclsyntax.Block) Method {
	var m Method
	switch len(b.Labels) {
	case 0:
		// method { type = "approle" ... } is Vault Agent's other form.
		if a, ok := b.Body.Attributes["type"]; ok {
			d.set("type", a.Expr, " in method", str(&m.Type))
		}
	case 1:
		m.Type = b.Labels[0]
	default:
		d.add(b.DefRange(), `method block needs one label, the method type, as in method "approle" { ... }`)
		return m
	}
	where := fmt.Sprintf(" in method %q", m.Type)
	fields := map[string]setter{
		"mount_path": str(&m.MountPath),
		"wrap_ttl":   duration(&m.WrapTTL),
		"namespace":  emptyOnly("namespaces are not supported"),
	}
	if len(b.Labels) == 0 {
		fields["type"] = func(cty.Value) error { return nil }
	}
	var config map[string]setter
	switch m.Type {
	case MethodAppRole:
		m.AppRole = &AppRole{RemoveSecretIDFile: true}
		config = map[string]setter{
			"role_id_file_path":                   str(&m.AppRole.RoleIDFile),
			"secret_id_file_path":                 str(&m.AppRole.SecretIDFile),
			"remove_secret_id_file_after_reading": boolean(&m.AppRole.RemoveSecretIDFile),
			"secret_id_response_wrapping_path":    emptyOnly("wrapped secret IDs are not supported"),
		}
	case MethodTokenFile:
		m.TokenFile = &TokenFile{}
		config = map[string]setter{"token_file_path": str(&m.TokenFile.Path)}
	case MethodJWT:
		m.JWT = &JWT{RemoveJWTAfterReading: true}
		config = map[string]setter{
			"role":                        str(&m.JWT.Role),
			"path":                        str(&m.JWT.Path),
			"remove_jwt_after_reading":    boolean(&m.JWT.RemoveJWTAfterReading),
			"remove_jwt_follows_symlinks": boolean(&m.JWT.RemoveJWTFollowsSymlinks),
			// Accepted for Vault Agent files: the agent reads the file
			// at every login instead of watching it.
			"jwt_read_period": duration(new(time.Duration)),
			"token_path":      misnamed(MethodJWT, "path"),
		}
	case MethodKubernetes:
		m.Kubernetes = &Kubernetes{TokenPath: DefaultServiceAccountTokenPath}
		config = map[string]setter{
			"role":       str(&m.Kubernetes.Role),
			"token_path": str(&m.Kubernetes.TokenPath),
			"path":       misnamed(MethodKubernetes, "token_path"),
		}
	default:
		rng := b.DefRange()
		if len(b.LabelRanges) > 0 {
			rng = b.LabelRanges[0]
		}
		d.add(rng, "unknown auto_auth method %q; want approle, token_file, jwt or kubernetes", m.Type)
		return m
	}
	d.methodBody(b.Body, where, fields, config)
	if m.MountPath == "" {
		m.MountPath = "auth/" + m.Type
	}
	switch {
	case m.AppRole != nil && m.AppRole.RoleIDFile == "":
		d.add(b.DefRange(), "method \"approle\" needs config = { role_id_file_path = ... }")
	case m.TokenFile != nil && m.TokenFile.Path == "":
		d.add(b.DefRange(), "method \"token_file\" needs config = { token_file_path = ... }")
	case m.JWT != nil:
		if m.JWT.Role == "" {
			d.add(b.DefRange(), `method "jwt" needs config = { role = ... }, the role to log in as`)
		}
		if m.JWT.Path == "" {
			d.add(b.DefRange(), `method "jwt" needs config = { path = ... }, the file holding the JWT`)
		}
	case m.Kubernetes != nil:
		if m.Kubernetes.Role == "" {
			d.add(b.DefRange(), `method "kubernetes" needs config = { role = ... }, the role to log in as`)
		}
		if m.Kubernetes.TokenPath == "" {
			d.add(b.DefRange(), `method "kubernetes": token_path must not be empty; leave it out for %s`, DefaultServiceAccountTokenPath)
		}
	}
	return m
}

func (d *decoder) sink(b *hclsyntax.Block) (Sink, bool) {
	if b.Labels[0] != "file" {
		d.add(b.LabelRanges[0], "unknown sink type %q; only \"file\" is supported", b.Labels[0])
		return Sink{}, false
	}
	s := Sink{Mode: 0o640}
	d.methodBody(b.Body, ` in sink "file"`, map[string]setter{
		"wrap_ttl": duration(&s.WrapTTL),
	}, map[string]setter{
		"path": str(&s.Path),
		"mode": mode(&s.Mode),
	})
	if s.Path == "" {
		d.add(b.DefRange(), `sink "file" needs config = { path = ... }`)
		return Sink{}, false
	}
	return s, true
}

func (d *decoder) template(b *hclsyntax.Block) Template {
	t := Template{Perms: 0o644, CreateDestDirs: true, Line: b.TypeRange.Start.Line}
	d.body(b.Body, " in template", map[string]setter{
		"source":               str(&t.Source),
		"contents":             str(&t.Contents),
		"destination":          str(&t.Destination),
		"perms":                mode(&t.Perms),
		"command":              command(&t.Command),
		"error_on_missing_key": boolean(&t.ErrorOnMissingKey),
		"left_delimiter":       str(&t.LeftDelim),
		"right_delimiter":      str(&t.RightDelim),
		"create_dest_dirs":     boolean(&t.CreateDestDirs),
		// Accepted for Vault Agent files.
		"backup":          boolean(new(bool)),
		"command_timeout": duration(new(time.Duration)),
	}, nil)
	switch {
	case t.Source == "" && t.Contents == "":
		d.add(b.DefRange(), "template needs source or contents")
	case t.Source != "" && t.Contents != "":
		d.add(b.DefRange(), "template takes source or contents, not both")
	}
	if t.Destination == "" {
		d.add(b.DefRange(), "template needs a destination")
	}
	return t
}

func (d *decoder) listener(b *hclsyntax.Block) (Listener, bool) {
	l := Listener{Type: b.Labels[0]}
	if l.Type != "tcp" && l.Type != "unix" {
		d.add(b.LabelRanges[0], "unknown listener type %q; want \"tcp\" or \"unix\"", l.Type)
		return l, false
	}
	d.body(b.Body, fmt.Sprintf(" in listener %q", l.Type), map[string]setter{
		"address":     str(&l.Address),
		"tls_disable": boolean(&l.TLSDisable),
	}, nil)
	if l.Address == "" {
		d.add(b.DefRange(), "listener %q needs an address", l.Type)
	}
	if !l.TLSDisable && l.Type == "tcp" {
		d.add(b.DefRange(), "listener \"tcp\": TLS listeners are not supported yet; set tls_disable = true")
	}
	return l, true
}

func (d *decoder) exec(b *hclsyntax.Block) *Exec {
	e := &Exec{RestartOnSecretChanges: RestartAlways, RestartStopSignal: syscall.SIGTERM}
	d.body(b.Body, " in exec", map[string]setter{
		"command":                   stringList(&e.Command),
		"restart_on_secret_changes": oneOf(&e.RestartOnSecretChanges, RestartAlways, RestartNever),
		"restart_stop_signal":       signal(&e.RestartStopSignal),
		"restart_kill_timeout":      duration(new(time.Duration)),
	}, nil)
	if len(e.Command) == 0 {
		d.add(b.DefRange(), "exec needs a command = [\"program\", \"args\"...]")
	}
	return e
}

func (d *decoder) envTemplate(b *hclsyntax.Block) EnvTemplate {
	e := EnvTemplate{Name: b.Labels[0]}
	d.body(b.Body, fmt.Sprintf(" in env_template %q", e.Name), map[string]setter{
		"contents":             str(&e.Contents),
		"error_on_missing_key": boolean(&e.ErrorOnMissingKey),
		"left_delimiter":       str(&e.LeftDelim),
		"right_delimiter":      str(&e.RightDelim),
	}, nil)
	if !validEnvName(e.Name) {
		d.add(b.LabelRanges[0], "env_template %q: not a valid environment variable name", e.Name)
	}
	if e.Contents == "" {
		d.add(b.DefRange(), "env_template %q needs contents", e.Name)
	}
	return e
}

// validate checks what needs more than one block.
func (d *decoder) validate(c *Config) {
	if c.TemplateConfig.StaticSecretRenderInterval == 0 {
		c.TemplateConfig.StaticSecretRenderInterval = 5 * time.Minute
	}
	if len(c.EnvTemplates) > 0 && c.Exec == nil {
		d.addFile("env_template needs an exec block to deliver the variables to")
	}
	names := make(map[string]bool)
	for _, e := range c.EnvTemplates {
		if names[e.Name] {
			d.addFile("env_template %q is defined twice", e.Name)
		}
		names[e.Name] = true
	}
	dests := make(map[string]bool)
	for _, t := range c.Templates {
		if t.Destination != "" && dests[t.Destination] {
			d.addFile("two templates render to %q", t.Destination)
		}
		dests[t.Destination] = true
	}
	if c.APIProxy.UseAutoAuthToken && c.AutoAuth == nil {
		d.addFile("api_proxy: use_auto_auth_token needs an auto_auth block")
	}
	if c.ExitAfterAuth && c.AutoAuth == nil {
		d.addFile("exit_after_auth needs an auto_auth block")
	}
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
