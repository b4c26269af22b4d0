package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/incident"
)

func FuzzInputs(f *testing.F) {
	for _, s := range []string{"2026-01-02T15:04:05Z", "24h", "7d", "-5m", "secret/data/pay", "/a//b/", "a/../b", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if ts, err := parseSince(s, now); err == nil && ts.IsZero() {
			t.Errorf("parseSince(%q) = zero time without an error", s)
		}
		p, err := cleanPrefix(s)
		if err != nil {
			return
		}
		if again, err := cleanPrefix(p); err != nil || again != p {
			t.Errorf("cleanPrefix(%q) = %q, which cleans to %q, %v", s, p, again, err)
		}
		l := incident.Lockdown{Prefix: p, Mode: incident.ModeDeny}
		if !l.Covers(p) || !l.Covers(p+"/x") || l.Covers(p+"x") && !strings.HasSuffix(p, "/") {
			t.Errorf("lockdown %q covers the wrong paths", p)
		}
	})
}
