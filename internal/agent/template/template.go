package template

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/template"
)

// Secret is what the secret function returns, in the shape of the API's
// response envelope, so `{{ with secret "secret/data/app" }}{{
// .Data.data.password }}{{ end }}` works as in Vault Agent.
type Secret struct {
	RequestID     string
	LeaseID       string
	LeaseDuration int
	Renewable     bool
	Data          map[string]any
	Warnings      []string
}

// PKICert is what the pkiCert function returns: .Data.Cert, .Data.Key,
// .Data.CA and .Data.CAChain.
type PKICert struct {
	Data PKIData
}

// PKIData holds an issued certificate in PEM form.
type PKIData struct {
	Cert    string
	Key     string
	CA      string
	CAChain []string
}

// Fetcher reads secrets for a render. Params are the "key=value" arguments
// of the template function, already split; an empty map means none.
// Implementations decide caching and lease handling. An error aborts the
// render; it must not hold secret values.
type Fetcher interface {
	Secret(ctx context.Context, path string, params map[string]string) (*Secret, error)
	PKICert(ctx context.Context, path string, params map[string]string) (*PKICert, error)
}

// Options change how a template is parsed and executed.
type Options struct {
	// LeftDelim and RightDelim default to "{{" and "}}".
	LeftDelim, RightDelim string
	// ErrorOnMissingKey fails a render that reads a missing map key
	// instead of printing "<no value>".
	ErrorOnMissingKey bool
	// Getenv serves the env function; nil means every variable is empty.
	Getenv func(string) string
}

// Template is a parsed template.
type Template struct {
	name string
	t    *template.Template
	opts Options
}

// Parse parses text as the template called name (a file name, used in
// errors as "name:line"). A syntax error names the template and the line.
func Parse(name, text string, opts Options) (*Template, error) {
	t := template.New(name).Delims(opts.LeftDelim, opts.RightDelim)
	if opts.ErrorOnMissingKey {
		t = t.Option("missingkey=error")
	}
	t = t.Funcs(funcs(context.Background(), nil, opts.Getenv))
	t, err := t.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse %w", err)
	}
	return &Template{name: name, t: t, opts: opts}, nil
}

// Name returns the template's name.
func (t *Template) Name() string { return t.name }

// Render executes the template, reading secrets with f. On error the
// output is nil: a partial render is never returned.
func (t *Template) Render(ctx context.Context, f Fetcher) ([]byte, error) {
	c, err := t.t.Clone()
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", t.name, err)
	}
	c.Funcs(funcs(ctx, f, t.opts.Getenv))
	var buf bytes.Buffer
	if err := c.Execute(&buf, nil); err != nil {
		return nil, fmt.Errorf("render %w", trimExecError(err))
	}
	return buf.Bytes(), nil
}

// trimExecError keeps text/template's position ("template: name:3:5:
// executing ...") but drops the quoted value of a failed comparison,
// which text/template sometimes includes; the caller's own errors carry
// no values.
func trimExecError(err error) error {
	var ee template.ExecError
	if errors.As(err, &ee) {
		return ee
	}
	return err
}

// splitParams turns "key=value" arguments into a map.
func splitParams(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			// The argument is not echoed: it may be a value.
			return nil, errors.New("arguments must be key=value")
		}
		out[k] = v
	}
	return out, nil
}
