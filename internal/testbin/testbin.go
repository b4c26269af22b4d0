// Package testbin builds the coffer binary for the tests that run it as a
// process (conformance, e2e, server): once per test binary, into a
// temporary directory removed when the tests end.
//
// It is for tests only; production code must not import it.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Coffer is the import path of the coffer command.
const Coffer = "github.com/coffer-secrets/coffer/cmd/coffer"

// Main builds the coffer command, stores the binary's path in *bin, runs
// m and exits with its code, removing the binary first. Call it from
// TestMain:
//
//	func TestMain(m *testing.M) { testbin.Main(m, &cofferBin) }
//
// When the build fails it prints the compiler's output and exits with
// status 1 without running any test.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "coffer-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *bin, err = build(dir, Coffer); err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build runs go build for the main package pkg into dir and returns the
// binary's path. The error holds the compiler's output.
func build(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}
