package policy

import (
	"os"
	"path/filepath"
	"testing"
)

func readTestdata(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read testdata: %v", err)
	}
	return string(b)
}

// mustParse parses src as a policy named name or fails the test.
func mustParse(tb testing.TB, name, src string) *Policy {
	tb.Helper()
	p, err := Parse(name, src)
	if err != nil {
		tb.Fatalf("Parse(%q) error = %v", name, err)
	}
	return p
}
