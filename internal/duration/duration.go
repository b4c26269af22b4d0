// Package duration parses lengths of time in the forms Vault accepts
// everywhere: in API bodies, on the command line, in policies and in the
// server's and the agent's configuration files. It is the one parser for
// them all, so a form that works in one place works in every other.
//
// It imports only the standard library, so any package may use it.
package duration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Forms describes the accepted forms, for error messages that tell the user
// what to write instead.
const Forms = `whole seconds or a duration such as "30s", "5m", "1h30m" or "7d"`

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// maxDays is the largest whole number of days a time.Duration holds.
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// Parse parses a non-negative duration in one of Vault's forms:
//
//   - a string of decimal digits, meaning whole seconds ("300");
//   - a Go duration ("30s", "5m", "1h30m", "1.5h", "250ms");
//   - a whole number of days ("7d").
//
// Surrounding spaces are ignored. An empty string, a negative duration,
// anything else, and a value a [time.Duration] cannot hold are errors that
// quote the input and say what to write instead. Callers for which an empty
// value means zero (API bodies) check for it before calling.
func Parse(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return 0, fmt.Errorf("empty duration: want %s", Forms)
	case strings.HasPrefix(t, "-"):
		return 0, fmt.Errorf("duration %q must not be negative", s)
	case isDigits(t):
		return count(s, t, time.Second, maxSeconds)
	}
	if days, ok := strings.CutSuffix(t, "d"); ok && isDigits(days) {
		return count(s, days, 24*time.Hour, maxDays)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want %s", s, Forms)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return d, nil
}

// Seconds converts a whole number of seconds, as a configuration file or a
// JSON body gives it as a number, to a duration. A negative number or one a
// [time.Duration] cannot hold is an error.
func Seconds(n int64) (time.Duration, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("duration %d must not be negative", n)
	case n > maxSeconds:
		return 0, fmt.Errorf("duration of %d seconds is out of range", n)
	}
	return time.Duration(n) * time.Second, nil
}

// count multiplies the decimal digits in digits by unit, refusing more than
// limit units. in is the caller's input, for the message.
func count(in, digits string, unit time.Duration, limit int64) (time.Duration, error) {
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("invalid duration %q: want %s", in, Forms)
	}
	if err != nil || n > limit {
		return 0, fmt.Errorf("duration %q is out of range", in)
	}
	return time.Duration(n) * unit, nil
}

// isDigits reports whether s is one or more ASCII decimal digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
