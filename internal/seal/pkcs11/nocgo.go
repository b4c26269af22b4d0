//go:build !cgo

package pkcs11

import (
	"context"
	"errors"

	"github.com/coffer-secrets/coffer/internal/seal"
)

// New reports that this binary cannot drive a PKCS#11 library: loading
// one needs cgo, and the binary was built with CGO_ENABLED=0.
func New(ctx context.Context, opts Options) (seal.Wrapper, error) {
	if _, err := opts.validate(); err != nil {
		return nil, err
	}
	return nil, errors.New("pkcs11 seal: this coffer binary was built without cgo (CGO_ENABLED=0), which loading a PKCS#11 library needs; build it with CGO_ENABLED=1")
}
