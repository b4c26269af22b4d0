//go:build !unix

package pki

import "time"

// processCPU is unavailable here; benchmarks then report no CPU time.
func processCPU() (time.Duration, bool) { return 0, false }
