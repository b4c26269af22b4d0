package e2e

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/testbin"
)

// cofferBin is the coffer binary TestMain builds for tests that run the
// server as a process.
var cofferBin string

func TestMain(m *testing.M) { testbin.Main(m, &cofferBin) }
