package policy

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"

	"github.com/coffer-secrets/coffer/internal/duration"
)

// Rule is one path rule of a policy.
//
// Path is the API path without "/v1/" and without a leading slash; it may
// end in "*" (a prefix glob) and may have "+" segments (one segment each).
// AllowedParameters and DeniedParameters map a lowercased parameter name to
// the values permitted or refused; an empty list means any value, a "*" key
// means every parameter, and a string value with a leading or trailing "*"
// is a glob ("*" alone matches any string; Vault would take it literally).
// A list or comma-separated string in a request passes an allowed list when
// every element does, and hits a denied list when any element does. A nil
// map means no constraint. Values are string, float64,
// bool, nil, []any or map[string]any.
type Rule struct {
	Path               string
	Capabilities       Capability
	AllowedParameters  map[string][]any
	DeniedParameters   map[string][]any
	RequiredParameters []string
	MinWrappingTTL     time.Duration
	MaxWrappingTTL     time.Duration
}

// Policy is a parsed ACL policy. Name is normalized (see [NormalizeName]);
// Raw is the source text exactly as given to [Parse]; Rules are in source
// order, and the same path may appear more than once.
type Policy struct {
	Name  string
	Raw   string
	Rules []Rule
}

// The keys a path block may hold. comment is accepted and ignored, as Vault
// does; the enterprise-only keys are recognized so the error can say so.
var (
	pathAttrs = []string{
		"comment", "capabilities",
		"allowed_parameters", "denied_parameters", "required_parameters",
		"min_wrapping_ttl", "max_wrapping_ttl", "policy",
	}
	unsupportedPathAttrs = []string{"mfa_methods", "control_group", "subscribe_event_types", "pagination_limit"}
)

func topSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		// A top-level name is allowed for compatibility and ignored: the
		// policy's name comes from the API path.
		Attributes: []hcl.AttributeSchema{{Name: "name"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "path", LabelNames: []string{"path"}}},
	}
}

func pathSchema() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range pathAttrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	for _, n := range unsupportedPathAttrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}

