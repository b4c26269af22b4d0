package conformance

import (
	"fmt"
	"strings"
	"testing"
)

// logFigure logs one attack's figures in the line format scripts/adversarial
// collects: "FIGURE attack=NAME peak_rss_mb=N legit_served=N", then the
// extra "key=value" pairs (no spaces) given. peakKiB is the server's peak
// resident set size in KiB; served is how many legitimate requests (or
// rounds of requests) were answered during the attack.
func logFigure(t testing.TB, attack string, peakKiB int64, served int64, extra ...string) {
	t.Helper()
	t.Logf("FIGURE attack=%s peak_rss_mb=%d legit_served=%d %s", attack, peakKiB>>10, served, strings.Join(extra, " "))
}

// kv formats one extra figure for logFigure.
func kv(key string, value any) string { return fmt.Sprintf("%s=%v", key, value) }
