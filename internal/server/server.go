// Package server is Coffer's composition root: it reads the configuration,
// builds storage, the barrier, the seal and the core, opens listeners and
// runs until told to stop. It alone imports every other package.
package server

import (
	"context"
	"fmt"
	"io"
)

// Main runs `coffer server` with args (the words after "server") and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fmt.Fprintln(stderr, "coffer server: not built yet")
	return 1
}