// Parse parses the policy named name from src, which is HCL or, when its
// first non-space character is '{', JSON with the same structure:
//
//	path "secret/data/app/*" {
//	  capabilities       = ["read", "list"]
//	  allowed_parameters = { "ttl" = [] }
//	  min_wrapping_ttl   = "1m"
//	}
//
// Each path block accepts capabilities, the older policy shorthand
// ("deny", "read", "write" or "sudo"), allowed_parameters,
// denied_parameters, required_parameters, min_wrapping_ttl and
// max_wrapping_ttl (seconds, or a duration such as "90s", "5m", "2h",
// "1d"), and an ignored comment. Anything else is an error, and so is a
// path that is empty, has "*" other than at its end, has "+*", or has
// a malformed template. Errors name the line and say what to change; when
// the source has several problems, the error joins them all.
//
// A path may hold template parameters, resolved per entity when a
// token's ACL is built (see [Policy.Resolve]): {{identity.entity.id}},
// {{identity.entity.name}}, {{identity.entity.metadata.KEY}},
// {{identity.entity.aliases.MOUNT_ACCESSOR.id}} (or .name,
// .metadata.KEY, .custom_metadata.KEY), {{identity.groups.ids.ID.name}}
// (or .metadata.KEY) and {{identity.groups.names.NAME.id}} (or
// .metadata.KEY). A rule listing
// "deny" keeps only CapDeny: its parameter constraints and TTLs are
// dropped, since a deny grants nothing to constrain.
//
// The name is normalized and must satisfy [ValidName]; "root" is refused.
func Parse(name, src string) (*Policy, error) {
	n := NormalizeName(name)
	if err := ValidName(n); err != nil {
		return nil, err
	}
	trimmed := strings.TrimSpace(src)
	if trimmed == "" {
		return nil, errors.New("policy is empty; write at least one path block")
	}

	var (
		f     *hcl.File
		diags hcl.Diagnostics
	)
	if trimmed[0] == '{' {
		f, diags = hcljson.Parse([]byte(src), "policy.json")
	} else {
		f, diags = hclsyntax.ParseConfig([]byte(src), "policy.hcl", hcl.InitialPos)
	}
	if diags.HasErrors() {
		return nil, diagsError(diags)
	}

	content, diags := f.Body.Content(topSchema())
	if diags.HasErrors() {
		return nil, diagsError(withHint(diags, `a policy holds only path "..." { ... } blocks`))
	}
	p := &Policy{Name: n, Raw: src}
	var errs []error
	for _, b := range content.Blocks {
		r, err := parsePathBlock(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Rules = append(p.Rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// diagsError turns HCL diagnostics into one error naming each line.
func diagsError(diags hcl.Diagnostics) error {
	var errs []error
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := lowerFirst(d.Summary)
		if d.Detail != "" {
			msg += ": " + strings.TrimSuffix(d.Detail, ".")
		}
		if d.Subject != nil {
			errs = append(errs, fmt.Errorf("line %d: %s", d.Subject.Start.Line, msg))
		} else {
			errs = append(errs, errors.New(msg))
		}
	}
	if len(errs) == 0 {
		return errors.New("invalid policy")
	}
	return errors.Join(errs...)
}

// withHint appends hint to the detail of diagnostics about unexpected
// arguments or blocks, so the error says what is expected instead.
func withHint(diags hcl.Diagnostics, hint string) hcl.Diagnostics {
	for _, d := range diags {
		if strings.HasPrefix(d.Summary, "Unsupported") || strings.HasPrefix(d.Summary, "Unexpected") {
			d.Detail = strings.TrimSuffix(d.Detail, ".") + "; " + hint
		}
	}
	return diags
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// lineError is an error at a source position.
func lineError(rng hcl.Range, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", rng.Start.Line, fmt.Sprintf(format, args...))
}

func parsePathBlock(b *hcl.Block) (Rule, error) {
	raw := b.Labels[0]
	at := b.DefRange
	if len(b.LabelRanges) > 0 {
		at = b.LabelRanges[0]
	}
	path, err := checkRulePath(raw)
	if err != nil {
		return Rule{}, lineError(at, "path %q: %v", raw, err)
	}
	content, diags := b.Body.Content(pathSchema())
	if diags.HasErrors() {
		return Rule{}, diagsError(withHint(diags, "a path block takes "+strings.Join(pathAttrs[1:], ", ")))
	}
	for _, n := range unsupportedPathAttrs {
		if a, ok := content.Attributes[n]; ok {
			return Rule{}, lineError(a.NameRange, "path %q: %s is not supported by Coffer; remove it", path, n)
		}
	}

	r := Rule{Path: path}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	attr := func(n string) *hcl.Attribute { return content.Attributes[n] }

	if a := attr("comment"); a != nil {
		if _, err := stringValue(a); err != nil {
			add(err)
		}
	}
	if a := attr("policy"); a != nil {
		c, err := oldPolicy(a, path)
		add(err)
		r.Capabilities |= c
	}
	if a := attr("capabilities"); a != nil {
		c, err := capabilityList(a, path)
		add(err)
		r.Capabilities |= c
	}
	if a := attr("allowed_parameters"); a != nil {
		m, err := parameterMap(a, path)
		add(err)
		r.AllowedParameters = m
	}
	if a := attr("denied_parameters"); a != nil {
		m, err := parameterMap(a, path)
		add(err)
		r.DeniedParameters = m
	}
	if a := attr("required_parameters"); a != nil {
		l, err := stringList(a)
		if err != nil {
			add(fmt.Errorf("path %q: %w", path, err))
		}
		r.RequiredParameters = l
	}
	if a := attr("min_wrapping_ttl"); a != nil {
		d, err := ttlValue(a, path)
		add(err)
		r.MinWrappingTTL = d
	}
	if a := attr("max_wrapping_ttl"); a != nil {
		d, err := ttlValue(a, path)
		add(err)
		r.MaxWrappingTTL = d
	}
	if len(errs) > 0 {
		return Rule{}, errors.Join(errs...)
	}
	if r.MinWrappingTTL > 0 && r.MaxWrappingTTL > 0 && r.MaxWrappingTTL < r.MinWrappingTTL {
		return Rule{}, lineError(attr("max_wrapping_ttl").NameRange,
			"path %q: max_wrapping_ttl (%s) is less than min_wrapping_ttl (%s); raise the maximum or lower the minimum",
			path, r.MaxWrappingTTL, r.MinWrappingTTL)
	}
	if r.Capabilities&CapDeny != 0 {
		// A deny grants nothing, so nothing about it can be constrained.
		r = Rule{Path: path, Capabilities: CapDeny}
	}
	return r, nil
}

// checkRulePath validates a rule path and returns it without a leading
// slash, which Vault also strips.
func checkRulePath(raw string) (string, error) {
	p := strings.TrimLeft(raw, "/")
	switch {
	case p == "":
		return "", errors.New(`path is empty; write an API path without "/v1/", such as "secret/data/app"`)
	case strings.Contains(p, "+*"):
		return "", errors.New(`"+*" is not allowed; use "+/*" for everything below one segment, or "*" alone`)
	}
	// Where a path is templated, its shape is checked with each parameter
	// standing for a plain name; resolving checks the values (see
	// [Policy.Resolve]).
	shape := p
	if strings.Contains(p, "{{") {
		segs, err := parseTemplate(p)
		if err != nil {
			return "", fmt.Errorf("invalid template: %w", err)
		}
		var b strings.Builder
		for _, s := range segs {
			if s.param != nil {
				b.WriteString("x")
			} else {
				b.WriteString(s.text)
			}
		}
		shape = b.String()
		if strings.Contains(shape, "+*") {
			return "", errors.New(`"+*" is not allowed; use "+/*" for everything below one segment, or "*" alone`)
		}
	}
	if i := strings.IndexByte(shape, '*'); i >= 0 && i != len(shape)-1 {
		return "", fmt.Errorf(`"*" is only allowed at the end of a path (found at offset %d); use "+" to match one segment in the middle`, i)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return "", fmt.Errorf("path has a control character at offset %d", i)
		}
	}
	return p, nil
}

// value evaluates an attribute with no variables or functions in scope,
// so a policy is always plain data.
func value(a *hcl.Attribute) (cty.Value, error) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, diagsError(diags)
	}
	if !v.IsWhollyKnown() {
		return cty.NilVal, lineError(a.Expr.Range(), "%s: value is not known", a.Name)
	}
	return v, nil
}

func stringValue(a *hcl.Attribute) (string, error) {
	v, err := value(a)
	if err != nil {
		return "", err
	}
	if v.IsNull() || v.Type() != cty.String {
		return "", lineError(a.Expr.Range(), "%s must be a string", a.Name)
	}
	return v.AsString(), nil
}

func stringList(a *hcl.Attribute) ([]string, error) {
	v, err := value(a)
	if err != nil {
		return nil, err
	}
	if v.IsNull() || !(v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType()) {
		return nil, lineError(a.Expr.Range(), `%s must be a list of strings, such as ["a", "b"]`, a.Name)
	}
	out := []string{}
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return nil, lineError(a.Expr.Range(), `%s must be a list of strings, such as ["a", "b"]`, a.Name)
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

func capabilityList(a *hcl.Attribute, path string) (Capability, error) {
	l, err := stringList(a)
	if err != nil {
		return 0, fmt.Errorf("path %q: %w", path, err)
	}
	var c Capability
	for _, s := range l {
		bit, err := ParseCapability(s)
		if err != nil {
			return 0, lineError(a.Expr.Range(), "path %q: %v", path, err)
		}
		c |= bit
	}
	return c, nil
}

// oldPolicy maps the pre-capabilities shorthand to capabilities, as Vault
// does.
func oldPolicy(a *hcl.Attribute, path string) (Capability, error) {
	s, err := stringValue(a)
	if err != nil {
		return 0, fmt.Errorf("path %q: %w", path, err)
	}
	switch s {
	case "deny":
		return CapDeny, nil
	case "read":
		return CapRead | CapList, nil
	case "write":
		return CapCreate | CapRead | CapUpdate | CapDelete | CapList, nil
	case "sudo":
		return CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo, nil
	}
	return 0, lineError(a.Expr.Range(), `path %q: policy %q is not one of "deny", "read", "write", "sudo"; prefer capabilities = [...]`, path, s)
}

func parameterMap(a *hcl.Attribute, path string) (map[string][]any, error) {
	v, err := value(a)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", path, err)
	}
	if v.IsNull() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
		return nil, lineError(a.Expr.Range(), `path %q: %s must be a map from parameter name to a list of values, such as { "ttl" = [] }`, path, a.Name)
	}
	out := make(map[string][]any, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		key := strings.ToLower(k.AsString())
		if _, dup := out[key]; dup {
			return nil, lineError(a.Expr.Range(), "path %q: %s names parameter %q twice (names are case-insensitive)", path, a.Name, key)
		}
		if e.IsNull() || !(e.Type().IsTupleType() || e.Type().IsListType() || e.Type().IsSetType()) {
			return nil, lineError(a.Expr.Range(), `path %q: %s: the values of %q must be a list ([] for any value)`, path, a.Name, key)
		}
		vals := []any{}
		for vi := e.ElementIterator(); vi.Next(); {
			_, ev := vi.Element()
			vals = append(vals, goValue(ev))
		}
		out[key] = vals
	}
	return out, nil
}

