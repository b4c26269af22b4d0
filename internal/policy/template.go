package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Identity is what a templated rule path is resolved against: the entity
// of the token whose ACL is built. Groups are every group the entity
// belongs to, directly or through nested groups, as Vault counts them.
// A nil *Identity resolves nothing.
type Identity struct {
	EntityID   string
	EntityName string
	Metadata   map[string]string
	Aliases    []IdentityAlias
	Groups     []IdentityGroup
}

// IdentityAlias is one alias of an [Identity]'s entity.
type IdentityAlias struct {
	MountAccessor  string
	ID             string
	Name           string
	Metadata       map[string]string
	CustomMetadata map[string]string
}

// IdentityGroup is one group of an [Identity]'s entity.
type IdentityGroup struct {
	ID       string
	Name     string
	Metadata map[string]string
}

// Templated reports whether the rule's path holds a {{parameter}}; such a
// rule grants nothing until resolved (see [Policy.Resolve]).
func (r *Rule) Templated() bool { return strings.Contains(r.Path, "{{") }

// Templated reports whether some rule of p is templated.
func (p *Policy) Templated() bool {
	if p == nil {
		return false
	}
	for i := range p.Rules {
		if p.Rules[i].Templated() {
			return true
		}
	}
	return false
}

// Resolve returns p with every templated rule path resolved for id, or p
// itself when it has no templated rule. A rule whose path cannot be
// resolved is left out, as Vault leaves it out: id is nil, or it lacks
// the parameter (no such alias, group or metadata key). So is a rule
// whose value could widen the path, which Vault would substitute
// verbatim: a value that is empty, holds "/", "*", "{{", "}}" or a control
// character, or that makes a path segment "+", "." or "..", unless the
// rule denies: leaving out a deny would widen the policy's grants, so a
// deny rule whose values are all present but one is unsafe denies, fail
// closed, everything under the path's text before its first parameter.
// Other rules are shared with p, not copied; the result must not be
// modified.
func (p *Policy) Resolve(id *Identity) *Policy {
	if !p.Templated() {
		return p
	}
	out := &Policy{Name: p.Name, Raw: p.Raw, Rules: make([]Rule, 0, len(p.Rules))}
	for _, r := range p.Rules {
		if !r.Templated() {
			out.Rules = append(out.Rules, r)
			continue
		}
		path, ok := resolvePath(r.Path, id)
		switch {
		case ok:
			r.Path = path
		case r.Capabilities&CapDeny != 0 && paramsPresent(r.Path, id):
			r.Path = r.Path[:strings.Index(r.Path, "{{")] + "*"
		default:
			continue
		}
		out.Rules = append(out.Rules, r)
	}
	return out
}

// ResolveAll resolves every policy of pols for id (see [Policy.Resolve]),
// returning pols itself when none is templated.
func ResolveAll(pols []*Policy, id *Identity) []*Policy {
	var out []*Policy
	for i, p := range pols {
		if !p.Templated() {
			if out != nil {
				out = append(out, p)
			}
			continue
		}
		if out == nil {
			out = append(make([]*Policy, 0, len(pols)), pols[:i]...)
		}
		out = append(out, p.Resolve(id))
	}
	if out == nil {
		return pols
	}
	return out
}

// param is one parsed template parameter: what it names, and for
// aliases and groups, which one.
type param struct {
	kind paramKind
	sel  string // the mount accessor, group ID or group name
	key  string // the metadata key, for the metadata kinds
}

type paramKind int

const (
	pEntityID paramKind = iota
	pEntityName
	pEntityMetadata
	pAliasID
	pAliasName
	pAliasMetadata
	pAliasCustomMetadata
	pGroupIDName
	pGroupIDMetadata
	pGroupNameID
	pGroupNameMetadata
)

// templateParams is the list the parse error shows.
const templateParams = "identity.entity.id, identity.entity.name, identity.entity.metadata.<key>, " +
	"identity.entity.aliases.<mount accessor>.id, .name, .metadata.<key> or .custom_metadata.<key>, " +
	"identity.groups.ids.<group id>.name or .metadata.<key>, identity.groups.names.<group name>.id or .metadata.<key>"

