package database

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/coffer-secrets/coffer/internal/uuid"
)

// Default username templates per plugin family. They follow the shape of
// Vault's: a "v-" prefix, the caller's display name and the role name
// (both shortened), random characters, and for PostgreSQL the Unix time,
// cut to the database's limit on user names.
const (
	defaultPostgresUsernameTemplate = `{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}`
	defaultMySQLUsernameTemplate    = `{{ printf "v-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) (random 20) | truncate 32 }}`
	defaultMySQLLegacyTemplate      = `{{ printf "v-%s-%s" (.RoleName | truncate 4) (random 9) | truncate 16 }}`
)

// maxTemplateBytes bounds a username template's source.
const maxTemplateBytes = 4096

// maxRandom bounds the argument of the template's random function.
const maxRandom = 128

// usernameData is what a username template sees.
type usernameData struct {
	// DisplayName is the caller's token display name, with characters a
	// user name may not hold replaced by "_" ("token" when it is empty).
	DisplayName string
	// RoleName is the role the credential is for.
	RoleName string
}

// templateDisplayName makes a token display name safe for user names.
func templateDisplayName(name string) string {
	if name == "" {
		return "token"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			return r
		}
		return '_'
	}, name)
}

// usernameTemplate is a parsed username template with its clock.
type usernameTemplate struct {
	tmpl *template.Template
}

var errTemplate = errors.New("username template")

// parseUsernameTemplate parses src, a Go text/template with the functions
// random N, unix_time, unix_time_millis, truncate N, truncate_sha256 N,
// uppercase, lowercase, replace OLD NEW and uuid. now gives the time for
// unix_time. The error never includes the output of a template.
func parseUsernameTemplate(src string, now func() time.Time) (*usernameTemplate, error) {
	if len(src) > maxTemplateBytes {
		return nil, fmt.Errorf("%w is %d bytes; the limit is %d", errTemplate, len(src), maxTemplateBytes)
	}
	funcs := template.FuncMap{
		"random":           randomString,
		"unix_time":        func() string { return strconv.FormatInt(now().Unix(), 10) },
		"unix_time_millis": func() string { return strconv.FormatInt(now().UnixMilli(), 10) },
		"truncate":         truncate,
		"truncate_sha256":  truncateSHA256,
		"uppercase":        strings.ToUpper,
		"lowercase":        strings.ToLower,
		"replace":          func(old, repl, s string) string { return strings.ReplaceAll(s, old, repl) },
		"uuid":             func() string { return uuid.New() },
	}
	t, err := template.New("username").Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTemplate, err)
	}
	if len(t.Templates()) != 1 {
		return nil, fmt.Errorf("%w: define and block are not allowed", errTemplate)
	}
	if err := checkNodes(t.Tree.Root); err != nil {
		return nil, fmt.Errorf("%w: %w", errTemplate, err)
	}
	return &usernameTemplate{tmpl: t}, nil
}

// checkNodes refuses loops and template calls, so that running a template
// takes time proportional to its size.
func checkNodes(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNodes(c); err != nil {
				return err
			}
		}
	case *parse.RangeNode:
		return errors.New("range is not allowed")
	case *parse.TemplateNode:
		return errors.New("template calls are not allowed")
	case *parse.IfNode:
		if err := checkNodes(n.List); err != nil {
			return err
		}
		return checkNodes(n.ElseList)
	case *parse.WithNode:
		if err := checkNodes(n.List); err != nil {
			return err
		}
		return checkNodes(n.ElseList)
	}
	return nil
}

// generate runs the template for the caller's display name and role and checks the result: it must be
// non-empty, at most maxLen bytes and made only of letters, digits and
// "_", "-", "." so that statements can quote it safely.
func (u *usernameTemplate) generate(display, role string, maxLen int) (string, error) {
	var b strings.Builder
	if err := u.tmpl.Execute(&b, usernameData{DisplayName: templateDisplayName(display), RoleName: role}); err != nil {
		return "", fmt.Errorf("%w: %w", errTemplate, err)
	}
	name := strings.TrimSpace(b.String())
	if err := checkUsername(name, maxLen); err != nil {
		return "", fmt.Errorf("%w: %w", errTemplate, err)
	}
	return name, nil
}

// checkUsername checks a database user name for length and characters.
func checkUsername(name string, maxLen int) error {
	switch {
	case name == "":
		return errors.New("user name is empty")
	case len(name) > maxLen:
		return fmt.Errorf("user name is %d bytes; the database allows %d", len(name), maxLen)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("user name has the character %q; use letters, digits, \"_\", \"-\" and \".\"", c)
		}
	}
	return nil
}

const alphanumeric = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomString returns n characters drawn uniformly from letters and
// digits (rejection sampling over bytes: 62*4 = 248 values are used).
func randomString(n int) (string, error) {
	if n < 0 || n > maxRandom {
		return "", fmt.Errorf("random %d: want 0 to %d", n, maxRandom)
	}
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, alphanumeric[b%62])
			}
		}
	}
	return string(out), nil
}

// truncate keeps the first n bytes of s (n >= 0). Template pipelines pass
// the string last.
func truncate(n int, s string) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("truncate %d: want a non-negative length", n)
	}
	if len(s) <= n {
		return s, nil
	}
	return s[:n], nil
}

// truncateSHA256 shortens s to n bytes by replacing its tail with a hash
// of the whole, so that distinct long strings stay distinct.
func truncateSHA256(n int, s string) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("truncate_sha256 %d: want a non-negative length", n)
	}
	if len(s) <= n {
		return s, nil
	}
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:])
	if n <= 8 {
		return h[:n], nil
	}
	return s[:n-8] + h[:8], nil
}
