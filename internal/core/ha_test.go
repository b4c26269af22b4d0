package core

import (
	"context"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// TestClusterTLSUnavailable checks that a single server, or a sealed
// one, has no cluster TLS.
func TestClusterTLSUnavailable(t *testing.T) {
	t.Parallel()
	c, err := New(Options{Physical: inmem.New()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClusterServerTLS(); !errors.Is(err, ha.ErrClusterTLS) {
		t.Errorf("ClusterServerTLS() = %v, want ErrClusterTLS", err)
	}
	if _, err := c.ClusterClientTLS("127.0.0.1"); !errors.Is(err, ha.ErrClusterTLS) {
		t.Errorf("ClusterClientTLS() = %v, want ErrClusterTLS", err)
	}
	if _, err := c.ForwardTarget(context.Background()); !errors.Is(err, ha.ErrNoActive) {
		t.Errorf("ForwardTarget() = %v, want ErrNoActive", err)
	}
}