// maxTemplateParams bounds the parameters of one path; real paths have
// one or two.
const maxTemplateParams = 16

// segment is a piece of a templated path: literal text, or a parameter.
type segment struct {
	text  string
	param *param
}

// parseTemplate splits a rule path into literal text and parameters. A
// path without "{{" is one literal (a "}}" in it stays literal, so that
// policies stored before templating keep loading). In a templated path
// every "{{" must be closed by "}}", with a known parameter between them
// (spaces around it are ignored), and a "}}" without its "{{" is an
// error, as in Vault.
func parseTemplate(path string) ([]segment, error) {
	if !strings.Contains(path, "{{") {
		return []segment{{text: path}}, nil
	}
	var out []segment
	rest := path
	n := 0
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if strings.Contains(rest, "}}") {
				return nil, errors.New(`"}}" without a matching "{{"; write a parameter as {{identity.entity.id}}`)
			}
			if rest != "" {
				out = append(out, segment{text: rest})
			}
			return out, nil
		}
		if strings.Contains(rest[:open], "}}") {
			return nil, errors.New(`"}}" without a matching "{{"; write a parameter as {{identity.entity.id}}`)
		}
		if open > 0 {
			out = append(out, segment{text: rest[:open]})
		}
		rest = rest[open+2:]
		end := strings.Index(rest, "}}")
		if end < 0 {
			return nil, errors.New(`"{{" is not closed by "}}"; write a parameter as {{identity.entity.id}}`)
		}
		inner := strings.TrimSpace(rest[:end])
		if strings.Contains(inner, "{{") {
			return nil, errors.New(`"{{" inside a parameter; parameters do not nest`)
		}
		p, err := parseParam(inner)
		if err != nil {
			return nil, err
		}
		n++
		if n > maxTemplateParams {
			return nil, fmt.Errorf("more than %d template parameters in one path", maxTemplateParams)
		}
		out = append(out, segment{param: p})
		rest = rest[end+2:]
	}
}

