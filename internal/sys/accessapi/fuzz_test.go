package accessapi

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// FuzzQueries sends arbitrary query values to the three endpoints: each
// answers, or refuses with an invalid-request or not-found error; none
// panics.
func FuzzQueries(f *testing.F) {
	for _, s := range []string{"secret/data/payments/db", "auth/approle/role/payments-api", "payments, default", "/", "", "+/*", "{{x}}", "auth/approle/", "99999999999999999999", "read"} {
		f.Add(s, s, "read")
	}
	core := testSetup(f)
	b := &framework.Backend{Paths: New(Options{Core: core, Clock: fixedClock{}}).Paths()}
	f.Fuzz(func(t *testing.T, a, c, capability string) {
		for _, q := range []struct {
			path string
			q    url.Values
		}{
			{"access/who", url.Values{"path": {a}, "capability": {capability}, "token_limit": {c}}},
			{"access/what", url.Values{"role": {a}, "limit": {c}}},
			{"access/what", url.Values{"policy": {a}}},
			{"access/what", url.Values{"accessor": {a}, "entity_id": {c}}},
			{"access/report", url.Values{"unread_days": {a}, "max_principals": {c}}},
		} {
			_, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: q.path, Query: q.q})
			if err != nil && !errors.Is(err, logical.ErrInvalidRequest) && !errors.Is(err, logical.ErrNotFound) {
				t.Fatalf("%s?%s: %v", q.path, q.q.Encode(), err)
			}
		}
	})
}

// FuzzCouldMatch checks couldMatch against a resolution: a templated rule
// resolved with a value free of "/" must match what it could match, and
// a rule without templates, "+" or "*" matches exactly itself.
func FuzzCouldMatch(f *testing.F) {
	f.Add("secret/data/{{identity.entity.name}}/*", "alice", "db")
	f.Add("kv/+/team-{{identity.groups.names.ops.id}}", "x1", "")
	f.Add("a.b/{{x}}", "v", "w")
	f.Fuzz(func(t *testing.T, rule, value, rest string) {
		if value == "" || strings.ContainsAny(value, "/{}") || strings.ContainsAny(rest, "{}") {
			return
		}
		if !strings.Contains(rule, "{{") && !strings.ContainsAny(rule, "+*") {
			if got, want := couldMatch(rule, strings.TrimLeft(rule, "/")), true; got != want {
				t.Fatalf("couldMatch(%q, itself) = %v", rule, got)
			}
			return
		}
		// Resolve every template with value; "+" segments with value; a
		// trailing "*" with rest.
		resolved := rule
		for {
			i := strings.Index(resolved, "{{")
			if i < 0 {
				break
			}
			j := strings.Index(resolved[i:], "}}")
			if j < 0 {
				return // unclosed: not a template
			}
			resolved = resolved[:i] + value + resolved[i+j+2:]
		}
		segs := strings.Split(strings.TrimSuffix(strings.TrimLeft(resolved, "/"), "*"), "/")
		for i, s := range segs {
			if s == "+" {
				segs[i] = value
			}
		}
		path := strings.Join(segs, "/")
		if strings.HasSuffix(resolved, "*") {
			path += rest
		}
		if strings.ContainsAny(path, "+*") {
			return // a literal "+" or "*" elsewhere: not a resolution
		}
		if !couldMatch(rule, path) {
			t.Fatalf("couldMatch(%q, %q) = false, but %q resolves to it", rule, path, value)
		}
	})
}
