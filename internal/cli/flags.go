package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/duration"
)

// durationFlag is a flag holding a duration in Vault's forms: integer
// seconds ("3600"), a Go duration ("1h30m", "768h") or days ("7d").
type durationFlag struct {
	d   time.Duration
	set bool
}

// Set implements flag.Value.
func (f *durationFlag) Set(s string) error {
	d, err := duration.Parse(s)
	if err != nil {
		return err
	}
	f.d, f.set = d, true
	return nil
}

// String implements flag.Value.
func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

// apiValue is the flag as the API takes it ("3600s"), or "" when unset.
func (f *durationFlag) apiValue() string {
	if !f.set {
		return ""
	}
	return fmt.Sprintf("%ds", int64(f.d/time.Second))
}

// mapFlag is a repeatable KEY=VALUE flag.
type mapFlag map[string]string

// Set implements flag.Value.
func (m mapFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("must be KEY=VALUE")
	}
	m[k] = v
	return nil
}

// String implements flag.Value.
func (m mapFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// intListFlag is a comma-separated list of positive integers such as the
// -versions flag; it may also be repeated.
type intListFlag []int

// Set implements flag.Value.
func (l *intListFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid version %q", part)
		}
		*l = append(*l, n)
	}
	return nil
}

// String implements flag.Value.
func (l *intListFlag) String() string {
	if l == nil {
		return ""
	}
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

// stringListFlag is a repeatable flag whose values may also be
// comma-separated, such as -policy=a,b -policy=c. Empty items are dropped.
type stringListFlag []string

// Set implements flag.Value.
func (l *stringListFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// String implements flag.Value.
func (l *stringListFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}