// parseParam parses the name between "{{" and "}}".
func parseParam(s string) (*param, error) {
	bad := func() (*param, error) {
		return nil, fmt.Errorf("unknown template parameter %q; use one of %s", truncate(s), templateParams)
	}
	if strings.ContainsAny(s, "/*{} \t\r\n") {
		return bad()
	}
	if rest, ok := strings.CutPrefix(s, "identity.entity."); ok {
		switch rest {
		case "id":
			return &param{kind: pEntityID}, nil
		case "name":
			return &param{kind: pEntityName}, nil
		}
		if key, ok := strings.CutPrefix(rest, "metadata."); ok && key != "" {
			return &param{kind: pEntityMetadata, key: key}, nil
		}
		if sub, ok := strings.CutPrefix(rest, "aliases."); ok {
			acc, field, ok := strings.Cut(sub, ".")
			if !ok || acc == "" {
				return bad()
			}
			switch field {
			case "id":
				return &param{kind: pAliasID, sel: acc}, nil
			case "name":
				return &param{kind: pAliasName, sel: acc}, nil
			}
			if key, ok := strings.CutPrefix(field, "metadata."); ok && key != "" {
				return &param{kind: pAliasMetadata, sel: acc, key: key}, nil
			}
			if key, ok := strings.CutPrefix(field, "custom_metadata."); ok && key != "" {
				return &param{kind: pAliasCustomMetadata, sel: acc, key: key}, nil
			}
		}
		return bad()
	}
	if rest, ok := strings.CutPrefix(s, "identity.groups."); ok {
		by, sub, _ := strings.Cut(rest, ".")
		sel, field, ok := strings.Cut(sub, ".")
		if !ok || sel == "" {
			return bad()
		}
		key, isMeta := strings.CutPrefix(field, "metadata.")
		isMeta = isMeta && key != ""
		switch {
		case by == "ids" && field == "name":
			return &param{kind: pGroupIDName, sel: sel}, nil
		case by == "ids" && isMeta:
			return &param{kind: pGroupIDMetadata, sel: sel, key: key}, nil
		case by == "names" && field == "id":
			return &param{kind: pGroupNameID, sel: sel}, nil
		case by == "names" && isMeta:
			return &param{kind: pGroupNameMetadata, sel: sel, key: key}, nil
		}
	}
	return bad()
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// value returns the parameter's value for id; ok is false when id lacks
// it.
func (p *param) value(id *Identity) (string, bool) {
	if id == nil {
		return "", false
	}
	lookup := func(m map[string]string) (string, bool) {
		v, ok := m[p.key]
		return v, ok
	}
	switch p.kind {
	case pEntityID:
		return id.EntityID, id.EntityID != ""
	case pEntityName:
		return id.EntityName, id.EntityName != ""
	case pEntityMetadata:
		return lookup(id.Metadata)
	case pAliasID, pAliasName, pAliasMetadata, pAliasCustomMetadata:
		for i := range id.Aliases {
			a := &id.Aliases[i]
			if a.MountAccessor != p.sel {
				continue
			}
			switch p.kind {
			case pAliasID:
				return a.ID, a.ID != ""
			case pAliasName:
				return a.Name, a.Name != ""
			case pAliasMetadata:
				return lookup(a.Metadata)
			default:
				return lookup(a.CustomMetadata)
			}
		}
	default:
		byID := p.kind == pGroupIDName || p.kind == pGroupIDMetadata
		for i := range id.Groups {
			g := &id.Groups[i]
			if (byID && g.ID != p.sel) || (!byID && g.Name != p.sel) {
				continue
			}
			switch p.kind {
			case pGroupIDName:
				return g.Name, g.Name != ""
			case pGroupNameID:
				return g.ID, g.ID != ""
			default:
				return lookup(g.Metadata)
			}
		}
	}
	return "", false
}

// safeValue reports whether a resolved value may be put in a path: it
// must not be empty, add a segment, add a glob, look like a template or
// hold a control character.
func safeValue(v string) bool {
	if v == "" || strings.ContainsAny(v, "/*") || strings.Contains(v, "{{") || strings.Contains(v, "}}") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return true
}

// paramsPresent reports whether id has a value for every parameter of
// the templated path (whatever the values are).
func paramsPresent(path string, id *Identity) bool {
	if id == nil {
		return false
	}
	segs, err := parseTemplate(path)
	if err != nil {
		return false
	}
	for _, s := range segs {
		if s.param == nil {
			continue
		}
		if _, ok := s.param.value(id); !ok {
			return false
		}
	}
	return true
}

// resolvePath resolves a templated rule path for id. ok is false when a
// parameter is missing or its value unsafe (see [Policy.Resolve]), or the
// path is not a valid template.
func resolvePath(path string, id *Identity) (string, bool) {
	if id == nil {
		return "", false
	}
	segs, err := parseTemplate(path)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	// touched marks the offsets of the result that came from a value, so
	// that the path segments holding one can be checked.
	var touched [][2]int
	for _, s := range segs {
		if s.param == nil {
			b.WriteString(s.text)
			continue
		}
		v, ok := s.param.value(id)
		if !ok || !safeValue(v) {
			return "", false
		}
		touched = append(touched, [2]int{b.Len(), b.Len() + len(v)})
		b.WriteString(v)
	}
	out := b.String()
	start := 0
	for _, seg := range strings.Split(out, "/") {
		end := start + len(seg)
		for _, t := range touched {
			if t[0] >= start && t[1] <= end {
				if s := strings.TrimSuffix(seg, "*"); s == "+" || s == "." || s == ".." {
					return "", false
				}
			}
		}
		start = end + 1
	}
	if _, err := checkRulePath(out); err != nil {
		return "", false
	}
	return out, true
}
