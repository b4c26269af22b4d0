package userpass

import (
	"context"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// harness drives one userpass backend through HandleRequest.
type harness struct{ *logicaltest.Harness }

// testFactory builds backends that hash with Argon2id parameters some
// hundreds of times cheaper than the production ones, so that tests spend
// their time on behaviour rather than on hashing. TestStoredHash and the
// benchmark use [Factory] and so the production parameters.
func testFactory(ctx context.Context, env logical.Env) (logical.Backend, error) {
	return newBackend(ctx, env, hashParams{Time: 1, MemoryKiB: 64, Threads: 1})
}

// newHarness builds a backend with the cheap test parameters.
func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, testFactory)
}

// newHarnessWith builds a backend with factory.
func newHarnessWith(t testing.TB, factory logical.Factory) *harness {
	t.Helper()
	return &harness{logicaltest.NewHarness(t, factory, logical.Env{})}
}

// req is one request in a test table.
type req = logicaltest.Req

const (
	opRead   = logical.ReadOperation
	opList   = logical.ListOperation
	opCreate = logical.CreateOperation
	opUpdate = logical.UpdateOperation
	opDelete = logical.DeleteOperation
)
