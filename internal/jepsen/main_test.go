package jepsen

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/testbin"
)

// cofferBin is the coffer binary TestMain builds for the cluster's
// processes.
var cofferBin string

func TestMain(m *testing.M) { testbin.Main(m, &cofferBin) }
