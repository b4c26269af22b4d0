package framework

import (
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Help implements [logical.Helper] from the path table: for path, the
// synopsis, the parameters taken from the path and the operations of the
// first row that matches it; for "", every row.
func (b *Backend) Help(path string) (*logical.Help, error) {
	if err := b.Compile(); err != nil {
		return nil, err
	}
	if path == "" {
		return b.rootHelp(), nil
	}
	for i, re := range b.compiled {
		if re.MatchString(path) {
			hp := helpPath(b.Paths[i], re.SubexpNames())
			return &logical.Help{Text: pathHelpText(path, re.String(), hp), Paths: []logical.HelpPath{hp}}, nil
		}
	}
	return nil, logical.UnsupportedPath(path)
}

// helpPath describes p; names are the group names of its compiled pattern.
func helpPath(p *Path, names []string) logical.HelpPath {
	hp := logical.HelpPath{Pattern: p.Pattern, Synopsis: p.Synopsis}
	for _, n := range names {
		if n != "" && !slices.Contains(hp.Captures, n) {
			hp.Captures = append(hp.Captures, n)
		}
	}
	for op := range p.Operations {
		hp.Operations = append(hp.Operations, op)
	}
	if p.Operations[logical.UpdateOperation] != nil && p.Operations[logical.CreateOperation] == nil {
		hp.Operations = append(hp.Operations, logical.CreateOperation)
	}
	slices.Sort(hp.Operations)
	return hp
}

func pathHelpText(path, route string, hp logical.HelpPath) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Request:        %s\nMatching Route: %s\n\n", path, route)
	if hp.Synopsis != "" {
		sb.WriteString(hp.Synopsis + "\n\n")
	}
	if len(hp.Captures) > 0 {
		sb.WriteString("## PARAMETERS\n\n")
		for _, c := range hp.Captures {
			fmt.Fprintf(&sb, "    %s (string)\n        Taken from the request path.\n\n", c)
		}
	}
	sb.WriteString("## OPERATIONS\n\n    ")
	ops := make([]string, len(hp.Operations))
	for i, op := range hp.Operations {
		ops[i] = string(op)
	}
	sb.WriteString(strings.Join(ops, ", ") + "\n")
	return sb.String()
}

func (b *Backend) rootHelp() *logical.Help {
	h := &logical.Help{}
	var sb strings.Builder
	sb.WriteString("## PATHS\n\nThis backend serves the paths below, relative to its mount; ask for\nhelp on a path that matches one of them to learn more. A token may be\nrefused some of them by its policies.\n\n")
	for i, p := range b.Paths {
		hp := helpPath(p, b.compiled[i].SubexpNames())
		h.Paths = append(h.Paths, hp)
		fmt.Fprintf(&sb, "    %s\n", b.compiled[i].String())
		if hp.Synopsis != "" {
			fmt.Fprintf(&sb, "        %s\n", hp.Synopsis)
		}
		sb.WriteString("\n")
	}
	h.Text = sb.String()
	return h
}
