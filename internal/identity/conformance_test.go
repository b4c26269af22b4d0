package identity

import (
	"encoding/json"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	w := func(path, body string) *logical.Request {
		return &logical.Request{Operation: opUpdate, Path: path, Body: json.RawMessage(body)}
	}
	r := func(op logical.Operation, path string) *logical.Request {
		return &logical.Request{Operation: op, Path: path}
	}
	logicaltest.Run(t, factory, logicaltest.Options{
		Writes: []*logical.Request{
			w("entity", `{"name":"alice","policies":["dev"],"metadata":{"team":"a"}}`),
			w("entity/name/bob", `{"policies":"ops"}`),
			w("group", `{"name":"admins","policies":["admin"]}`),
			w("group/name/ops", `{"policies":["ops"],"metadata":{"k":"v"}}`),
			w("lookup/entity", `{"name":"alice"}`),
			w("lookup/group", `{"name":"admins"}`),
		},
		Reads: []*logical.Request{
			r(opRead, "entity/name/alice"),
			r(opList, "entity/id/"),
			r(opList, "entity/name"),
			r(opList, "entity-alias/id"),
			r(opRead, "group/name/admins"),
			r(opList, "group/id"),
			r(opList, "group/name/"),
		},
		UnknownPaths: []string{"entity/merge", "group-alias/name/x", "oidc/token/x", "unknown"},
	})
}