// goValue converts a known cty value to the types encoding/json decodes
// to, so policy values compare naturally with request parameters.
func goValue(v cty.Value) any {
	if v.IsNull() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f
	case t == cty.Bool:
		return v.True()
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, goValue(e))
		}
		return out
	case t.IsObjectType() || t.IsMapType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = goValue(e)
		}
		return out
	}
	return nil
}

func ttlValue(a *hcl.Attribute, path string) (time.Duration, error) {
	v, err := value(a)
	if err != nil {
		return 0, fmt.Errorf("path %q: %w", path, err)
	}
	bad := func(why string) error {
		return lineError(a.Expr.Range(), `path %q: %s %s; use whole seconds or a duration such as "30s", "5m", "2h", "1d"`, path, a.Name, why)
	}
	switch {
	case !v.IsNull() && v.Type() == cty.Number:
		bf := v.AsBigFloat()
		if !bf.IsInt() || bf.Sign() < 0 {
			return 0, bad("must be a whole, non-negative number of seconds")
		}
		i, acc := bf.Int64()
		if acc != big.Exact || i > int64(maxTTL/time.Second) {
			return 0, bad("is too large")
		}
		return time.Duration(i) * time.Second, nil
	case !v.IsNull() && v.Type() == cty.String:
		d, err := duration.Parse(v.AsString())
		if err != nil {
			return 0, lineError(a.Expr.Range(), "path %q: %s: %v", path, a.Name, err)
		}
		if d > maxTTL {
			return 0, bad("is too large")
		}
		return d, nil
	}
	return 0, bad("must be a number or a string")
}

// maxTTL bounds wrapping TTLs to something a time.Duration holds with room
// to spare (about 100 years).
const maxTTL = 100 * 365 * 24 * time.Hour
