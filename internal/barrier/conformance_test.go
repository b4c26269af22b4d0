package barrier

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/storagetest"
)

// TestConformance runs the storage conformance suite on an unsealed
// barrier: to the layers above it, it is a storage.Storage like any other.
func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		b, _, _ := newUnsealed(t, Options{})
		return b
	})
}
