package accessapi

import (
	"context"
	"errors"
	"net/url"
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
